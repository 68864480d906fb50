"""Status webhooks applied to the outbox: sent, delivered, read, failed (registered in CampaignsConfig.ready())."""

from __future__ import annotations

import logging

from django.db.models import prefetch_related_objects

from campaigns.lifecycle import account_sending_stop, campaign_stop
from campaigns.models import Campaign, Message
from campaigns.services import StatusReport, message_statuses_apply
from consent.selectors import contact_find_by_bsuid, contact_find_by_wa_id
from consent.services import consent_states_lock, contact_for_whatsapp_user, platform_optout_record
from core.audit import PLATFORM_ACTOR
from whatsapp.account import account_problem_record
from whatsapp.client import ErrorScope, WhatsAppError
from whatsapp.handlers import ItemPairs
from whatsapp.services import receipts_claim
from whatsapp.webhooks import StatusItem

logger = logging.getLogger(__name__)


def statuses_handle(pairs: ItemPairs) -> None:
    """Apply statuses (forward only), each (wamid, status) once; a failed 131050 records a platform opt-out.

    Receipts are claimed together and the messages moved with one locking read and one write.
    """
    claimed = receipts_claim([(_status_key(item), delivery.pk if delivery else None) for item, delivery in pairs])
    todo: list[tuple[StatusItem, StatusReport, WhatsAppError | None]] = []
    for item, _ in pairs:
        key = _status_key(item)
        if key in claimed:
            claimed.discard(key)  # a status repeated within the batch is applied once
            todo.append((item, *_status_report(item)))
    messages = message_statuses_apply([report for _, report, _ in todo])
    # Contacts in one query, and only for the statuses that read them (a BSUID to link, a platform opt-out).
    needing = [m for (item, _, error), m in zip(todo, messages, strict=True)
               if m is not None and (item.recipient_user_id or (error is not None and error.records_platform_optout))]  # fmt: skip
    prefetch_related_objects(needing, "contact")
    # The people to opt out, locked before any status below audits (the order every consent change keeps):
    # a batch sending to one of them then delays this transaction, not every opt-out behind its chain locks.
    consent_states_lock(
        m.contact_id for (_, _, error), m in zip(todo, messages, strict=True)
        if m is not None and error is not None and error.records_platform_optout
    )  # fmt: skip
    for (item, _, error), message in zip(todo, messages, strict=True):
        _status_applied(item, error, message)


def _status_key(item: StatusItem) -> str:
    return f"status:{item.wamid}:{item.status}"


def _status_report(item: StatusItem) -> tuple[StatusReport, WhatsAppError | None]:
    error = WhatsAppError.from_error_object(item.errors[0]) if item.errors else None
    report = StatusReport(
        wamid=item.wamid,
        status=item.status,
        at=item.at,
        callback_data=item.callback_data,
        error_code=error.code if error else None,
        error_title=error.title if error else "",
        error_detail=(error.details or error.message) if error else "",
        pricing_category=str(item.pricing.get("category") or "")[:40],
        pricing_type=str(item.pricing.get("type") or "")[:40],
        pricing_model=str(item.pricing.get("pricing_model") or "")[:20],
        pricing_billable=item.pricing["billable"] if isinstance(item.pricing.get("billable"), bool) else None,
    )
    return report, error


def _status_applied(item: StatusItem, error: WhatsAppError | None, message: Message | None) -> None:
    if message is None:
        logger.info("status %s for unknown message %s", item.status, item.wamid)
    else:
        _identifiers_learn(item, message)
    if item.status == "failed" and error is not None and error.scope is ErrorScope.ACCOUNT:
        problem, _ = account_problem_record(error=error, source="status webhook")
        account_sending_stop(problem, actor=PLATFORM_ACTOR)
    elif item.status == "failed" and error is not None and error.scope is ErrorScope.CAMPAIGN and message is not None and message.campaign_id:
        campaign = Campaign.objects.filter(pk=message.campaign_id, status=Campaign.Status.SENDING).first()
        if campaign is not None:
            campaign_stop(campaign, f"WhatsApp failed a message with error {error.code}: {error.explanation}", actor=PLATFORM_ACTOR)
    if item.status == "failed" and error is not None and error.records_platform_optout:
        contact = message.contact if message is not None else (
            contact_find_by_wa_id(item.recipient_id) or contact_find_by_bsuid(item.recipient_user_id)
        )
        if contact is not None:
            platform_optout_record(contact=contact, occurred_at=item.at, detail=error.details)


def _identifiers_learn(item: StatusItem, message: Message) -> None:
    """A status naming the recipient by number and BSUID links both on their contact.

    Meta adds ``recipient_user_id`` to statuses of sends to a phone number too, and the number
    (``recipient_id``) to those of sends to a BSUID while it may share it (whatsapp.webhooks).
    """
    if not item.recipient_user_id:  # checked first: loading the contact would cost a query per status
        return
    contact = message.contact
    if contact.erased_at is not None:
        return
    if contact.bsuid == item.recipient_user_id and (contact.phone or not item.recipient_id):
        return  # nothing new
    wa_id = item.recipient_id or contact.wa_id or (contact.phone or "").lstrip("+")
    if wa_id:  # without a number a BSUID names nobody else for sure: leave it to user_changed_user_id
        contact_for_whatsapp_user(
            wa_id=wa_id, user_id=item.recipient_user_id, parent_user_id=item.recipient_parent_user_id, username=item.username
        )
