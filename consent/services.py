"""Writes of the consent domain: contacts, consent events, suppression, audit.

Every consent change goes through ``consent_record`` so the ledger, the current state and the
suppression list change together in one transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from consent.models import (
    SELF_SERVICE_SOURCES,
    AuditEntry,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentState,
    ConsentStatus,
    Contact,
    LedgerHead,
    Purpose,
    Suppression,
    Tag,
)
from consent.phones import phone_country, phone_normalize, phone_time_zone, phone_to_wa_id

logger = logging.getLogger(__name__)


class ConsentRefused(ValueError):
    """A consent change the rules do not allow; the message says why."""


@dataclass(frozen=True)
class Actor:
    """Who caused a change: a staff user, an API token's user, or the system (webhook, import)."""

    user: AbstractBaseUser | None = None
    label: str = ""
    ip_address: str | None = None

    @property
    def display(self) -> str:
        return self.label or (self.user.get_username() if self.user else "system")


SYSTEM = Actor(label="system")


@dataclass(frozen=True)
class Evidence:
    """What proves a consent change: the notice shown, where, and from which device."""

    notice_text: str = ""
    notice_version: str = ""
    page_url: str = ""
    ip_address: str | None = None
    user_agent: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def audit_record(
    *, actor: Actor, action: str, object_type: str = "", object_id: Any = "", details: dict[str, Any] | None = None
) -> AuditEntry:
    return AuditEntry.objects.create(
        actor=actor.user if actor.user and actor.user.pk else None,
        actor_label=actor.display,
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        ip_address=actor.ip_address,
        details=details or {},
    )


def suppression_hash(e164: str) -> str:
    """Keyed hash of a number: lets us recognise a suppressed number without storing it."""
    return hmac.new(settings.SUPPRESSION_HASH_KEY.encode(), e164.encode(), hashlib.sha256).hexdigest()


def purpose_get(code: str) -> Purpose:
    if code == Purpose.MARKETING:
        # Built in: seeded by a migration, recreated if a flush (e.g. a transactional test) removed it.
        return Purpose.objects.get_or_create(code=code, defaults={"name": "Marketing"})[0]
    try:
        return Purpose.objects.get(code=code)
    except Purpose.DoesNotExist:
        known = ", ".join(Purpose.objects.values_list("code", flat=True))
        raise ConsentRefused(f"Unknown purpose {code!r}; known purposes: {known}.") from None


@transaction.atomic
def contact_upsert(
    *,
    phone: str,
    name: str | None = None,
    language: str | None = None,
    time_zone: str | None = None,
    attributes: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    wa_id: str | None = None,
) -> tuple[Contact, bool]:
    """Create or update the contact for ``phone`` (any format). Attributes are merged, tags added.

    Raises InvalidPhoneNumber with the reason when the number cannot be read.
    """
    e164 = phone_normalize(phone)
    contact, created = Contact.objects.select_for_update().get_or_create(
        phone=e164,
        defaults={
            "phone_hash": suppression_hash(e164),
            "wa_id": wa_id or phone_to_wa_id(e164),
            "country": phone_country(e164),
            "time_zone": time_zone or phone_time_zone(e164),
            "name": name or "",
            "language": language or "",
            "attributes": attributes or {},
        },
    )
    if not created:
        changed = []
        for attr, value in (("name", name), ("language", language), ("time_zone", time_zone), ("wa_id", wa_id)):
            if value is not None and value != "" and getattr(contact, attr) != value:
                setattr(contact, attr, value)
                changed.append(attr)
        if attributes:
            merged = {**contact.attributes, **attributes}
            if merged != contact.attributes:
                contact.attributes = merged
                changed.append("attributes")
        if changed:
            contact.save(update_fields=[*changed, "updated_at"])
    if tags:
        contact_tags_add(contact=contact, tags=tags)
    return contact, created


def contact_tags_add(*, contact: Contact, tags: list[str]) -> None:
    names = sorted({t.strip().lower() for t in tags if t and t.strip()})
    if not names:
        return
    Tag.objects.bulk_create([Tag(name=n) for n in names], ignore_conflicts=True)
    contact.tags.add(*Tag.objects.filter(name__in=names))


def number_is_suppressed(e164: str) -> bool:
    return Suppression.objects.filter(number_hash=suppression_hash(e164), lifted_at__isnull=True).exists()


def _suppress(e164: str, *, source: str) -> None:
    number_hash = suppression_hash(e164)
    updated = Suppression.objects.filter(number_hash=number_hash).update(lifted_at=None, source=source)
    if not updated:
        Suppression.objects.get_or_create(number_hash=number_hash, defaults={"source": source})


@transaction.atomic
def consent_record(
    *,
    contact: Contact,
    action: str,
    source: str,
    purpose: str = Purpose.MARKETING,
    evidence: Evidence | None = None,
    occurred_at: datetime | None = None,
    actor: Actor = SYSTEM,
) -> ConsentEvent:
    """Append one consent event and bring the contact's current state and suppression in line.

    Refuses an opt-in that has no notice text (no proof of what the person agreed to) and an opt-in
    of a suppressed number unless the person gave it themselves.
    """
    evidence = evidence or Evidence()
    now = timezone.now()
    occurred_at = occurred_at or now
    if action not in ConsentAction.values:
        raise ConsentRefused(f"Unknown action {action!r}; use opt_in or opt_out.")
    if source not in ConsentSource.values:
        raise ConsentRefused(f"Unknown source {source!r}; use one of: {', '.join(ConsentSource.values)}.")
    if occurred_at > now + timezone.timedelta(minutes=5):
        raise ConsentRefused("occurred_at lies in the future.")
    if contact.erased_at:
        raise ConsentRefused("This contact was erased; record consent for the number as a new contact.")
    purpose_obj = purpose_get(purpose)

    if action == ConsentAction.OPT_IN:
        if not evidence.notice_text.strip():
            raise ConsentRefused(
                "An opt-in needs evidence of what the person was told: give the exact notice text they agreed to."
            )
        if number_is_suppressed(contact.phone) and source not in SELF_SERVICE_SOURCES:
            raise ConsentRefused(
                "This number opted out earlier. Only the person can opt in again (WhatsApp START reply or the opt-in page)."
            )

    head, _ = LedgerHead.objects.select_for_update().get_or_create(pk=1)
    # Lock the state row so a concurrent send-time check sees either the old or the new state, never a mix.
    state = ConsentState.objects.select_for_update().filter(contact=contact, purpose=purpose_obj).first()

    event = ConsentEvent(
        contact=contact,
        purpose=purpose_obj,
        action=action,
        source=source,
        occurred_at=occurred_at,
        recorded_at=now,
        recorded_by=actor.user if actor.user and actor.user.pk else None,
        recorded_via=actor.display[:40],
        notice_text=evidence.notice_text,
        notice_version=evidence.notice_version,
        page_url=evidence.page_url,
        ip_address=evidence.ip_address or None,
        user_agent=evidence.user_agent[:500],
        note=evidence.note,
        previous_hash=head.last_hash,
    )
    event.personal_digest = event.compute_personal_digest()
    event.entry_hash = event.compute_hash()
    event.save()
    head.last_hash = event.entry_hash
    head.save(update_fields=["last_hash"])

    # An older event arriving late (e.g. an import of last year's opt-in) never overrides a newer one.
    is_newest = state is None or occurred_at >= state.since
    new_status = ConsentStatus.OPTED_IN if action == ConsentAction.OPT_IN else ConsentStatus.OPTED_OUT
    if is_newest:
        if state is None:
            ConsentState.objects.create(contact=contact, purpose=purpose_obj, status=new_status, since=occurred_at, last_event=event)
        else:
            state.status, state.since, state.last_event = new_status, occurred_at, event
            state.save(update_fields=["status", "since", "last_event"])

    if action == ConsentAction.OPT_OUT and purpose_obj.code == Purpose.MARKETING:
        _suppress(contact.phone, source=source)
    elif action == ConsentAction.OPT_IN and is_newest and source in SELF_SERVICE_SOURCES:
        Suppression.objects.filter(number_hash=suppression_hash(contact.phone), lifted_at__isnull=True).update(lifted_at=now)

    audit_record(
        actor=actor,
        action=f"consent.{action}",
        object_type="contact",
        object_id=contact.pk,
        details={"purpose": purpose_obj.code, "source": source, "event": event.pk, "applied": is_newest},
    )
    logger.info("consent %s for contact %s via %s", action, contact.pk, source)
    return event


def consent_grant(*, contact: Contact, source: str, evidence: Evidence, **kwargs: Any) -> ConsentEvent:
    return consent_record(contact=contact, action=ConsentAction.OPT_IN, source=source, evidence=evidence, **kwargs)


def consent_revoke(*, contact: Contact, source: str, evidence: Evidence | None = None, **kwargs: Any) -> ConsentEvent:
    return consent_record(contact=contact, action=ConsentAction.OPT_OUT, source=source, evidence=evidence, **kwargs)
