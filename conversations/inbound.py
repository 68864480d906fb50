"""What people send us, as webhook items: stored once, keywords acted on, confirmations answered.

Registered with the WhatsApp app's handlers in ConversationsConfig.ready(). Opt-outs (a STOP-style
text, Meta's opt-out button, a ``user_preferences`` stop) are urgent: applied before Meta gets its
200, so nothing is sent to that person after we answered.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import Q

from campaigns.models import Message
from campaigns.sending.service import service_message_queue
from consent import keywords
from consent.keywords import KeywordAction
from consent.models import ConsentSource, Contact
from consent.selectors import contact_find_by_bsuid, contact_find_by_wa_id
from consent.services import consent_states_lock, contact_bsuid_change, contact_for_whatsapp_user
from conversations.double_optin import double_optin_confirm
from conversations.join_codes import join_code_handle
from conversations.keywords import KeywordOutcome, keyword_apply, marketing_preference_apply, reply_text
from conversations.models import InboundMessage
from whatsapp import numbers
from whatsapp.handlers import ItemPairs
from whatsapp.models import WebhookDelivery
from whatsapp.services import receipt_claim
from whatsapp.webhooks import InboundItem, PreferenceItem

logger = logging.getLogger(__name__)


def is_optout(item: InboundItem) -> bool:
    """An opt-out keyword or the opt-out button: applied before the delivery is acknowledged."""
    return _keyword_action(item)[0] is keywords.KeywordAction.OPT_OUT


def inbound_items_handle(pairs: ItemPairs) -> None:
    for item, delivery in pairs:
        inbound_message_handle(item=item, delivery=delivery)


def preference_items_handle(pairs: ItemPairs) -> None:
    for item, delivery in pairs:
        preference_handle(item=item, delivery=delivery)


def _person_locked_before_linking(*, wa_id: str, user_id: str) -> None:
    """Lock an opting-out person's consent states before their identifiers are linked (which is audited).

    Every consent change locks the person's states before the audit log's head
    (consent_states_lock): the opt-out then waits only for a batch sending to this person, and
    never while holding the audit log's lock that every other opt-out needs.
    """
    known = (contact_find_by_wa_id(wa_id), contact_find_by_bsuid(user_id))
    consent_states_lock(contact.pk for contact in known if contact is not None)


@transaction.atomic
def inbound_message_handle(*, item: InboundItem, delivery: WebhookDelivery | None = None) -> InboundMessage | None:
    """Store a message the person sent (once), open their 24-hour window and act on keywords.

    The sender may be named by number, by business-scoped user id (BSUID) or both: either finds
    (or creates, or links) their contact. A ``user_changed_user_id`` system message moves the
    contact to its new BSUID.
    """
    if item.type == "system":
        return _system_message_handle(item=item, delivery=delivery)
    if is_optout(item):
        _person_locked_before_linking(wa_id=item.from_wa_id, user_id=item.from_user_id)
    contact = contact_for_whatsapp_user(
        wa_id=item.from_wa_id, user_id=item.from_user_id, parent_user_id=item.parent_user_id,
        username=item.username, profile_name=item.profile_name,
    )  # fmt: skip
    inbound = _inbound_store(item, contact, delivery)
    if inbound is None:
        return None  # already handled (a repeated delivery)
    if contact is None:
        return inbound
    Contact.objects.filter(pk=contact.pk).filter(
        Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=item.sent_at)
    ).update(last_inbound_at=item.sent_at)

    reply = ""
    # A sign-up code message is answered as one even when it confirms nothing: never read as a keyword.
    confirmation = join_code_handle(contact=contact, inbound=inbound) or double_optin_confirm(contact=contact, inbound=inbound)
    if confirmation is not None:
        inbound.keyword_action, reply = confirmation.action, confirmation.reply
    else:
        action, source = _keyword_action(item)
        if action is KeywordAction.OPT_OUT:
            # Recorded last, its confirmation queued first: from the ledger's and the audit log's
            # locks to the commit every other opt-out of the business waits, so nothing else runs
            # in between (the confirmation is sent after the commit either way).
            inbound.keyword_action = action.value
            _answer(inbound, contact=contact, reply=reply_text(action), phone_number_id=item.phone_number_id)
            _keyword_apply(item, contact, action, source)
            return inbound
        if action is not None:
            inbound.keyword_action, reply = action.value, _keyword_apply(item, contact, action, source).reply
    if reply:
        _answer(inbound, contact=contact, reply=reply, phone_number_id=item.phone_number_id)
    return inbound


def _keyword_apply(item: InboundItem, contact: Contact, action: KeywordAction, source: str) -> KeywordOutcome:
    return keyword_apply(
        contact=contact, action=action, text=item.text or item.payload, message_id=item.wamid, sent_at=item.sent_at,
        source=source, identifier=_identifier(item.from_wa_id, item.from_user_id), reached=number_reached(item.phone_number_id),
    )  # fmt: skip


def _answer(inbound: InboundMessage, *, contact: Contact, reply: str, phone_number_id: str) -> None:
    """Queue ``reply`` to the person (sent after the commit) and mark the message answered."""
    reply_queue(
        contact=contact, body=reply, decision={"reason": f"answer to {inbound.keyword_action}", "inbound": inbound.pk},
        phone_number_id=phone_number_id,  # answered from the number the person wrote to
    )  # fmt: skip
    inbound.answered = True
    inbound.save(update_fields=["keyword_action", "answered"])


def _inbound_store(item: InboundItem, contact: Contact | None, delivery: WebhookDelivery | None) -> InboundMessage | None:
    """The message stored once; None when a repeated delivery stored it already."""
    try:
        with transaction.atomic():
            return InboundMessage.objects.create(
                wamid=item.wamid,
                contact=contact,
                from_wa_id=item.from_wa_id,
                from_user_id=item.from_user_id,
                type=item.type,
                text=item.text,
                payload=item.payload,
                context_wamid=item.context_wamid,
                sent_at=item.sent_at,
                delivery=delivery,
                phone_number_id=item.phone_number_id,
            )
    except IntegrityError:
        return None


def _system_message_handle(*, item: InboundItem, delivery: WebhookDelivery | None) -> InboundMessage | None:
    """A notice from WhatsApp about the person, not words of theirs: kept, never answered, no window opened."""
    if item.system_type != "user_changed_user_id" or not item.new_user_id:
        contact = contact_for_whatsapp_user(wa_id=item.from_wa_id, user_id=item.from_user_id)
    else:
        # The old BSUID is in from_user_id, the new one in system.user_id; no contacts[] array
        # (Meta's system messages webhook reference, see whatsapp.webhooks).
        contact = contact_bsuid_change(
            old_user_id=item.from_user_id, wa_id=item.from_wa_id,
            new_user_id=item.new_user_id, new_parent_user_id=item.new_parent_user_id,
        )  # fmt: skip
    return _inbound_store(item, contact, delivery)


def number_reached(phone_number_id: str) -> str:
    """Which of our numbers an item reached, for the evidence ("" when the webhook did not say)."""
    if not phone_number_id:
        return ""
    number = numbers.number_get(phone_number_id)
    shown = f"+{number.display_phone_number}" if number is not None and number.display_phone_number.isdigit() else str(number or "")
    return f"our number {shown} (phone number id {phone_number_id})" if shown else f"our number with phone number id {phone_number_id}"


def _identifier(wa_id: str, user_id: str) -> str:
    """Which identifier named the person, for the evidence of what they did."""
    if wa_id:
        return "their phone number"
    return f"their business-scoped user id {user_id}"


def _keyword_action(item: InboundItem) -> tuple[keywords.KeywordAction | None, str]:
    if item.type == "text":
        return keywords.keyword_match(item.text), ConsentSource.INBOUND_KEYWORD
    if item.type in ("button", "interactive") and keywords.optout_button_match(item.payload, item.text):
        return keywords.KeywordAction.OPT_OUT, ConsentSource.OPTOUT_BUTTON
    return None, ""


@transaction.atomic
def preference_handle(*, item: PreferenceItem, delivery: WebhookDelivery | None = None) -> None:
    """Meta's ``user_preferences``: a marketing ``stop`` opts out; ``resume`` changes no consent."""
    if item.category != "marketing_messages":
        return
    if not receipt_claim(f"preference:{item.person_key}:{item.category}:{item.value}:{item.raw_timestamp}", delivery):
        return
    if (item.value or "").strip().lower() == "stop":
        _person_locked_before_linking(wa_id=item.wa_id, user_id=item.user_id)
    contact = contact_for_whatsapp_user(
        wa_id=item.wa_id, user_id=item.user_id, parent_user_id=item.parent_user_id, username=item.username
    )
    if contact is not None:
        marketing_preference_apply(
            contact=contact, value=item.value, sent_at=item.at, identifier=_identifier(item.wa_id, item.user_id),
            reached=number_reached(item.phone_number_id),
        )  # fmt: skip


def reply_queue(*, contact: Contact, body: str, decision: dict | None = None, phone_number_id: str = "") -> Message:
    """A free-form reply in the person's open window, queued in the outbox (sent after commit).

    ``phone_number_id``: the number it goes from (the one the person wrote to); empty: the default.
    """
    return service_message_queue(
        contact=contact, kind=Message.Kind.REPLY, body=body, decision=decision, phone_number_id=phone_number_id
    )
