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
from django.db.models import CharField, Model, Q, QuerySet, TextField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from campaigns.models import Click, Event, Message
from consent.models import ConsentAction, ConsentEvent, ConsentSource, ConsentState, ConsentStatus, Contact, Purpose
from consent.phones import phone_normalize
from consent.selectors import contact_consent_status
from consent.services import (
    ConsentChange,
    ConsentRefused,
    Evidence,
    consent_record_many,
    contact_phone_fields,
    contact_upsert,
    number_is_suppressed,
    suppression_hash,
)
from core.audit import Actor, audit_record
from core.logging import mask_phone
from core.models import AuditEntry
from whatsapp.models import InboundMessage, OptInConfirmation, WebhookDelivery, WebhookReceipt
from whatsapp.services import contact_whatsapp_data_erase

logger = logging.getLogger(__name__)

EXPORT_FORMAT = "retarget.contact-export/1"
ERASED = "[erased]"
# Decision keys that describe the person rather than the decision: template parameters (their
# name, their product), their time zone, and what WhatsApp said back (message id, error text).
_PERSONAL_DECISION_KEYS = frozenset({"parameters", "time_zone", "wamid", "error"})
# Audit detail keys that can only hold something the person wrote or a message id derived from their number.
_PERSONAL_AUDIT_KEYS = frozenset({"message", "wamid", "text", "note", "phone", "name", "wa_id"})
# Columns a click may carry about the device that clicked; blanked by erasure where the model has them.
_CLICK_DEVICE_FIELDS = ("ip_address", "user_agent", "referrer")


class RightsRefused(ValueError):
    """A data-subject request that cannot be carried out as asked; the message says why.

    ``field`` names the input at fault (``phone``...), empty when no single input is to blame.
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


# --- export -------------------------------------------------------------------------------------


def _columns(model: type[Model], *, exclude: tuple[str, ...] = ()) -> list[str]:
    """Every stored column of ``model``: a column added later is exported without a change here."""
    return [f.attname for f in model._meta.concrete_fields if f.attname not in exclude]


def _rows(queryset: QuerySet, *, exclude: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return list(queryset.values(*_columns(queryset.model, exclude=exclude), *extra))


def contact_data_package(contact: Contact) -> dict[str, Any]:
    """Everything held about ``contact``, as JSON-ready data (the right of access, GDPR Art. 15).

    Audit entries are included without the staff member's IP address: that is the staff
    member's personal data, not the person's.
    """
    profile = {
        **_rows(Contact.objects.filter(pk=contact.pk), exclude=("phone_hash",))[0],
        "tags": list(contact.tags.values_list("name", flat=True)),
        "marketing_consent": contact_consent_status(contact),
        "number_suppressed": bool(contact.phone) and number_is_suppressed(contact.phone),
    }
    messages = Message.objects.filter(contact=contact).order_by("created_at")
    package = {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now(),
        "contact": profile,
        "consent_states": list(
            ConsentState.objects.filter(contact=contact).order_by("purpose__code").values("purpose__code", "status", "since", "last_event_id")
        ),
        "consent_events": _rows(
            ConsentEvent.objects.filter(contact=contact).order_by("id"),
            exclude=("personal_digest", "previous_hash"),
            extra=("purpose__code", "recorded_by__username"),
        ),
        "messages": _rows(messages, exclude=("claim_token", "lease_expires_at"), extra=("campaign__name",)),
        "clicks": _rows(Click.objects.filter(message__contact=contact).order_by("at")),
        "inbound_messages": _rows(InboundMessage.objects.filter(contact=contact).order_by("sent_at"), exclude=("delivery_id",)),
        "optin_confirmations": _rows(OptInConfirmation.objects.filter(contact=contact).order_by("requested_at"), extra=("form__slug",)),
        "events": _rows(Event.objects.filter(contact=contact).order_by("occurred_at")),
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


@dataclass(frozen=True)
class _Traces:
    """The strings by which a person can be found in stored text: their number in its forms, their name."""

    numbers: tuple[str, ...]
    name: str

    @classmethod
    def of(cls, contact: Contact) -> _Traces:
        phone = contact.phone or ""
        numbers = {phone, phone.lstrip("+"), contact.wa_id}
        return cls(numbers=tuple(sorted(n for n in numbers if n)), name=contact.name.strip())

    @property
    def searchable(self) -> tuple[str, ...]:
        """What to look for across all rows: a short name would match unrelated text, so it is left out."""
        return (*self.numbers, self.name) if len(self.name) >= 4 else self.numbers

    def found_in(self, text: str) -> bool:
        lowered = text.lower()
        return any(n in text for n in self.numbers) or bool(self.name and self.name.lower() in lowered)


def _scrub(value: Any, traces: _Traces, drop_keys: frozenset[str] = frozenset()) -> Any:
    """``value`` (JSON data) with every string that mentions the person, and every ``drop_keys`` entry, erased."""
    if isinstance(value, dict):
        return {key: ERASED if key in drop_keys else _scrub(item, traces, drop_keys) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, traces, drop_keys) for item in value]
    if isinstance(value, str) and traces.found_in(value):
        return ERASED
    return value


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


def _delivery_without_person(body: str, traces: _Traces) -> str:
    """A raw delivery without the person's items (their messages, statuses, profile, preferences).

    An item is theirs when one of its values is their WhatsApp id; any other mention left (say,
    their number in someone else's message) is cut out of the text.
    """
    envelope = json.loads(body)
    for entry in envelope.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            for key, items in list(value.items()):
                if isinstance(items, list):
                    value[key] = [
                        item for item in items if not (isinstance(item, dict) and set(map(str, item.values())) & set(traces.numbers))
                    ]
    text = json.dumps(envelope)
    for needle in (*traces.numbers, traces.name):
        if needle:
            text = text.replace(json.dumps(needle)[1:-1], ERASED)
    return text


def _webhook_data_erase(contact: Contact, traces: _Traces) -> dict[str, int]:
    """Raw deliveries, receipts, inbound texts and pending opt-in confirmations of the person.

    A delivery not yet processed may carry other people's statuses too: the person's number and
    name are cut out of it and it stays queued; processed ones go entirely.
    """
    redacted = 0
    pending = Q(pk__in=[])
    for number in traces.numbers:
        pending |= Q(body__contains=number)
    for delivery in WebhookDelivery.objects.select_for_update().filter(pending, processed_at__isnull=True):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(body=_delivery_without_person(delivery.body, traces))
        redacted += 1
    erased = contact_whatsapp_data_erase(contact=contact)
    deleted = WebhookDelivery.objects.filter(pending, processed_at__isnull=False).delete()[0]
    receipts = Q(pk__in=[])
    for number in traces.numbers:
        receipts |= Q(key__contains=number)
    # A WhatsApp message id encodes the number: the person's are replaced by a placeholder.
    InboundMessage.objects.filter(contact=contact).update(wamid=Concat(Value("erased."), Cast("pk", CharField())), context_wamid="")
    return {
        "inbound_messages": erased.inbound_messages,
        "webhook_deliveries_deleted": erased.deliveries + deleted,
        "webhook_deliveries_redacted": redacted,
        "webhook_receipts": WebhookReceipt.objects.filter(receipts).delete()[0],
        "pending_optin_confirmations": OptInConfirmation.objects.filter(contact=contact, confirmed_at__isnull=True).delete()[0],
        "optin_confirmations": OptInConfirmation.objects.filter(contact=contact).update(confirmed_by_wamid=""),
    }


def _messages_strip(contact: Contact, traces: _Traces) -> int:
    """Keep each message's row and status (campaign statistics count them), drop what is personal."""
    messages = list(Message.objects.filter(contact=contact).only("pk", "decision"))
    for message in messages:
        message.body, message.wamid, message.error_detail = "", None, ""
        message.decision = _scrub(message.decision, traces, _PERSONAL_DECISION_KEYS)
    Message.objects.bulk_update(messages, ["body", "wamid", "error_detail", "decision"], batch_size=500)
    return len(messages)


def _clicks_strip(contact: Contact) -> int:
    device_fields = {f.attname for f in Click._meta.concrete_fields} & set(_CLICK_DEVICE_FIELDS)
    clicks = Click.objects.filter(message__contact=contact)
    if not device_fields:
        return clicks.count()
    return clicks.update(**{name: None if Click._meta.get_field(name).null else "" for name in device_fields})


def _audit_scrub(contact: Contact, traces: _Traces) -> int:
    """Entries about the person lose what they wrote and any mention of them; other entries lose mentions.

    An entry about the person that no staff member caused (the opt-in page, a WhatsApp reply)
    carries the person's own IP address: it goes too. Audit entries are otherwise never changed:
    this is the one write the application makes to them.
    """
    about = Q(object_type="contact", object_id=str(contact.pk))
    mentions = Q()
    for text in traces.searchable:
        mentions |= Q(details_text__icontains=text) | Q(object_id__icontains=text) | Q(actor_label__icontains=text)
    entries = AuditEntry.objects.annotate(details_text=Cast("details", TextField())).filter(about | mentions)
    changed = 0
    for entry in entries:
        is_about = entry.object_type == "contact" and entry.object_id == str(contact.pk)
        details = _scrub(entry.details, traces, _PERSONAL_AUDIT_KEYS if is_about else frozenset())
        object_id = ERASED if traces.found_in(entry.object_id) else entry.object_id
        actor_label = ERASED if traces.found_in(entry.actor_label) else entry.actor_label
        ip_address = None if is_about and entry.actor_id is None else entry.ip_address
        fields = {"details": details, "object_id": object_id, "actor_label": actor_label, "ip_address": ip_address}
        if any(getattr(entry, name) != value for name, value in fields.items()):
            AuditEntry.objects.filter(pk=entry.pk).update(**fields)
            changed += 1
    return changed


def _admin_history_scrub(contact: Contact, traces: _Traces) -> int:
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

    Removed or emptied: number, WhatsApp id, name, language, attributes, tags, behaviour events,
    inbound texts, raw webhook deliveries, message texts and message ids, the personal evidence
    of consent events (page, IP, user agent, note: the ledger's chain stays verifiable), pending
    opt-in confirmations, and mentions in the audit log and the admin's history.

    Kept: the contact row (erased, for statistics), every message row with its status (campaign
    counts), the consent events without personal evidence, and the suppression of the number, so
    it is never messaged again unless the person opts in anew themselves. A later import or API
    call with the number makes a new contact, without consent.
    """
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    if contact.erased_at is not None:
        raise RightsRefused(f"Contact #{contact.pk} was erased on {contact.erased_at:%Y-%m-%d}; nothing personal is left.")
    now = timezone.now()
    traces = _Traces.of(contact)
    counts = {"consent_opt_outs": _consent_end(contact, actor)}
    counts["consent_events_evidence"] = ConsentEvent.objects.filter(contact=contact, evidence_erased_at__isnull=True).update(
        page_url="", ip_address=None, user_agent="", note="", evidence_erased_at=now
    )
    counts.update(_webhook_data_erase(contact, traces))
    counts["events"] = Event.objects.filter(contact=contact).delete()[0]
    counts["messages"] = _messages_strip(contact, traces)
    counts["clicks"] = _clicks_strip(contact)
    counts["audit_entries"] = _audit_scrub(contact, traces)
    counts["admin_history"] = _admin_history_scrub(contact, traces)
    counts["tags"] = contact.tags.count()
    contact.tags.clear()
    Contact.objects.filter(pk=contact.pk).update(
        phone=None, phone_hash="", wa_id="", name="", language="", time_zone="UTC", country="", attributes={},
        last_inbound_at=None, erased_at=now, updated_at=now,
    )  # fmt: skip
    details: dict[str, Any] = {"counts": counts}
    if reason.strip():
        details["reason"] = _scrub(mask_phone(reason.strip()), traces)
    audit_record(actor=actor, action="contact.erase", object_type="contact", object_id=contact.pk, details=details)
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
