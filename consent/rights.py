"""Data-subject rights: export everything held about a person, erase it, correct their name or number.

These reach every app that keeps something about a person (the consent ledger, campaigns, the
WhatsApp side, the admin's change history, the audit log). tests/rights/test_erasure.py scans every
text and JSON column of every table after an erasure, so a new model that keeps a number or a name
fails that test until erasure learns about it.

What the audit log keeps of a correction: which fields changed, old and new numbers masked to their
last two digits plus their keyed hashes (the suppression list's ``suppression_hash``), and keyed
fingerprints of old and new names, never a name or a whole number. So an erasure has nothing to
chase in the audit log but the current number and name, which it scrubs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from consent.models import ConsentAction, ConsentEvent, ConsentSource, ConsentState, ConsentStatus, Contact, Purpose
from consent.personal_data import ERASED, PersonTraces, personal_data_entries, rows
from consent.phones import phone_normalize
from consent.selectors import contact_consent_status
from consent.services import (
    ConsentChange,
    ConsentRefused,
    Evidence,
    consent_record_many,
    consent_states_lock,
    contact_is_suppressed,
    contact_phone_fields,
    contact_upsert,
    suppression_hash,
)
from core.append_only import erasure_scope
from core.audit import Actor, audit_record
from core.audit_chain import AUDIT_SCRUBBED_KEY, audit_content_digest
from core.logging import mask_phone
from core.models import AuditEntry

logger = logging.getLogger(__name__)

EXPORT_FORMAT = "retarget.contact-export/1"
ERASURE_ACTION = "contact.erase"
# Audit detail keys that can only hold something the person wrote or a message id derived from their number.
_PERSONAL_AUDIT_KEYS = frozenset({"message", "wamid", "text", "note", "phone", "name", "wa_id"})


class RightsRefused(ValueError):
    """A data-subject request that cannot be carried out as asked; the message says why.

    ``field`` names the input at fault (``phone``...), empty when no single input is to blame.
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


# --- export -------------------------------------------------------------------------------------


def contact_data_package(contact: Contact) -> dict[str, Any]:
    """Everything held about ``contact``, as JSON-ready data (the right of access, GDPR Art. 15).

    Audit entries are included without the staff member's IP address: that is the staff
    member's personal data, not the person's.
    """
    profile = {
        **rows(Contact.objects.filter(pk=contact.pk), exclude=("phone_hash", "bsuid_hash"))[0],
        "tags": list(contact.tags.values_list("name", flat=True)),
        "marketing_consent": contact_consent_status(contact),
        # Under the number or the business-scoped user id (bsuid above).
        "number_suppressed": contact_is_suppressed(contact),
    }
    package = {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now(),
        "contact": profile,
        "consent_states": list(
            ConsentState.objects.filter(contact=contact).order_by("purpose__code").values("purpose__code", "status", "since", "last_event_id")
        ),
        "consent_events": rows(
            ConsentEvent.objects.filter(contact=contact).order_by("id"),
            exclude=("personal_digest", "previous_hash"),
            extra=("purpose__code", "recorded_by__username"),
        ),
        # What the other apps hold (campaigns' messages and events, conversations' inbound messages...).
        **{section: data for entry in personal_data_entries() if entry.export for section, data in entry.export(contact).items()},
        "audit_entries": list(
            AuditEntry.objects.filter(object_type="contact", object_id=str(contact.pk))
            .order_by("at", "id")
            .values("at", "actor_label", "action", "details")
        ),
    }
    # One encoder for dates, UUIDs and decimals, so the API and the admin download are identical.
    return json.loads(json.dumps(package, cls=DjangoJSONEncoder))


@transaction.atomic
def contact_export(*, contact: Contact, actor: Actor) -> dict[str, Any]:
    """The person's data package (see ``contact_data_package``); the export is audit-logged."""
    package = contact_data_package(contact)
    sizes = {section: len(rows) for section, rows in package.items() if isinstance(rows, list)}
    audit_record(actor=actor, action="contact.export", object_type="contact", object_id=contact.pk, details={"sections": sizes})
    logger.info("contact %s exported by %s", contact.pk, actor.display)
    return package


# --- erasure ------------------------------------------------------------------------------------


def _traces_of(contact: Contact) -> PersonTraces:
    phone = contact.phone or ""
    # The business-scoped user id and username name the person as surely as the number does.
    numbers = {phone, phone.lstrip("+"), contact.wa_id, contact.bsuid or "", contact.parent_bsuid, contact.username}
    message_ids = {wamid for entry in personal_data_entries() if entry.message_ids for wamid in entry.message_ids(contact)}
    return PersonTraces(
        numbers=tuple(sorted(n for n in numbers if n)), name=contact.name.strip(), message_ids=tuple(sorted(message_ids))
    )


@dataclass
class ErasureReport:
    """What an erasure removed (counts only: the report itself holds nothing personal)."""

    contact_id: int
    erased_at: datetime
    counts: dict[str, int] = field(default_factory=dict)


def _consent_end(contact: Contact, actor: Actor) -> int:
    """Record an erasure opt-out for marketing and every purpose the person is opted in to.

    The marketing opt-out puts the number on the suppression list (or keeps it there), so it is
    never messaged again unless the person opts in anew themselves.
    """
    if not (contact.phone or contact.bsuid):
        return 0  # merged into another contact, which holds (and suppresses) the person's identifiers
    purposes = set(
        ConsentState.objects.filter(contact=contact, status=ConsentStatus.OPTED_IN).values_list("purpose__code", flat=True)
    ) | {Purpose.MARKETING}
    changes = [
        ConsentChange(contact=contact, action=ConsentAction.OPT_OUT, source=ConsentSource.ERASURE, purpose=code)
        for code in sorted(purposes)
    ]
    results = consent_record_many(changes=changes, actor=actor)
    refused = [str(result) for result in results if isinstance(result, ConsentRefused)]
    if refused:
        raise RightsRefused(f"Could not end the person's consent: {'; '.join(refused)}")
    return len(results)


def _audit_scrub(contact: Contact, traces: PersonTraces, *, now: datetime) -> dict[str, str]:
    """Entries about the person lose what they wrote and any mention of them; other entries lose mentions.

    An entry about the person that no staff member caused (the opt-in page, a WhatsApp reply)
    carries the person's own IP address: it goes too. Audit entries are otherwise never changed:
    this is the one write the application makes to them (inside the erasure scope), and it keeps
    their hash chain verifiable (see core.audit_chain). Returns each scrubbed entry's new digest,
    which the erasure's own audit entry records to seal what is left.
    """
    about = Q(object_type="contact", object_id=str(contact.pk))
    mentions = Q()
    for text in traces.searchable:
        mentions |= Q(details_text__icontains=text) | Q(object_id__icontains=text) | Q(actor_label__icontains=text)
    for message_id in traces.message_ids:
        mentions |= Q(details_text__contains=message_id)
    entries = AuditEntry.objects.annotate(details_text=Cast("details", TextField())).filter(about | mentions)
    scrubbed: dict[str, str] = {}
    for entry in entries:
        is_about = entry.object_type == "contact" and entry.object_id == str(contact.pk)
        details = traces.scrub(entry.details, _PERSONAL_AUDIT_KEYS if is_about else frozenset())
        object_id = ERASED if traces.found_in(entry.object_id) else entry.object_id
        actor_label = ERASED if traces.found_in(entry.actor_label) else entry.actor_label
        ip_address = None if is_about and entry.actor_id is None else entry.ip_address
        fields = {"details": details, "object_id": object_id, "actor_label": actor_label, "ip_address": ip_address}
        if any(getattr(entry, name) != value for name, value in fields.items()):
            digest = audit_content_digest(salt="", **fields)
            AuditEntry.objects.filter(pk=entry.pk).erasure_update(**fields, salt="", scrubbed_at=now, scrubbed_digest=digest)
            scrubbed[str(entry.pk)] = digest
    return scrubbed


def _admin_history_scrub(contact: Contact, traces: PersonTraces) -> int:
    """The admin's change history names objects by their ``str()``, which for a contact is name and number."""
    own = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Contact), object_id=str(contact.pk))
    changed = own.update(object_repr=f"erased contact #{contact.pk}")
    mentions = Q(pk__in=[])
    for text in traces.searchable:
        mentions |= Q(object_repr__icontains=text) | Q(change_message__icontains=text)
    changed += LogEntry.objects.filter(mentions).update(object_repr=ERASED, change_message="")
    return changed


@transaction.atomic
def contact_erase(*, contact: Contact, actor: Actor, reason: str = "") -> ErasureReport:
    """Erase a person's personal data, in one transaction (the right to erasure, GDPR Art. 17).

    Removed or emptied: number, WhatsApp id, business-scoped user id (BSUID), parent BSUID and
    username (also on contacts merged into this one), name, language, attributes, tags, behaviour events,
    inbound texts, raw webhook deliveries, message texts and message ids, the personal evidence
    of consent events (page, IP, user agent, note: the ledger's chain stays verifiable), pending
    opt-in confirmations, and mentions in the audit log and the admin's history.

    Kept: the contact row (erased, for statistics), every message row with its status (campaign
    counts), the consent events without personal evidence, and the suppression of the number and
    the BSUID (keyed hashes), so neither is messaged again unless the person opts in anew themselves. A later import or API
    call with the number makes a new contact, without consent.
    """
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    if contact.erased_at is not None:
        raise RightsRefused(f"Contact #{contact.pk} was erased on {contact.erased_at:%Y-%m-%d}; nothing personal is left.")
    # Each erasure below audits before the next ends its consent: every person's states locked first.
    consent_states_lock([contact.pk, *Contact.objects.filter(merged_into=contact).values_list("pk", flat=True)])
    for absorbed in Contact.objects.filter(merged_into=contact, erased_at__isnull=True):
        contact_erase(contact=absorbed, actor=actor, reason=reason)  # the same person, known there by BSUID
    now = timezone.now()
    traces = _traces_of(contact)
    counts = {"consent_opt_outs": _consent_end(contact, actor), "whatsapp_message_ids": len(traces.message_ids)}
    with erasure_scope(contact.pk):  # the one way the ledger and the audit log may be changed
        counts["consent_events_evidence"] = ConsentEvent.objects.filter(
            contact=contact, evidence_erased_at__isnull=True
        ).erasure_update(page_url="", ip_address=None, user_agent="", note="", evidence_erased_at=now)
        for entry in personal_data_entries():  # what the other apps hold, while the number is still known
            if entry.erase:
                counts.update(entry.erase(contact, traces))
        scrubbed = _audit_scrub(contact, traces, now=now)
    counts["audit_entries"] = len(scrubbed)
    counts["admin_history"] = _admin_history_scrub(contact, traces)
    counts["tags"] = contact.tags.count()
    contact.tags.clear()
    Contact.objects.filter(pk=contact.pk).update(
        phone=None, phone_hash="", wa_id="", bsuid=None, bsuid_hash="", parent_bsuid="", username="", name="",
        language="", time_zone="UTC", country="", attributes={}, last_inbound_at=None, erased_at=now, updated_at=now,
    )  # fmt: skip
    details: dict[str, Any] = {"counts": counts, AUDIT_SCRUBBED_KEY: scrubbed}
    if reason.strip():
        details["reason"] = traces.scrub(mask_phone(reason.strip()))
    audit_record(actor=actor, action=ERASURE_ACTION, object_type="contact", object_id=contact.pk, details=details)
    logger.info("contact %s erased by %s", contact.pk, actor.display)
    return ErasureReport(contact_id=contact.pk, erased_at=now, counts=counts)


# --- rectification -------------------------------------------------------------------------------


def _name_fingerprint(name: str) -> str:
    """A keyed digest of a name: proves what it was when someone names it, without storing it."""
    return suppression_hash(f"name:{name}")[:16] if name else ""


def _rectification_record(
    *, contact: Contact, actor: Actor, old_name: str, old_phone: str | None, reason: str = "", consent_ended: bool = False
) -> AuditEntry | None:
    changes: dict[str, Any] = {}
    if old_name != contact.name:
        changes["name"] = {"old": _name_fingerprint(old_name), "new": _name_fingerprint(contact.name)}
    if old_phone != contact.phone:
        changes["phone"] = {
            "old": mask_phone(old_phone or ""),
            "new": mask_phone(contact.phone or ""),
            "old_hash": suppression_hash(old_phone) if old_phone else "",
            "new_hash": contact.phone_hash,
        }
    if not changes:
        return None
    details: dict[str, Any] = {"fields": sorted(changes), **changes}
    if reason.strip():
        details["reason"] = mask_phone(reason.strip())
    if consent_ended:
        details["consent_ended"] = True
    return audit_record(actor=actor, action="contact.rectify", object_type="contact", object_id=contact.pk, details=details)


@transaction.atomic
def contact_rectify(
    *, contact: Contact, actor: Actor, name: str | None = None, phone: str | None = None, reason: str = ""
) -> Contact:
    """Correct a person's name or number (the right to rectification, GDPR Art. 16); audit-logged.

    Consent belongs to the number it was given for: when the number changes, an opt-in held for
    the old one ends with an opt-out (which also suppresses the old number, in case it now
    belongs to someone else), and the person opts in again for the new one. Raises
    InvalidPhoneNumber for an unreadable number and RightsRefused for a number another contact has.
    """
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    if contact.erased_at is not None:
        raise RightsRefused("This contact was erased; there is nothing to correct.")
    old_name, old_phone = contact.name, contact.phone
    consent_ended = False
    changed: list[str] = []
    if phone is not None:
        e164 = phone_normalize(phone)
        if e164 != contact.phone:
            other = Contact.objects.filter(phone=e164).exclude(pk=contact.pk).values_list("pk", flat=True).first()
            if other is not None:
                raise RightsRefused(f"Contact #{other} has this number already; correct or erase that one instead.", field="phone")
            consent_ended = _consent_end_for_new_number(contact, actor)
            contact.phone = e164
            # Hash, WhatsApp id and country follow the number; the time zone stays as it was set.
            for attr, value in contact_phone_fields(e164, time_zone=contact.time_zone).items():
                setattr(contact, attr, value)
            changed += ["phone", "phone_hash", "wa_id", "country"]
    if name is not None and name.strip() != contact.name:
        contact.name = name.strip()
        changed.append("name")
    if not changed:
        return contact
    contact.save(update_fields=[*changed, "updated_at"])
    _rectification_record(
        contact=contact, actor=actor, old_name=old_name, old_phone=old_phone, reason=reason, consent_ended=consent_ended
    )
    return contact


def _consent_end_for_new_number(contact: Contact, actor: Actor) -> bool:
    opted_in = list(
        ConsentState.objects.filter(contact=contact, status=ConsentStatus.OPTED_IN).values_list("purpose__code", flat=True)
    )
    if not opted_in:
        return False
    note = "The number was corrected; consent given for the previous number does not carry over to the new one."
    changes = [
        ConsentChange(contact=contact, action=ConsentAction.OPT_OUT, source=ConsentSource.SUPPORT, purpose=code, evidence=Evidence(note=note))
        for code in sorted(opted_in)
    ]
    consent_record_many(changes=changes, actor=actor)
    return True


@transaction.atomic
def contact_upsert_recorded(*, actor: Actor, phone: str, **fields: Any) -> tuple[Contact, bool]:
    """``contact_upsert`` for an integrator or staff member: a changed name is audit-logged as a correction."""
    existing = Contact.objects.select_for_update().filter(phone=phone_normalize(phone)).first()
    contact, created = contact_upsert(phone=phone, **fields)
    if existing is not None:
        _rectification_record(contact=contact, actor=actor, old_name=existing.name, old_phone=existing.phone)
    return contact, created
