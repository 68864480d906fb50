"""Writes of the WhatsApp side: webhook deliveries, statuses, inbound messages, replies, platform opt-outs.

A delivery is stored before Meta gets its 200 and processed by a worker (``webhook_delivery_process``).
Opt-outs inside it are applied at once, in the request (``webhook_delivery_receive``), so nothing
is sent to that person after we answered. Every item is idempotent: statuses by (wamid, status),
inbound messages by their id, preference notices by their content.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from campaigns.models import Message, MessageStatus
from campaigns.services import StatusReport, message_status_apply, message_statuses_apply
from consent import keywords
from consent.models import ConsentSource, ConsentStatus, Contact
from consent.phones import InvalidPhoneNumber
from consent.selectors import contact_consent_status
from consent.services import Evidence, consent_revoke, contact_upsert, number_is_suppressed
from core.audit import Actor, audit_record
from whatsapp import webhooks
from whatsapp.client import PLATFORM_OPTOUT_CODE, SendResult, WhatsAppError, send_text
from whatsapp.models import InboundMessage, OptInConfirmation, WebhookDelivery, WebhookReceipt

logger = logging.getLogger(__name__)

PLATFORM_ACTOR = Actor(label="whatsapp platform")
# A free-form reply that keeps failing transiently is given up after this many attempts.
REPLY_MAX_ATTEMPTS = 5


class WebhookProcessingError(Exception):
    """Some items of a delivery failed; the others were applied. The task retries the delivery."""


class SendRetryLater(Exception):
    """A send failed transiently; the task should try again later."""


# --- contacts -----------------------------------------------------------------------------------


def contact_for_wa_id(*, wa_id: str, profile_name: str = "") -> Contact | None:
    """The contact who writes from ``wa_id``; an unknown sender becomes a contact without consent."""
    contact = (
        Contact.objects.filter(Q(wa_id=wa_id) | Q(phone=f"+{wa_id}"), erased_at__isnull=True).order_by("pk").first()
    )
    if contact is not None:
        return contact
    try:
        contact, _ = contact_upsert(phone=f"+{wa_id}", name=profile_name or None, wa_id=wa_id)
    except InvalidPhoneNumber:
        logger.warning("inbound WhatsApp id %s is not a valid phone number; message kept without contact", wa_id)
        return None
    return contact


# --- platform opt-out ---------------------------------------------------------------------------


@transaction.atomic
def platform_optout_record(*, wa_id: str, occurred_at: datetime | None = None, detail: str = "") -> bool:
    """Record that the person stopped marketing messages in WhatsApp itself (error 131050).

    Call it wherever a 131050 is seen: the failed-status webhook does, and so should the campaign
    sender when a send answers 131050. Records an opt-out with source ``platform`` unless the
    contact is already opted out and suppressed. Returns True when an opt-out was recorded.
    """
    contact = contact_for_wa_id(wa_id=wa_id)
    if contact is None:
        return False
    if contact_consent_status(contact) == ConsentStatus.OPTED_OUT and number_is_suppressed(contact.phone):
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


# --- webhook deliveries -------------------------------------------------------------------------


def webhook_delivery_receive(*, body: bytes, envelope: dict) -> int:
    """Store a signed, well-formed delivery, apply its opt-outs now and queue the rest for a worker.

    The same body arriving again is stored once; it is queued again only if not yet processed.
    Returns the delivery's id.
    """
    digest = hashlib.sha256(body).hexdigest()
    if _carries_optouts(envelope):
        with transaction.atomic():
            delivery_id, pending = _delivery_store(digest, body)
            if pending:
                _optouts_apply_now(envelope, WebhookDelivery.objects.get(pk=delivery_id))
    else:  # statuses, nearly every delivery: one statement, no transaction held open
        delivery_id, pending = _delivery_store(digest, body)
    if pending:
        # robust: the delivery is stored; if the broker is down the sweeper queues it later.
        transaction.on_commit(_drain_request, robust=True)
    return delivery_id


def _delivery_store(digest: str, body: bytes) -> tuple[int, bool]:
    """Insert the delivery, or count one more arrival of it: (its id, whether it still needs processing)."""
    table = WebhookDelivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (body_sha256, body, received_at, repeat_count, attempts, last_error)
            VALUES (%s, %s, %s, 0, 0, '')
            ON CONFLICT (body_sha256) DO UPDATE SET repeat_count = {table}.repeat_count + 1
            RETURNING id, processed_at
            """,
            [digest, body.decode("utf-8"), timezone.now()],
        )
        delivery_id, processed_at = cursor.fetchone()
    return delivery_id, processed_at is None


def _carries_optouts(envelope: dict) -> bool:
    """Whether the delivery holds something ``_optouts_apply_now`` applies before we answer."""
    for field, value in webhooks.envelope_changes(envelope):
        if field == "user_preferences" and next(webhooks.preferences(value), None) is not None:
            return True
        if field == "messages" and any(_is_optout(item) for item in webhooks.inbound_messages(value)):
            return True
    return False


def _delivery_enqueue(delivery_id: int) -> None:
    from whatsapp.tasks import webhook_delivery_process_task

    webhook_delivery_process_task.delay(delivery_id)


def webhook_deliveries_requeue(*, older_than_seconds: int = 60, max_attempts: int = 10) -> list[int]:
    """Queue again the deliveries still unprocessed after a while (a broker outage, a lost task)."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    stale = list(
        WebhookDelivery.objects.filter(processed_at__isnull=True, received_at__lt=cutoff, attempts__lt=max_attempts)
        .order_by("received_at")
        .values_list("pk", flat=True)[:1000]
    )
    for delivery_id in stale:
        _delivery_enqueue(delivery_id)
    return stale


def _is_optout(item: webhooks.InboundItem) -> bool:
    if item.type == "text":
        return keywords.keyword_match(item.text) is keywords.KeywordAction.OPT_OUT
    if item.type in ("button", "interactive"):
        return keywords.optout_button_match(item.payload, item.text)
    return False


def _optouts_apply_now(envelope: dict, delivery: WebhookDelivery) -> None:
    """Opt-out keywords, opt-out buttons and preference stops take effect before we answer 200.

    A failure here must not lose the delivery: it is logged and the worker applies the item later.
    """
    for field, value in webhooks.envelope_changes(envelope):
        try:
            with transaction.atomic():
                if field == "messages":
                    for item in webhooks.inbound_messages(value):
                        if _is_optout(item):
                            inbound_message_handle(item=item, delivery=delivery)
                elif field == "user_preferences":
                    for preference in webhooks.preferences(value):
                        preference_handle(item=preference, delivery=delivery)
        except Exception:
            logger.exception("opt-out in webhook delivery %s failed; left to the worker", delivery.pk)


def webhook_delivery_process(*, delivery_id: int) -> WebhookDelivery | None:
    """Apply every change of every entry of a stored delivery (idempotent item by item)."""
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None or delivery.processed_at is not None:
        return delivery
    envelope = webhooks.envelope_parse(delivery.body.encode("utf-8"))
    failures: list[str] = []
    for field, value in webhooks.envelope_changes(envelope):
        for handle, item in _change_items(field, value):
            try:
                with transaction.atomic():
                    handle(item=item, delivery=delivery)
            except Exception as exc:
                logger.exception("webhook delivery %s: %s item failed", delivery.pk, field)
                failures.append(f"{field}: {exc.__class__.__name__}: {exc}")
    processed_at = None if failures else timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=F("attempts") + 1, last_error="\n".join(failures)[:5000], processed_at=processed_at
    )
    if failures:
        raise WebhookProcessingError(f"{len(failures)} item(s) of webhook delivery {delivery.pk} failed")
    delivery.attempts, delivery.last_error, delivery.processed_at = delivery.attempts + 1, "", processed_at
    return delivery


# --- batched processing: what the workers run for fresh deliveries ------------------------------

DRAIN_FLAG = "retarget:webhook-drain"  # set while a drain runs (renewed per batch)
DRAIN_FLAG_SECONDS = 2  # a drain that died with its worker stops counting as running after this
DRAIN_BATCH = 200


def _drain_request() -> None:
    """Queue a drain of the fresh deliveries unless one is running (it takes this delivery too).

    Only a running drain holds the flag, so a queued task that is lost (a purge, a broker restart)
    never holds deliveries back; a few extra tasks queued at the start of a burst exit at once.
    """
    from django.core.cache import cache

    from whatsapp.tasks import webhook_deliveries_drain_task

    if cache.get(DRAIN_FLAG) is None:
        webhook_deliveries_drain_task.delay()


def webhook_deliveries_drain(*, time_budget: float = 30.0, batch_size: int = DRAIN_BATCH) -> bool:
    """Apply fresh deliveries in batches until none is left; True when time ran out with work left.

    Status-only deliveries (nearly all) are applied together: their receipts in one statement and
    their messages with one locking read and one write (``message_statuses_apply``). Any other
    delivery goes through ``webhook_delivery_process``. A delivery that failed once is left to the
    sweeper (``webhook_deliveries_requeue``), which retries it on its own. Returns at once when
    another drain is running.
    """
    from django.core.cache import cache

    if not cache.add(DRAIN_FLAG, 1, timeout=DRAIN_FLAG_SECONDS):
        return False
    deadline = time.monotonic() + time_budget
    after: tuple[datetime, int] | None = None  # where the last batch ended: the next starts there
    while time.monotonic() < deadline:
        claimed, last = _deliveries_batch_apply(batch_size, after=after)
        if claimed:
            after = last
            cache.set(DRAIN_FLAG, 1, timeout=DRAIN_FLAG_SECONDS)
            continue
        if after is not None:  # one committed late behind the position: look from the start once more
            after = None
            continue
        # Drop the flag, then look again: a delivery stored meanwhile is either seen here or
        # queues a drain of its own.
        cache.delete(DRAIN_FLAG)
        if not _fresh_deliveries().exists() or not cache.add(DRAIN_FLAG, 1, timeout=DRAIN_FLAG_SECONDS):
            return False
        time.sleep(0.05)  # held by a drain that just ended its batch (SKIP LOCKED): let it commit
    cache.delete(DRAIN_FLAG)  # the task queued next takes over
    return True


# Only deliveries received this recently are drained (a range of the unprocessed-deliveries index, however many
# days of processed deliveries the table keeps); older unprocessed ones are the sweeper's.
DRAIN_WINDOW = timezone.timedelta(minutes=10)


def _fresh_deliveries() -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(
        received_at__gte=timezone.now() - DRAIN_WINDOW, processed_at__isnull=True, attempts=0
    )


def _deliveries_batch_apply(batch_size: int, *, after: tuple[datetime, int] | None) -> tuple[int, tuple[datetime, int] | None]:
    """Claim up to ``batch_size`` fresh deliveries (after the position ``after``) and apply them.

    Returns how many were claimed and the position of the last one. Starting after the previous
    batch keeps each claim from walking again over the deliveries already processed.
    """
    others: list[int] = []
    fresh = _fresh_deliveries()
    if after is not None:
        # The first condition bounds the index range; the OR (a filter, not an index condition) breaks ties.
        fresh = fresh.filter(received_at__gte=after[0]).filter(Q(received_at__gt=after[0]) | Q(received_at=after[0], pk__gt=after[1]))
    with transaction.atomic():
        deliveries = list(fresh.select_for_update(skip_locked=True).order_by("received_at", "pk")[:batch_size])
        statuses: list[tuple[WebhookDelivery, webhooks.StatusItem]] = []
        for delivery in deliveries:
            items = _status_items_only(delivery)
            if items is None:
                others.append(delivery.pk)
            else:
                statuses.extend((delivery, item) for item in items)
        applied = [delivery.pk for delivery in deliveries if delivery.pk not in others]
        try:
            with transaction.atomic():
                _statuses_apply(statuses)
        except Exception:
            logger.exception("batch of %s webhook deliveries failed; applying them one by one", len(applied))
            others, applied = [delivery.pk for delivery in deliveries], []
        if applied:
            WebhookDelivery.objects.filter(pk__in=applied).update(attempts=F("attempts") + 1, last_error="", processed_at=timezone.now())
    for delivery_id in others:  # each in its own transactions, as its own task would
        try:
            webhook_delivery_process(delivery_id=delivery_id)
        except WebhookProcessingError as exc:
            logger.warning("%s; the sweeper retries it", exc)
    return len(deliveries), ((deliveries[-1].received_at, deliveries[-1].pk) if deliveries else None)


def _status_items_only(delivery: WebhookDelivery) -> list[webhooks.StatusItem] | None:
    """The delivery's statuses when it holds nothing else, else None."""
    try:
        envelope = webhooks.envelope_parse(delivery.body.encode("utf-8"))
    except webhooks.InvalidEnvelope:
        return None
    items: list[webhooks.StatusItem] = []
    for field, value in webhooks.envelope_changes(envelope):
        if field != "messages" or next(webhooks.inbound_messages(value), None) is not None:
            return None
        items.extend(webhooks.statuses(value))
    return items


def _statuses_apply(items: list[tuple[WebhookDelivery, webhooks.StatusItem]]) -> None:
    """``status_handle`` for many statuses: receipts claimed together, messages moved together."""
    claimed = _receipts_claim([(_status_key(item), delivery.pk) for delivery, item in items])
    todo = []
    for _, item in items:
        key = _status_key(item)
        if key in claimed:
            claimed.discard(key)  # a status repeated within the batch is applied once
            todo.append((item, *_status_report(item)))
    messages = message_statuses_apply([report for _, report, _ in todo])
    for (item, _, error), message in zip(todo, messages, strict=True):
        _status_applied(item, error, message)


def _receipts_claim(keys: list[tuple[str, int | None]]) -> set[str]:
    """``_receipt_claim`` for many (key, delivery id): the keys seen for the first time."""
    if not keys:
        return set()
    if connection.vendor != "postgresql":
        return {key for key, delivery_id in keys if _receipt_claim(key, WebhookDelivery(pk=delivery_id))}
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {WebhookReceipt._meta.db_table} (key, delivery_id, handled_at) "
            "SELECT key, delivery_id, %s FROM unnest(%s::varchar[], %s::bigint[]) AS claim(key, delivery_id) "
            "ON CONFLICT (key) DO NOTHING RETURNING key",
            [timezone.now(), [key[:300] for key, _ in keys], [delivery_id for _, delivery_id in keys]],
        )
        return {row[0] for row in cursor.fetchall()}


def _change_items(field: str, value: dict) -> list[tuple[Callable, object]]:
    from whatsapp import template_sync

    if field == "messages":
        return [(status_handle, s) for s in webhooks.statuses(value)] + [
            (inbound_message_handle, m) for m in webhooks.inbound_messages(value)
        ]
    if field == "user_preferences":
        return [(preference_handle, p) for p in webhooks.preferences(value)]
    if field == "message_template_status_update":
        return [(template_sync.template_status_webhook_apply, value)]
    if field == "message_template_quality_update":
        return [(template_sync.template_quality_webhook_apply, value)]
    if field in ACCOUNT_FIELDS:
        return [(account_notice_record, {"field": field, "value": value})]
    logger.info("webhook field %s noted without action", field)
    return []


# Account-level notices (quality rating, messaging tier, restrictions): kept in the audit log for staff.
ACCOUNT_FIELDS = ("account_update", "phone_number_quality_update", "account_alerts", "business_capability_update")


def account_notice_record(*, item: dict, delivery: WebhookDelivery | None = None) -> None:
    """Audit-log an account notice from Meta once (e.g. a quality drop or a messaging tier change)."""
    value = item["value"]
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
    if not _receipt_claim(f"account:{item['field']}:{digest}", delivery):
        return
    audit_record(actor=PLATFORM_ACTOR, action=f"whatsapp.{item['field']}"[:60], object_type="whatsapp_account", details=value)
    logger.warning("WhatsApp %s: %s", item["field"], value.get("event") or value.get("current_limit") or "see audit log")


def _receipt_claim(key: str, delivery: WebhookDelivery | None) -> bool:
    """True the first time ``key`` is seen; a concurrent duplicate waits and then gets False."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {WebhookReceipt._meta.db_table} (key, delivery_id, handled_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (key) DO NOTHING RETURNING id",
            [key[:300], delivery.pk if delivery is not None else None, timezone.now()],
        )
        return cursor.fetchone() is not None


# --- items --------------------------------------------------------------------------------------


def status_handle(*, item: webhooks.StatusItem, delivery: WebhookDelivery | None = None) -> Message | None:
    """Apply one status (forward only) once; a failed 131050 also records a platform opt-out."""
    if not _receipt_claim(_status_key(item), delivery):
        return None
    report, error = _status_report(item)
    message = message_status_apply(report)
    _status_applied(item, error, message)
    return message


def _status_key(item: webhooks.StatusItem) -> str:
    return f"status:{item.wamid}:{item.status}"


def _status_report(item: webhooks.StatusItem) -> tuple[StatusReport, WhatsAppError | None]:
    error = WhatsAppError.from_error_object(item.errors[0]) if item.errors else None
    report = StatusReport(
        wamid=item.wamid,
        status=item.status,
        at=item.at,
        callback_data=item.callback_data,
        error_code=error.code if error else None,
        error_title=error.title if error else "",
        error_detail=(error.details or error.message) if error else "",
    )
    return report, error


def _status_applied(item: webhooks.StatusItem, error: WhatsAppError | None, message: Message | None) -> None:
    if message is None:
        logger.info("status %s for unknown message %s", item.status, item.wamid)
    if item.status == "failed" and error is not None and error.records_platform_optout:
        wa_id = item.recipient_id or (message.contact.wa_id if message else "")
        if wa_id:
            platform_optout_record(wa_id=wa_id, occurred_at=item.at, detail=error.details)


def inbound_message_handle(*, item: webhooks.InboundItem, delivery: WebhookDelivery | None = None) -> InboundMessage | None:
    """Store a message the person sent (once), open their 24-hour window and act on keywords."""
    from whatsapp.double_optin import double_optin_confirm

    contact = contact_for_wa_id(wa_id=item.from_wa_id, profile_name=item.profile_name)
    try:
        with transaction.atomic():
            inbound = InboundMessage.objects.create(
                wamid=item.wamid,
                contact=contact,
                from_wa_id=item.from_wa_id,
                type=item.type,
                text=item.text,
                payload=item.payload,
                context_wamid=item.context_wamid,
                sent_at=item.sent_at,
                delivery=delivery,
            )
    except IntegrityError:
        return None  # already handled (a repeated delivery)
    if contact is None:
        return inbound
    Contact.objects.filter(pk=contact.pk).filter(
        Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=item.sent_at)
    ).update(last_inbound_at=item.sent_at)

    reply = ""
    confirmation = double_optin_confirm(contact=contact, inbound=inbound)
    if confirmation is not None:
        inbound.keyword_action, reply = "confirm", confirmation.reply
    else:
        action, source = _keyword_action(item)
        if action is not None:
            outcome = keywords.keyword_apply(
                contact=contact, action=action, text=item.text or item.payload, message_id=item.wamid,
                sent_at=item.sent_at, source=source,
            )  # fmt: skip
            inbound.keyword_action, reply = action.value, outcome.reply
    if reply:
        reply_queue(contact=contact, body=reply)
        inbound.answered = True
        inbound.save(update_fields=["keyword_action", "answered"])
    return inbound


def _keyword_action(item: webhooks.InboundItem) -> tuple[keywords.KeywordAction | None, str]:
    if item.type == "text":
        return keywords.keyword_match(item.text), ConsentSource.INBOUND_KEYWORD
    if item.type in ("button", "interactive") and keywords.optout_button_match(item.payload, item.text):
        return keywords.KeywordAction.OPT_OUT, ConsentSource.OPTOUT_BUTTON
    return None, ""


def preference_handle(*, item: webhooks.PreferenceItem, delivery: WebhookDelivery | None = None) -> None:
    """Meta's ``user_preferences``: a marketing ``stop`` opts out; ``resume`` changes no consent."""
    if item.category != "marketing_messages":
        return
    if not _receipt_claim(f"preference:{item.wa_id}:{item.category}:{item.value}:{item.raw_timestamp}", delivery):
        return
    contact = contact_for_wa_id(wa_id=item.wa_id)
    if contact is not None:
        keywords.marketing_preference_apply(contact=contact, value=item.value, sent_at=item.at)


# --- outgoing service messages (keyword confirmations, opt-in confirmations) ----------------------


def reply_queue(*, contact: Contact, body: str) -> Message:
    """Record a free-form reply as a Message (so it gets statuses) and send it after commit."""
    message = Message.objects.create(kind=Message.Kind.REPLY, contact=contact, body=body, status=MessageStatus.QUEUED)

    def enqueue() -> None:
        from whatsapp.tasks import reply_send_task

        reply_send_task.delay(str(message.pk))

    transaction.on_commit(enqueue, robust=True)  # a broker error must not undo the opt-out it confirms
    return message


def replies_requeue(*, older_than_seconds: int = 60) -> list[str]:
    """Queue again the free-form replies still waiting after a while (their task was lost)."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    stale = [
        str(pk)
        for pk in Message.objects.filter(kind=Message.Kind.REPLY, status=MessageStatus.QUEUED, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:1000]
    ]
    from whatsapp.tasks import reply_send_task

    for message_id in stale:
        reply_send_task.delay(message_id)
    return stale


def message_deliver(*, message_id: str, send: Callable[[Message], SendResult]) -> Message | None:
    """Send one queued service message with ``send`` and record the outcome on its row.

    Claims the row first (queued -> sending) so a repeated task never sends twice. A transient
    failure puts it back to queued and raises SendRetryLater (up to REPLY_MAX_ATTEMPTS attempts).
    A failure never touches consent: the keyword or opt-in it confirms is already recorded.
    """
    with transaction.atomic():
        message = Message.objects.select_for_update().select_related("contact").filter(pk=message_id).first()
        if message is None or message.status != MessageStatus.QUEUED:
            return message
        message.status, message.claimed_at = MessageStatus.SENDING, timezone.now()
        message.attempts += 1
        message.save(update_fields=["status", "claimed_at", "attempts"])
    try:
        result = send(message)
    except WhatsAppError as error:
        logger.warning("%s message %s to contact %s failed: %s", message.kind, message.pk, message.contact_id, error)
        if error.retry_later and message.attempts < REPLY_MAX_ATTEMPTS:
            Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(status=MessageStatus.QUEUED)
            raise SendRetryLater(str(error)) from error
        now = timezone.now()
        Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
            status=MessageStatus.FAILED, failed_at=now, error_code=error.code,
            error_title=(error.title or error.message)[:300], error_detail=error.details,
        )  # fmt: skip
        message.refresh_from_db()
        return message
    now = timezone.now()
    # A status webhook may already have moved the row on (matched by callback data): keep its progress.
    moved = Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
        status=MessageStatus.ACCEPTED, wamid=result.wamid, accepted_at=now
    )
    if not moved:
        Message.objects.filter(pk=message.pk, accepted_at__isnull=True).update(accepted_at=now)
    message.refresh_from_db()
    return message


def reply_send(*, message_id: str) -> Message | None:
    """Send a queued free-form reply (kind=reply) with send_text."""

    def send(message: Message) -> SendResult:
        to = message.contact.wa_id or message.contact.phone or ""
        return send_text(to=to, body=message.body, callback_data=message.callback_data)

    return message_deliver(message_id=message_id, send=send)


# --- personal data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WhatsAppErasure:
    inbound_messages: int
    deliveries: int
    confirmations: int


@transaction.atomic
def contact_whatsapp_data_erase(*, contact: Contact) -> WhatsAppErasure:
    """Remove what the WhatsApp side keeps about a person: message texts, raw deliveries, device evidence.

    Call it while the contact still has its number (the raw deliveries are found by WhatsApp id).
    The InboundMessage rows stay, emptied, so support statistics keep their counts.
    """
    wa_id = contact.wa_id or (contact.phone or "").lstrip("+")
    senders = Q(contact=contact) | Q(from_wa_id=wa_id) if wa_id else Q(contact=contact)
    inbound = InboundMessage.objects.filter(senders).update(text="", payload="", from_wa_id="")
    deliveries = WebhookDelivery.objects.filter(body__contains=f'"{wa_id}"').delete()[0] if wa_id else 0
    confirmations = OptInConfirmation.objects.filter(contact=contact).update(page_url="", ip_address=None, user_agent="")
    return WhatsAppErasure(inbound_messages=inbound, deliveries=deliveries, confirmations=confirmations)


def webhook_deliveries_prune(*, older_than_days: int) -> int:
    """Delete processed raw deliveries older than the retention period; what they caused stays."""
    cutoff = timezone.now() - timezone.timedelta(days=older_than_days)
    deleted, _ = WebhookDelivery.objects.filter(processed_at__isnull=False, received_at__lt=cutoff).delete()
    return deleted
