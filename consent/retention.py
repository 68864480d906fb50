"""Retention: personal details older than their configured period are deleted or emptied, in bounded batches.

| What | Setting (days) | What happens |
|---|---|---|
| message details | MESSAGE_DETAIL_RETENTION_DAYS | finished messages keep row and status (campaign counts), lose text, WhatsApp id, error detail and decision |
| inbound texts | INBOUND_TEXT_RETENTION_DAYS | messages people sent keep row and keyword action, lose text and button payload |
| behaviour events | EVENT_RETENTION_DAYS | deleted |
| webhook payloads | WHATSAPP_WEBHOOK_RETENTION_DAYS | processed raw deliveries and their receipts deleted |

Each batch (RETENTION_BATCH_SIZE rows) is one short transaction, so the tables stay writable for
the senders and the webhook; a run stops after RETENTION_TIME_BUDGET_SECONDS and the next run
goes on where it stopped. Consent events and audit entries are never pruned: they are the proof.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from campaigns.models import Event, Message, MessageStatus
from whatsapp.models import InboundMessage, WebhookDelivery, WebhookReceipt

logger = logging.getLogger(__name__)

# Messages whose outcome can no longer change: their details are only history.
_FINISHED_STATUSES = (MessageStatus.SKIPPED, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.FAILED)


@dataclass
class RetentionResult:
    """Rows deleted or emptied for one kind of data, and whether none are left past their period."""

    kind: str
    rows: int = 0
    batches: int = 0
    finished: bool = False


@dataclass(frozen=True)
class _Rule:
    kind: str
    days: int
    # Rows past the cutoff that still hold something to remove.
    due: Callable[[datetime], QuerySet]
    # Removes it from the rows with these primary keys; returns how many rows changed.
    apply: Callable[[list], int]


def _rules() -> list[_Rule]:
    return [
        _Rule(
            "message_details",
            settings.MESSAGE_DETAIL_RETENTION_DAYS,
            lambda cutoff: Message.objects.filter(created_at__lt=cutoff, status__in=_FINISHED_STATUSES).filter(
                ~Q(body="") | ~Q(error_detail="") | ~Q(decision={}) | Q(wamid__isnull=False)
            ),
            lambda pks: Message.objects.filter(pk__in=pks).update(body="", error_detail="", decision={}, wamid=None),
        ),
        _Rule(
            "inbound_texts",
            settings.INBOUND_TEXT_RETENTION_DAYS,
            lambda cutoff: InboundMessage.objects.filter(received_at__lt=cutoff).filter(~Q(text="") | ~Q(payload="")),
            lambda pks: InboundMessage.objects.filter(pk__in=pks).update(text="", payload=""),
        ),
        _Rule(
            "events",
            settings.EVENT_RETENTION_DAYS,
            lambda cutoff: Event.objects.filter(occurred_at__lt=cutoff),
            lambda pks: Event.objects.filter(pk__in=pks).delete()[0],
        ),
        _Rule(
            "webhook_payloads",
            settings.WHATSAPP_WEBHOOK_RETENTION_DAYS,
            lambda cutoff: WebhookDelivery.objects.filter(received_at__lt=cutoff, processed_at__isnull=False),
            lambda pks: WebhookDelivery.objects.filter(pk__in=pks).delete()[0],
        ),
        # Receipts name WhatsApp ids and message ids; Meta stops repeating a delivery long before this.
        _Rule(
            "webhook_receipts",
            settings.WHATSAPP_WEBHOOK_RETENTION_DAYS,
            lambda cutoff: WebhookReceipt.objects.filter(handled_at__lt=cutoff),
            lambda pks: WebhookReceipt.objects.filter(pk__in=pks).delete()[0],
        ),
    ]


def retention_apply(
    *, batch_size: int | None = None, time_budget_seconds: float | None = None, now: datetime | None = None
) -> list[RetentionResult]:
    """Apply every retention period, ``batch_size`` rows per statement, until done or out of time.

    Returns one result per kind of data; ``finished`` is False for a kind the time budget cut short.
    """
    batch_size = batch_size or settings.RETENTION_BATCH_SIZE
    budget = settings.RETENTION_TIME_BUDGET_SECONDS if time_budget_seconds is None else time_budget_seconds
    deadline = time.monotonic() + budget
    now = now or timezone.now()
    results = []
    for rule in _rules():
        result = RetentionResult(kind=rule.kind)
        due = rule.due(now - timezone.timedelta(days=rule.days)).order_by("pk").values_list("pk", flat=True)
        while time.monotonic() < deadline:
            with transaction.atomic():
                pks = list(due[:batch_size])
                if pks:
                    result.rows += rule.apply(pks)
                    result.batches += 1
            if len(pks) < batch_size:
                result.finished = True
                break
        results.append(result)
        if result.rows:
            logger.info("retention: %s rows of %s past %s days", result.rows, rule.kind, rule.days)
    return results
