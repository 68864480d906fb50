"""What a keyword a person sent does: STOP opts out, START opts back in, HELP is answered.

Recognising the keyword is consent.keywords; this module changes consent only through
consent.services and returns the reply to send (the caller queues it in the outbox).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction

from consent.keywords import KeywordAction
from consent.models import ConsentAction, ConsentEvent, ConsentSource, ConsentStatus, Contact
from consent.selectors import contact_consent_status
from consent.services import Evidence, consent_grant, consent_revoke
from core.audit import Actor, audit_record

WEBHOOK_ACTOR = Actor(label="whatsapp webhook")


def _business() -> str:
    return settings.WHATSAPP_BUSINESS_NAME


def reply_text(action: KeywordAction, *, changed: bool = True) -> str:
    """The short confirmation sent back for a keyword."""
    if action is KeywordAction.OPT_OUT:
        return f"You will no longer receive marketing messages from {_business()}. Reply START to subscribe again."
    if action is KeywordAction.OPT_IN:
        if changed:
            return f"You are subscribed again to messages from {_business()}. Reply STOP at any time to unsubscribe."
        return (
            f"We found no earlier subscription to {_business()} for this number, so nothing changed. "
            "Please sign up on our website to receive our messages."
        )
    return settings.WHATSAPP_HELP_TEXT.format(business=_business())


@dataclass(frozen=True)
class KeywordOutcome:
    action: KeywordAction
    reply: str
    event: ConsentEvent | None


def _note(message_id: str, sent_at: datetime | None, identifier: str = "", reached: str = "") -> str:
    sent = f" sent {sent_at.isoformat()}" if sent_at else ""
    via = f" from {identifier}" if identifier else ""
    to = f" to {reached}" if reached else ""
    return f"WhatsApp message {message_id}{sent}{via}{to}"


def keyword_apply(
    *,
    contact: Contact,
    action: KeywordAction,
    text: str,
    message_id: str,
    sent_at: datetime | None = None,
    source: str = ConsentSource.INBOUND_KEYWORD,
    identifier: str = "",
    reached: str = "",
) -> KeywordOutcome:
    """Apply a keyword the person sent: opt out, opt back in, or log a help request.

    An opt-out is always recorded (also for someone who never opted in: it suppresses the number).
    START opts back in only a person whose ledger holds an earlier opt-in: only then did they
    see a notice of what they would receive. The message text is the evidence.

    Events take the time we process the message: Meta's timestamps have whole seconds only and a
    delivery can arrive late, so ordering by them could let an older opt-in outrank a newer STOP.
    Meta's time is kept in the note, and ``identifier``: which of the person's identifiers (their
    number or their business-scoped user id) the message came from, and ``reached``: which of our
    numbers it reached. An opt-out holds for the whole business whichever number it reached.

    No transaction of its own: each branch writes through one service, atomic itself, and an
    inbound STOP's caller commits right after it (each savepoint's release would be one more round
    trip while the ledger's lock is held).
    """
    if action is KeywordAction.OPT_OUT:
        event = consent_revoke(
            contact=contact,
            source=source,
            evidence=Evidence(note=f"{_note(message_id, sent_at, identifier, reached)}: {text[:200]}"),
            actor=WEBHOOK_ACTOR,
        )
        return KeywordOutcome(action, reply_text(action), event)

    if action is KeywordAction.OPT_IN:
        had_opt_in = ConsentEvent.objects.filter(contact=contact, action=ConsentAction.OPT_IN).exists()
        if not had_opt_in:
            audit_record(
                actor=WEBHOOK_ACTOR, action="consent.keyword_optin_refused", object_type="contact", object_id=contact.pk,
                details={"message": message_id, "reason": "no earlier opt-in"},
            )  # fmt: skip
            return KeywordOutcome(action, reply_text(action, changed=False), None)
        if contact_consent_status(contact) == ConsentStatus.OPTED_IN:
            return KeywordOutcome(action, reply_text(action), None)
        event = consent_grant(
            contact=contact,
            source=ConsentSource.INBOUND_KEYWORD,
            evidence=Evidence(notice_text=text.strip(), note=_note(message_id, sent_at, identifier, reached)),
            actor=WEBHOOK_ACTOR,
        )
        return KeywordOutcome(action, reply_text(action), event)

    audit_record(
        actor=WEBHOOK_ACTOR, action="keyword.help", object_type="contact", object_id=contact.pk,
        details={"message": message_id},
    )  # fmt: skip
    return KeywordOutcome(action, reply_text(action), None)


@transaction.atomic
def marketing_preference_apply(
    *, contact: Contact, value: str, sent_at: datetime | None = None, identifier: str = "", reached: str = ""
) -> ConsentEvent | None:
    """Meta's ``user_preferences`` notice: ``stop`` opts out (source optout_button), ``resume`` is only logged.

    A stop for someone already opted out records nothing more: the same button press usually also
    arrives as a ``button`` message. Meta keeps this preference per business number (``reached``);
    our opt-out holds for the whole business, every number.
    """
    value = (value or "").strip().lower()
    if value == "stop":
        if contact_consent_status(contact) == ConsentStatus.OPTED_OUT:
            return None
        return consent_revoke(
            contact=contact,
            source=ConsentSource.OPTOUT_BUTTON,
            evidence=Evidence(
                note=f"WhatsApp user preference: stop marketing messages, reported {sent_at or 'now'}"
                + (f" for {identifier}" if identifier else "")
                + (f"; Meta keeps it for {reached} only, our opt-out covers every number of the business" if reached else "")
            ),
            actor=WEBHOOK_ACTOR,
        )
    audit_record(
        actor=WEBHOOK_ACTOR, action=f"whatsapp.marketing_preference_{value or 'unknown'}"[:60],
        object_type="contact", object_id=contact.pk,
    )  # fmt: skip
    return None
