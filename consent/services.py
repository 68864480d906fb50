"""Writes of the consent domain: contacts, consent events, suppression, audit.

Every consent change goes through ``consent_record_many`` (``consent_record`` is its one-event
form) so the ledger, the current state and the suppression list change together in one transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address

from consent.models import (
    SELF_SERVICE_SOURCES,
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
from consent.phones import InvalidPhoneNumber, phone_country, phone_normalize, phone_time_zone, phone_to_wa_id
from consent.selectors import contact_consent_status, contact_find_by_bsuid, contact_find_by_wa_id
from core.audit import PLATFORM_ACTOR, SYSTEM, Actor, audit_append_locked, audit_entry, audit_head_lock, audit_record
from core.logging import mask_phone
from core.models import AuditEntry, AuditHead

logger = logging.getLogger(__name__)

SUPPRESSED_NUMBER_MESSAGE = (
    "This number opted out earlier. Only the person can opt in again (WhatsApp START reply or the opt-in page)."
)


class ConsentRefused(ValueError):
    """A consent change the rules do not allow; the message says why.

    ``field`` names the input at fault (``phone``, ``source``, ``evidence.notice_text``...) so an
    interface can show the message next to it; it is empty when no single input is to blame.
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


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


@dataclass(frozen=True)
class ConsentChange:
    """One opt-in or opt-out to append to the ledger (see ``consent_record_many``)."""

    contact: Contact
    action: str
    source: str
    purpose: str = Purpose.MARKETING
    evidence: Evidence = field(default_factory=Evidence)
    occurred_at: datetime | None = None


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
        raise _unknown_purpose(code) from None


def _unknown_purpose(code: str) -> ConsentRefused:
    known = ", ".join(Purpose.objects.values_list("code", flat=True))
    return ConsentRefused(f"Unknown purpose {code!r}; known purposes: {known}.", field="purpose")


def contact_phone_fields(e164: str, *, time_zone: str | None = None, wa_id: str | None = None) -> dict[str, str]:
    """The fields of a new contact that follow from its number (hash, WhatsApp id, country, time zone)."""
    return {
        "phone_hash": suppression_hash(e164),
        "wa_id": wa_id or phone_to_wa_id(e164),
        "country": phone_country(e164),
        "time_zone": time_zone or phone_time_zone(e164),
    }


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
            **contact_phone_fields(e164, time_zone=time_zone, wa_id=wa_id),
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


def contact_identifier_hashes(contact: Contact) -> set[str]:
    """The suppression hashes of every identifier we hold for the person: number and BSUID."""
    hashes = {contact.phone_hash or (suppression_hash(contact.phone) if contact.phone else ""), contact.bsuid_hash}
    return {h for h in hashes if h}


def contact_is_suppressed(contact: Contact) -> bool:
    """Whether any identifier of the person (number or BSUID) is on the active suppression list."""
    hashes = contact_identifier_hashes(contact)
    return bool(hashes) and Suppression.objects.filter(number_hash__in=hashes, lifted_at__isnull=True).exists()


def _ip_normalize(raw: str | None) -> str | None:
    """The address as the database gives it back, so the evidence digest survives a reload."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ConsentRefused(f"{raw!r} is not an IP address.", field="evidence.ip_address") from None
    return clean_ipv6_address(text) if ":" in text else text


def _occurred_at_normalize(value: datetime | None, *, now: datetime) -> datetime:
    """UTC, because the hash covers ``isoformat()`` and the database returns UTC."""
    if value is None:
        return now
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    value = value.astimezone(UTC)
    if value > now + timedelta(minutes=5):
        raise ConsentRefused("occurred_at lies in the future.", field="occurred_at")
    return value


def _consent_change_check(change: ConsentChange, *, now: datetime, purposes: dict[str, Purpose]) -> tuple[datetime, str | None]:
    """The checks that need no lock. Returns the normalised ``occurred_at`` and evidence IP."""
    if change.action not in ConsentAction.values:
        raise ConsentRefused(f"Unknown action {change.action!r}; use opt_in or opt_out.", field="action")
    if change.source not in ConsentSource.values:
        raise ConsentRefused(
            f"Unknown source {change.source!r}; use one of: {', '.join(ConsentSource.values)}.", field="source"
        )
    occurred_at = _occurred_at_normalize(change.occurred_at, now=now)
    if change.contact.erased_at or not (change.contact.phone or change.contact.bsuid):
        raise ConsentRefused("This contact was erased; record consent for the number as a new contact.", field="phone")
    if change.purpose not in purposes:
        raise _unknown_purpose(change.purpose)
    if change.action == ConsentAction.OPT_IN and not change.evidence.notice_text.strip():
        raise ConsentRefused(
            "An opt-in needs evidence of what the person was told: give the exact notice text they agreed to.",
            field="evidence.notice_text",
        )
    return occurred_at, _ip_normalize(change.evidence.ip_address)


def consent_states_lock(contact_ids: Iterable[int], *, purpose_ids: Iterable[int] | None = None) -> list[ConsentState]:
    """Lock the people's consent states until the transaction ends, in contact order.

    The lock order of every transaction that changes consent: these rows first (the marketing ones
    are what a sending batch holds, see campaigns.sending.locks), then the audit log's head, then the
    ledger's. A transaction that audits before it changes someone's consent takes this first, so it
    never waits for a batch while holding the chains every other opt-out needs.
    """
    states = ConsentState.objects.select_for_update().filter(contact_id__in=set(contact_ids))
    if purpose_ids is not None:
        states = states.filter(purpose_id__in=set(purpose_ids))
    return list(states.order_by("contact_id", "purpose_id"))


# No savepoint inside a caller's transaction: its release would be one more round trip under the
# chains' locks, and no caller recovers from a failure here short of its own savepoint or rollback.
@transaction.atomic(savepoint=False)
def consent_record_many(
    *, changes: Sequence[ConsentChange], actor: Actor = SYSTEM, can_lift_suppression: bool = True
) -> list[ConsentEvent | ConsentRefused]:
    """Append consent events in order and bring current states and suppressions in line.

    Each change is judged on its own: the result list holds, in the order given, either the
    recorded event or the ConsentRefused saying why that change was not recorded. Refused are an
    opt-in without notice text (no proof of what the person agreed to) and an opt-in of a
    suppressed number unless the person gave it themselves; ``can_lift_suppression=False`` (imports,
    the API) refuses the latter whatever source the caller claims.
    """
    now = timezone.now()
    purposes = {p.code: p for p in Purpose.objects.filter(code__in={c.purpose for c in changes})}
    if Purpose.MARKETING not in purposes and any(c.purpose == Purpose.MARKETING for c in changes):
        purposes[Purpose.MARKETING] = purpose_get(Purpose.MARKETING)
    results: list[ConsentEvent | ConsentRefused | None] = [None] * len(changes)
    checked: list[tuple[int, ConsentChange, datetime, str | None]] = []
    for index, change in enumerate(changes):
        try:
            occurred_at, ip_address = _consent_change_check(change, now=now, purposes=purposes)
        except ConsentRefused as refused:
            results[index] = refused
            continue
        checked.append((index, change, occurred_at, ip_address))
    if not checked:
        return _all_decided(results)

    # The people's own locks first: a sending batch holds their marketing states until its calls have
    # returned, and a change waits for that batch alone, holding nothing anyone else needs meanwhile.
    # Locked so a concurrent send-time check sees either the old or the new state, never a mix.
    states = {
        (state.contact_id, state.purpose_id): state
        for state in consent_states_lock(
            {change.contact.pk for _, change, _, _ in checked}, purpose_ids={p.pk for p in purposes.values()}
        )
    }
    # Then the chains' locks, business-wide: every other consent change waits for them until this
    # transaction commits, so only what needs them runs after them (an inbound STOP is its
    # transaction's last write). The chains stay linear, and no opt-out can commit between the
    # suppression check below and the opt-ins that depend on it.
    audit_head, head = _chain_heads_lock()
    # Every identifier of the person (number, BSUID) is suppressed and lifted together.
    identifier_hashes = {id(change.contact): contact_identifier_hashes(change.contact) for _, change, _, _ in checked}
    suppressed: set[str] = set()
    if any(change.action == ConsentAction.OPT_IN for _, change, _, _ in checked):  # only opt-ins read it
        suppressed = set(
            Suppression.objects.filter(
                number_hash__in=set().union(*identifier_hashes.values()), lifted_at__isnull=True
            ).values_list("number_hash", flat=True)
        )
    changed_states: dict[tuple[int, int], ConsentState] = {}
    suppression_updates: dict[str, str | None] = {}  # number hash -> source to suppress with, or None to lift
    events: list[ConsentEvent] = []
    audit_entries: list[AuditEntry] = []
    last_hash = head.last_hash
    recorded_by = actor.user if actor.user and actor.user.pk else None

    for index, change, occurred_at, ip_address in checked:
        contact, purpose = change.contact, purposes[change.purpose]
        hashes = identifier_hashes[id(contact)]
        self_service = can_lift_suppression and change.source in SELF_SERVICE_SOURCES
        if change.action == ConsentAction.OPT_IN and hashes & suppressed and not self_service:
            results[index] = ConsentRefused(SUPPRESSED_NUMBER_MESSAGE, field="phone")
            continue

        evidence = change.evidence
        event = ConsentEvent(
            contact=contact,
            purpose=purpose,
            action=change.action,
            source=change.source,
            occurred_at=occurred_at,
            recorded_at=now,
            recorded_by=recorded_by,
            recorded_via=actor.display[:40],
            notice_text=evidence.notice_text,
            notice_version=evidence.notice_version,
            page_url=evidence.page_url,
            ip_address=ip_address,
            user_agent=evidence.user_agent[:500],
            note=evidence.note,
            previous_hash=last_hash,
        )
        event.personal_digest = event.compute_personal_digest()
        event.entry_hash = last_hash = event.compute_hash()
        events.append(event)
        results[index] = event

        # An older event arriving late (e.g. an import of last year's opt-in) never overrides a newer one.
        key = (contact.pk, purpose.pk)
        state = states.get(key)
        is_newest = state is None or occurred_at >= state.since
        if is_newest:
            if state is None:
                state = states[key] = ConsentState(contact=contact, purpose=purpose)
            state.status = ConsentStatus.OPTED_IN if change.action == ConsentAction.OPT_IN else ConsentStatus.OPTED_OUT
            state.since, state.last_event = occurred_at, event
            changed_states[key] = state

        if change.action == ConsentAction.OPT_OUT and purpose.code == Purpose.MARKETING:
            suppressed |= hashes
            suppression_updates.update(dict.fromkeys(hashes, change.source))
        elif change.action == ConsentAction.OPT_IN and is_newest and self_service and hashes & suppressed:
            suppressed -= hashes
            suppression_updates.update(dict.fromkeys(hashes, None))

        audit_entries.append(
            audit_entry(
                actor=actor,
                action=f"consent.{change.action}",
                object_type="contact",
                object_id=contact.pk,
                details={"purpose": purpose.code, "source": change.source, "applied": is_newest},
            )
        )

    if not events:
        return _all_decided(results)
    # One multi-row INSERT assigns ids in list order, which is the chain order the verifier walks.
    ConsentEvent.objects.bulk_create(events, batch_size=1000)
    head.last_hash = last_hash
    head.save(update_fields=["last_hash"])
    _consent_states_save(changed_states.values())
    _suppressions_apply(suppression_updates, now=now)
    for entry, event in zip(audit_entries, events, strict=True):
        entry.details["event"] = event.pk
    audit_append_locked(audit_entries, head=audit_head)

    if len(events) == 1:
        logger.info("consent %s for contact %s via %s", events[0].action, events[0].contact_id, events[0].source)
    else:
        logger.info("%d consent events recorded by %s", len(events), actor.display)
    return _all_decided(results)


def _chain_heads_lock() -> tuple[AuditHead, LedgerHead]:
    """Lock the audit log's head, then the ledger's, in one round trip; both held until the commit.

    The subqueries lock in the order they are listed (PostgreSQL evaluates them left to right), the
    order every transaction keeps (``audit_head_lock``). A head not created yet (a flushed test
    database) is created by the ORM's way, in that same order.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT (SELECT last_hash FROM {AuditHead._meta.db_table} WHERE id = 1 FOR UPDATE),"
                f" (SELECT last_hash FROM {LedgerHead._meta.db_table} WHERE id = 1 FOR UPDATE)"
            )
            audit_hash, ledger_hash = cursor.fetchone()
        if audit_hash is not None and ledger_hash is not None:
            return AuditHead(pk=1, last_hash=audit_hash), LedgerHead(pk=1, last_hash=ledger_hash)
    audit_head = audit_head_lock()
    return audit_head, LedgerHead.objects.select_for_update().get_or_create(pk=1)[0]


def _all_decided(results: list[ConsentEvent | ConsentRefused | None]) -> list[ConsentEvent | ConsentRefused]:
    decided = [result for result in results if result is not None]
    assert len(decided) == len(results), "every consent change is either recorded or refused"
    return decided


def _consent_states_save(states: Any) -> None:
    new: list[ConsentState] = []
    existing: list[ConsentState] = []
    for state in states:
        state.last_event_id = state.last_event.pk
        (existing if state.pk else new).append(state)
    ConsentState.objects.bulk_create(new, batch_size=1000)
    ConsentState.objects.bulk_update(existing, ["status", "since", "last_event"], batch_size=1000)


def _suppressions_apply(updates: dict[str, str | None], *, now: datetime) -> None:
    lift = [number_hash for number_hash, source in updates.items() if source is None]
    if lift:
        Suppression.objects.filter(number_hash__in=lift, lifted_at__isnull=True).update(lifted_at=now)
    by_source: dict[str, list[str]] = {}
    for number_hash, source in updates.items():
        if source is not None:
            by_source.setdefault(source, []).append(number_hash)
    for source, hashes in by_source.items():
        # New, lifted or active: each number ends up suppressed with this source, in one statement.
        Suppression.objects.bulk_create(
            [Suppression(number_hash=h, source=source, created_at=now, lifted_at=None) for h in hashes],
            update_conflicts=True, unique_fields=["number_hash"], update_fields=["source", "lifted_at"],
        )  # fmt: skip


def consent_record(
    *,
    contact: Contact,
    action: str,
    source: str,
    purpose: str = Purpose.MARKETING,
    evidence: Evidence | None = None,
    occurred_at: datetime | None = None,
    actor: Actor = SYSTEM,
    can_lift_suppression: bool = True,
) -> ConsentEvent:
    """Append one consent event and bring the contact's current state and suppression in line.

    Raises ConsentRefused for an opt-in that has no notice text (no proof of what the person agreed
    to) and for an opt-in of a suppressed number unless the person gave it themselves.
    """
    change = ConsentChange(
        contact=contact, action=action, source=source, purpose=purpose, evidence=evidence or Evidence(), occurred_at=occurred_at
    )
    (result,) = consent_record_many(changes=[change], actor=actor, can_lift_suppression=can_lift_suppression)
    if isinstance(result, ConsentRefused):
        raise result
    return result


def consent_grant(*, contact: Contact, source: str, evidence: Evidence, **kwargs: Any) -> ConsentEvent:
    return consent_record(contact=contact, action=ConsentAction.OPT_IN, source=source, evidence=evidence, **kwargs)


def consent_revoke(*, contact: Contact, source: str, evidence: Evidence | None = None, **kwargs: Any) -> ConsentEvent:
    return consent_record(contact=contact, action=ConsentAction.OPT_OUT, source=source, evidence=evidence, **kwargs)


@transaction.atomic
def consent_record_by_phone(*, phone: str, **kwargs: Any) -> ConsentEvent:
    """Record consent for a number pushed by an integrator, creating its contact when new.

    Takes ``consent_record``'s keywords. A relayed opt-in never lifts a suppression: only the
    person can, through our own channels. Nothing is kept (not even a new contact) when refused.
    """
    contact, _ = contact_upsert(phone=phone)
    return consent_record(contact=contact, can_lift_suppression=False, **kwargs)


IDENTITY_ACTOR = Actor(label="whatsapp webhook")


@transaction.atomic
def contact_for_whatsapp_user(
    *, wa_id: str = "", user_id: str = "", parent_user_id: str = "", username: str = "", profile_name: str = ""
) -> Contact | None:
    """The contact a webhook item is about, by number (``wa_id``), BSUID (``user_id``) or both.

    An unknown person becomes a contact without consent, known by what the item gave. An item
    carrying both identifiers links them on one contact: a number learns its BSUID, a BSUID-only
    contact learns its number, and a BSUID-only contact found beside the number's contact is merged
    into it. None only when the item names nobody we can store (no BSUID and an unreadable number).
    """
    by_phone = contact_find_by_wa_id(wa_id) if wa_id else None
    by_bsuid = contact_find_by_bsuid(user_id) if user_id else None
    if by_phone is not None and by_bsuid is not None and by_phone.pk != by_bsuid.pk:
        by_phone, by_bsuid = _contacts_merge(keep=by_phone, absorbed=by_bsuid), None
    contact = by_phone or by_bsuid
    if contact is None:
        contact = _contact_create(wa_id=wa_id, user_id=user_id, profile_name=profile_name)
        if contact is None:
            return None
    contact_identifiers_link(contact=contact, wa_id=wa_id, user_id=user_id, parent_user_id=parent_user_id, username=username)
    return contact


def _contact_create(*, wa_id: str, user_id: str, profile_name: str) -> Contact | None:
    if wa_id:
        try:
            return contact_upsert(phone=f"+{wa_id}", name=profile_name or None, wa_id=wa_id)[0]
        except InvalidPhoneNumber:
            logger.warning("inbound WhatsApp id %s is not a valid phone number", mask_phone(wa_id))
    if not user_id:
        logger.warning("webhook item without a usable number or BSUID; kept without contact")
        return None
    # Two deliveries about a new person may arrive at once: the unique BSUID decides which creates it.
    contact, _ = Contact.objects.get_or_create(
        bsuid=user_id,
        defaults={"bsuid_hash": suppression_hash(user_id), "name": profile_name, "country": user_id[:2].upper()},
    )
    return contact


def contact_identifiers_link(
    *, contact: Contact, wa_id: str = "", user_id: str = "", parent_user_id: str = "", username: str = ""
) -> Contact:
    """Store the identifiers a webhook gave for ``contact`` that it lacks (a changed BSUID replaces the old one).

    A person who opted out stays suppressed under every identifier: a newly learnt one is
    suppressed too, so the suppression outlives even an erasure of the contact.
    """
    changed: dict[str, Any] = {}
    if user_id and contact.bsuid != user_id:
        changed.update(bsuid=user_id, bsuid_hash=suppression_hash(user_id))
    if parent_user_id and contact.parent_bsuid != parent_user_id:
        changed["parent_bsuid"] = parent_user_id
    if username and contact.username != username:
        changed["username"] = username
    if wa_id and not contact.phone:
        try:
            e164 = phone_normalize(f"+{wa_id}")
        except InvalidPhoneNumber:
            e164 = ""
        if e164 and not Contact.objects.filter(phone=e164).exists():
            changed.update(phone=e164, **contact_phone_fields(e164, wa_id=wa_id))
    if not changed:
        return contact
    before = contact_identifier_hashes(contact)
    for attr, value in changed.items():
        setattr(contact, attr, value)
    contact.save(update_fields=[*changed, "updated_at"])
    hashes = contact_identifier_hashes(contact)
    suppression = Suppression.objects.filter(number_hash__in=before | hashes, lifted_at__isnull=True).first()
    if suppression is not None:  # suppressed under one identifier (old or new): under all of them
        Suppression.objects.filter(number_hash__in=hashes).update(lifted_at=None)
        Suppression.objects.bulk_create(
            [Suppression(number_hash=h, source=suppression.source) for h in hashes], ignore_conflicts=True
        )
    fields = sorted(changed.keys() - {"bsuid_hash", "phone_hash", "wa_id", "country", "time_zone"})
    audit_record(actor=IDENTITY_ACTOR, action="contact.identifiers_linked", object_type="contact", object_id=contact.pk, details={"fields": fields})
    return contact


def _contacts_merge(*, keep: Contact, absorbed: Contact) -> Contact:
    """``absorbed`` (known by BSUID) is the person whose number ``keep`` holds: ``keep`` takes over the BSUID.

    The ledger is append-only and its events name their contact, so ``absorbed`` keeps its row and
    history (marked ``merged_into``). An opt-out recorded there carries over to ``keep`` as a new
    event: the person said stop, whichever identifier they said it under.
    """
    keep, absorbed = (Contact.objects.select_for_update().get(pk=pk) for pk in (keep.pk, absorbed.pk))
    consent_states_lock([keep.pk, absorbed.pk])  # before the audit below: the order every consent change keeps
    user_id, parent_user_id, username = absorbed.bsuid or "", absorbed.parent_bsuid, absorbed.username
    absorbed_state = ConsentState.objects.filter(contact=absorbed, purpose__code=Purpose.MARKETING).first()
    Contact.objects.filter(pk=absorbed.pk).update(
        bsuid=None, merged_into=keep if not absorbed.phone else None, updated_at=timezone.now()
    )
    contact_identifiers_link(contact=keep, user_id=user_id, parent_user_id=parent_user_id, username=username)
    audit_record(actor=IDENTITY_ACTOR, action="contact.merged", object_type="contact", object_id=keep.pk, details={"absorbed": absorbed.pk})
    if absorbed_state is None or absorbed_state.status != ConsentStatus.OPTED_OUT:
        return keep
    kept_state = ConsentState.objects.filter(contact=keep, purpose__code=Purpose.MARKETING).first()
    if kept_state is not None and kept_state.since >= absorbed_state.since:
        return keep  # the contact we keep decided later (or the same) already
    consent_revoke(
        contact=keep,
        source=absorbed_state.last_event.source,
        evidence=Evidence(
            note=f"Carried over from contact #{absorbed.pk} (the same WhatsApp user, known there by BSUID), "
            f"who opted out on {absorbed_state.since.isoformat()}; event #{absorbed_state.last_event_id}."
        ),
        actor=IDENTITY_ACTOR,
    )
    return keep


@transaction.atomic
def contact_bsuid_change(*, old_user_id: str, new_user_id: str, wa_id: str = "", new_parent_user_id: str = "") -> Contact | None:
    """Meta's ``user_changed_user_id``: the person now has ``new_user_id``; their consent and suppression stay.

    The old BSUID's suppression (if any) stays too: it never comes back for anyone else.
    """
    contact = (contact_find_by_bsuid(old_user_id) if old_user_id else None) or (contact_find_by_wa_id(wa_id) if wa_id else None)
    if contact is None:
        return None
    holder = contact_find_by_bsuid(new_user_id)
    if holder is not None and holder.pk != contact.pk:
        _contacts_merge(keep=contact, absorbed=holder)
    else:
        contact_identifiers_link(contact=contact, user_id=new_user_id, parent_user_id=new_parent_user_id)
    contact.refresh_from_db()
    return contact


PLATFORM_OPTOUT_CODE = 131050


@transaction.atomic
def platform_optout_record(*, contact: Contact, occurred_at: datetime | None = None, detail: str = "") -> bool:
    """Record that the person stopped marketing messages in WhatsApp itself (error 131050).

    Called wherever a 131050 is seen: a failed-status webhook, or a send answered with it. Records
    an opt-out with source ``platform`` unless the contact is already opted out and suppressed.
    Returns True when an opt-out was recorded.
    """
    if contact_consent_status(contact) == ConsentStatus.OPTED_OUT and contact_is_suppressed(contact):
        return False
    consent_revoke(
        contact=contact,
        source=ConsentSource.PLATFORM,
        evidence=Evidence(
            note=f"WhatsApp error {PLATFORM_OPTOUT_CODE} reported {occurred_at or 'now'}: user stopped marketing messages. {detail}".strip()
        ),
        actor=PLATFORM_ACTOR,
    )
    return True
