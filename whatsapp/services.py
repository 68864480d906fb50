"""Webhook deliveries: stored before Meta gets its 200, then handed to the apps' handlers.

A delivery is stored as received (deduplicated by its body) and its items are handed to the
handlers registered in whatsapp.handlers; items for a number or account that is not ours
(whatsapp.numbers) are counted on the delivery (``foreign_items``) and handed to no handler. Items a handler marks urgent (opt-outs) are applied at
once, in the request (``webhook_delivery_receive``), so nothing is sent to that person after we
answered; the rest is drained by workers in batches. Handlers are idempotent: statuses by
(wamid, status) receipts, inbound messages by their id, preference notices by their content.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from core.audit import PLATFORM_ACTOR, audit_record
from core.redis import redis_client
from whatsapp import account, handlers, template_sync, webhooks
from whatsapp.group_commit import DeliveryGroupCommit, deliveries_upsert
from whatsapp.models import WebhookDelivery, WebhookReceipt
from whatsapp.webhooks import ItemKind

logger = logging.getLogger(__name__)



class WebhookProcessingError(Exception):
    """Some items of a delivery failed; the others were applied. The task retries the delivery."""



# --- webhook deliveries -------------------------------------------------------------------------


def webhook_delivery_receive(*, body: bytes, envelope: dict) -> int:
    """Store a signed, well-formed delivery, apply its opt-outs now and queue the rest for a worker.

    The same body arriving again is stored once; it is queued again only if not yet processed.
    In a web worker (``webhook_group_commit_start``) a delivery without opt-outs is stored together
    with the others waiting in the process; it is committed when this returns either way.
    Returns the delivery's id.
    """
    digest = hashlib.sha256(body).hexdigest()
    foreign = webhooks.envelope_foreign(envelope)
    foreign_items = sum(change.items for change in foreign)
    drain_requested = False
    if _carries_optouts(envelope):
        with transaction.atomic():
            delivery_id, pending = _delivery_store(digest, body, foreign_items=foreign_items)
            if pending:
                _optouts_apply_now(envelope, WebhookDelivery(pk=delivery_id))  # handlers read only its id
    elif _group_commit is not None and not connection.in_atomic_block:
        # statuses, nearly every delivery: stored with the others waiting in this process, outside any transaction
        delivery_id, pending = _group_commit.store(
            digest=digest, body=body.decode("utf-8"), received_at=timezone.now(), foreign_items=foreign_items
        )
        drain_requested = True  # by the group's flusher, once per group
    else:  # one statement, no transaction held open
        delivery_id, pending = _delivery_store(digest, body, foreign_items=foreign_items)
    if foreign:
        logger.warning(
            "webhook delivery %s: ignored %s item(s) not for our numbers (%s)", delivery_id, foreign_items,
            ", ".join(sorted({f"{change.field} for {change.owner}" for change in foreign})),
        )  # fmt: skip
    if pending and not drain_requested:
        # robust: the delivery is stored; if the broker is down the sweeper queues it later.
        transaction.on_commit(_drain_request, robust=True)
    return delivery_id


# Set in web server processes (retarget.gunicorn_conf): a thread that outlives requests is theirs to run.
_group_commit: DeliveryGroupCommit | None = None


def webhook_group_commit_start() -> None:
    """From now on this process stores status deliveries in groups (whatsapp.group_commit), on PostgreSQL."""
    global _group_commit
    if connection.vendor == "postgresql" and _group_commit is None:
        _group_commit = DeliveryGroupCommit(table=WebhookDelivery._meta.db_table, after_commit=_drain_request)


def webhook_group_commit_stop() -> None:
    """Store the deliveries still waiting and close the group commit's connection (a web worker's exit)."""
    global _group_commit
    if _group_commit is not None:
        _group_commit.stop()
        _group_commit = None


def _delivery_store(digest: str, body: bytes, *, foreign_items: int) -> tuple[int, bool]:
    """Insert the delivery, or count one more arrival of it: (its id, whether it still needs processing)."""
    rows = [(digest, body.decode("utf-8"), timezone.now(), 0, foreign_items)]
    return deliveries_upsert(WebhookDelivery._meta.db_table, rows)[digest]


def _carries_optouts(envelope: dict) -> bool:
    """Whether the delivery holds an item a handler applies before we answer (an opt-out)."""
    return any(handlers.is_urgent(kind, item) for kind, item in webhooks.envelope_items(envelope))


def _delivery_enqueue(delivery_id: int) -> None:
    from whatsapp.tasks import webhook_delivery_process_task

    webhook_delivery_process_task.delay(delivery_id)


def webhook_deliveries_requeue(*, older_than_seconds: int = 60, max_attempts: int = 10) -> list[int]:
    """Queue again the deliveries still unprocessed after a while (a broker outage, a lost task)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stale = list(
        WebhookDelivery.objects.filter(processed_at__isnull=True, received_at__lt=cutoff, attempts__lt=max_attempts)
        .order_by("received_at")
        .values_list("pk", flat=True)[:1000]
    )
    for delivery_id in stale:
        _delivery_enqueue(delivery_id)
    return stale


def _optouts_apply_now(envelope: dict, delivery: WebhookDelivery) -> None:
    """Urgent items (opt-out keywords, opt-out buttons, preference stops) take effect before we answer 200.

    A failure here must not lose the delivery: it is logged and the worker applies the item later.
    """
    for kind, item in webhooks.envelope_items(envelope):
        if not handlers.is_urgent(kind, item):
            continue
        try:
            with transaction.atomic():
                handlers.items_dispatch(kind, [(item, delivery)])
        except Exception:
            logger.exception("opt-out in webhook delivery %s failed; left to the worker", delivery.pk)


def webhook_delivery_process(*, delivery_id: int) -> WebhookDelivery | None:
    """Apply every change of every entry of a stored delivery (idempotent item by item)."""
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None or delivery.processed_at is not None:
        return delivery
    envelope = webhooks.envelope_parse(delivery.body.encode("utf-8"))
    failures: list[str] = []
    for kind, item in webhooks.envelope_items(envelope):
        try:
            with transaction.atomic():
                handlers.items_dispatch(kind, [(item, delivery)])
        except Exception as exc:
            logger.exception("webhook delivery %s: %s item failed", delivery.pk, kind)
            failures.append(f"{kind}: {exc.__class__.__name__}: {exc}")
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
    from whatsapp.tasks import webhook_deliveries_drain_task

    if not _drain_running():
        webhook_deliveries_drain_task.delay()


def _drain_running() -> bool:
    """Whether a drain holds its flag (asked once per stored delivery).

    Through the process's Redis client when the cache is that same Redis: Django's Redis cache
    builds a new client object on every call, which was a third of the webhook intake's CPU (py-spy).
    """
    from django.conf import settings
    from django.core.cache import cache

    if settings.REDIS_URL and settings.CACHES["default"].get("LOCATION") == settings.REDIS_URL:
        return bool(redis_client().exists(cache.make_key(DRAIN_FLAG)))
    return cache.get(DRAIN_FLAG) is not None


def webhook_deliveries_drain(*, time_budget: float = 30.0, batch_size: int = DRAIN_BATCH) -> bool:
    """Apply fresh deliveries in batches until none is left; True when time ran out with work left.

    Status-only deliveries (nearly all) are handed to the status handlers together, in one
    transaction (campaigns applies them with one locking read and one write). Any other
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
DRAIN_WINDOW = timedelta(minutes=10)


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
        statuses: handlers.ItemPairs = []
        for delivery in deliveries:
            items = _status_items_only(delivery)
            if items is None:
                others.append(delivery.pk)
            else:
                statuses.extend((item, delivery) for item in items)
        applied = [delivery.pk for delivery in deliveries if delivery.pk not in others]
        try:
            with transaction.atomic():
                handlers.items_dispatch(ItemKind.STATUS, statuses)
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
    for kind, item in webhooks.envelope_items(envelope):
        if kind != ItemKind.STATUS:
            return None
        items.append(item)  # type: ignore[arg-type]
    return items


def receipts_claim(keys: list[tuple[str, int | None]]) -> set[str]:
    """``receipt_claim`` for many (key, delivery id): the keys seen for the first time.

    Handlers use receipts to apply a repeated item once.
    """
    if not keys:
        return set()
    if connection.vendor != "postgresql":
        return {key for key, delivery_id in keys if receipt_claim(key, WebhookDelivery(pk=delivery_id))}
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {WebhookReceipt._meta.db_table} (key, delivery_id, handled_at) "
            "SELECT key, delivery_id, %s FROM unnest(%s::varchar[], %s::bigint[]) AS claim(key, delivery_id) "
            "ON CONFLICT (key) DO NOTHING RETURNING key",
            [timezone.now(), [key[:300] for key, _ in keys], [delivery_id for _, delivery_id in keys]],
        )
        return {row[0] for row in cursor.fetchall()}


def changes_handle(pairs: handlers.ItemPairs) -> None:
    """Template, quality and account updates: the WhatsApp app's own (registered in its ready())."""
    for item, delivery in pairs:
        if item.field == "message_template_status_update":
            template_sync.template_status_webhook_apply(item=item.value, delivery=delivery)
        elif item.field == "message_template_quality_update":
            template_sync.template_quality_webhook_apply(item=item.value, delivery=delivery)
        elif item.field == "template_category_update":
            template_sync.template_category_webhook_apply(item=item.value, delivery=delivery)
        elif item.field == webhooks.OUT_OF_BAND_ERRORS:
            if _first_time(item, delivery):
                account.out_of_band_errors_record(value=item.value)
        elif item.field in ACCOUNT_FIELDS:
            if item.field in ("phone_number_quality_update", "account_update"):
                account.messaging_limit_record(value=item.value)
            account_notice_record(item={"field": item.field, "value": item.value}, delivery=delivery)
        else:
            logger.info("webhook field %s noted without action", item.field)


def _first_time(item: webhooks.ChangeItem, delivery: WebhookDelivery | None) -> bool:
    """Whether this change is seen for the first time (Meta repeats deliveries)."""
    digest = hashlib.sha256(json.dumps(item.value, sort_keys=True).encode()).hexdigest()
    return receipt_claim(f"change:{item.field}:{delivery.pk if delivery else '-'}:{digest}", delivery)


# Account-level notices (quality rating, messaging tier, restrictions): kept in the audit log for staff.
ACCOUNT_FIELDS = ("account_update", "phone_number_quality_update", "account_alerts", "business_capability_update")


def account_notice_record(*, item: dict, delivery: WebhookDelivery | None = None) -> None:
    """Audit-log an account notice from Meta once (e.g. a quality drop or a messaging tier change)."""
    value = item["value"]
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
    if not receipt_claim(f"account:{item['field']}:{digest}", delivery):
        return
    audit_record(actor=PLATFORM_ACTOR, action=f"whatsapp.{item['field']}"[:60], object_type="whatsapp_account", details=value)
    logger.warning("WhatsApp %s: %s", item["field"], value.get("event") or value.get("current_limit") or "see audit log")


def receipt_claim(key: str, delivery: WebhookDelivery | None) -> bool:
    """True the first time ``key`` is seen; a concurrent duplicate waits and then gets False."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {WebhookReceipt._meta.db_table} (key, delivery_id, handled_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (key) DO NOTHING RETURNING id",
            [key[:300], delivery.pk if delivery is not None else None, timezone.now()],
        )
        return cursor.fetchone() is not None
