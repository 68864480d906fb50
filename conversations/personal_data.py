"""What conversations keeps about a person, and the WhatsApp app's raw deliveries: registered for rights and retention."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import CharField, Q, Value
from django.db.models.functions import Cast, Concat

from consent.personal_data import (
    PersonalData,
    PersonTraces,
    RetentionRule,
    personal_data_none,
    personal_data_register,
    rows,
)
from consent.services import suppression_hash
from conversations.models import CannedReply, ConversationAssignment, InboundMessage, OptInConfirmation
from whatsapp.models import (
    AccountProblem,
    MessageTemplate,
    MessagingLimit,
    SendingNumber,
    WebhookDelivery,
    WebhookReceipt,
)
from whatsapp.personal_data import webhook_data_erase


def _export(contact: Any) -> dict[str, Any]:
    return {
        "inbound_messages": rows(InboundMessage.objects.filter(contact=contact).order_by("sent_at"), exclude=("delivery_id",)),
        "optin_confirmations": rows(
            OptInConfirmation.objects.filter(contact=contact).order_by("requested_at"),
            exclude=("number_hash", "join_code_hash"),  # keyed hashes: nothing the person could read
            extra=("form__slug",),
        ),
    }


def _erase(contact: Any, traces: PersonTraces) -> dict[str, int]:
    """Inbound texts, message ids and device evidence; pending opt-in confirmations go entirely.

    The InboundMessage rows stay, emptied, so support statistics keep their counts.
    """
    wa_id = contact.wa_id or (contact.phone or "").lstrip("+")
    senders = Q(contact=contact) | Q(from_wa_id=wa_id) if wa_id else Q(contact=contact)
    if contact.bsuid:
        senders |= Q(from_user_id=contact.bsuid)
    inbound = InboundMessage.objects.filter(senders).update(text="", payload="", from_wa_id="", from_user_id="")
    # A WhatsApp message id encodes the number: the person's are replaced by a placeholder.
    InboundMessage.objects.filter(contact=contact).update(wamid=Concat(Value("erased."), Cast("pk", CharField())), context_wamid="")
    # Pending requests also when not tied to the contact (typed while the number was suppressed).
    typed = [suppression_hash(number) for number in traces.numbers if number.startswith("+")]
    pending = OptInConfirmation.objects.filter(Q(contact=contact) | Q(number_hash__in=typed), confirmed_at__isnull=True).delete()[0]
    confirmed = OptInConfirmation.objects.filter(contact=contact).update(
        page_url="", ip_address=None, user_agent="", confirmed_by_wamid="", number_hash="", join_code_hash=""
    )
    assignments = ConversationAssignment.objects.filter(contact=contact).delete()[0]  # who looked after them
    return {
        "conversation_assignments": assignments,
        "inbound_messages": inbound,
        "pending_optin_confirmations": pending,
        "optin_confirmations": confirmed,
        **webhook_data_erase(numbers=traces.numbers, name=traces.name, message_ids=traces.message_ids),
    }


def _message_ids(contact: Any) -> set[str]:
    """The person's inbound messages, the messages of ours they answered, and the one that confirmed an opt-in."""
    inbound = InboundMessage.objects.filter(contact=contact).values_list("wamid", "context_wamid")
    confirming = OptInConfirmation.objects.filter(contact=contact).values_list("confirmed_by_wamid", flat=True)
    return {wamid for pair in inbound for wamid in pair if wamid} | {wamid for wamid in confirming if wamid}


def register() -> None:
    personal_data_register(
        PersonalData(
            name="conversations",
            models=(InboundMessage, OptInConfirmation, ConversationAssignment, WebhookDelivery, WebhookReceipt),
            export=_export,
            erase=_erase,
            message_ids=_message_ids,
            retention=(
                RetentionRule(
                    "inbound_texts",
                    lambda: settings.INBOUND_TEXT_RETENTION_DAYS,
                    lambda cutoff: InboundMessage.objects.filter(received_at__lt=cutoff).filter(~Q(text="") | ~Q(payload="")),
                    lambda pks: InboundMessage.objects.filter(pk__in=pks).update(text="", payload=""),
                ),
                # Never confirmed: nothing was consented to, so the page's device evidence goes too.
                RetentionRule(
                    "unconfirmed_optin_requests",
                    lambda: settings.OPTIN_REQUEST_RETENTION_DAYS,
                    lambda cutoff: OptInConfirmation.objects.filter(confirmed_at__isnull=True, expires_at__lt=cutoff),
                    lambda pks: OptInConfirmation.objects.filter(pk__in=pks).delete()[0],
                ),
                RetentionRule(
                    "webhook_payloads",
                    lambda: settings.WHATSAPP_WEBHOOK_RETENTION_DAYS,
                    lambda cutoff: WebhookDelivery.objects.filter(received_at__lt=cutoff, processed_at__isnull=False),
                    lambda pks: WebhookDelivery.objects.filter(pk__in=pks).delete()[0],
                ),
                # Receipts name WhatsApp ids and message ids; Meta stops repeating a delivery long before this.
                RetentionRule(
                    "webhook_receipts",
                    lambda: settings.WHATSAPP_WEBHOOK_RETENTION_DAYS,
                    lambda cutoff: WebhookReceipt.objects.filter(handled_at__lt=cutoff),
                    lambda pks: WebhookReceipt.objects.filter(pk__in=pks).delete()[0],
                ),
            ),
        )
    )
    personal_data_none(MessageTemplate, reason="the business's own templates")
    personal_data_none(CannedReply, reason="the business's own reusable answers")
    personal_data_none(AccountProblem, MessagingLimit, reason="the business account's own state as Meta reports it")
    personal_data_none(SendingNumber, reason="the business's own phone numbers and their API settings")
