"""Retention: personal details older than their configured period are deleted or emptied, in bounded batches.

| What | Setting (days) | What happens |
|---|---|---|
| message details | MESSAGE_DETAIL_RETENTION_DAYS | finished messages keep row and status (campaign counts), lose text, WhatsApp id, error detail and decision |
| inbound texts | INBOUND_TEXT_RETENTION_DAYS | messages people sent keep row and keyword action, lose text and button payload |
| behaviour events | EVENT_RETENTION_DAYS | deleted |
| webhook payloads | WHATSAPP_WEBHOOK_RETENTION_DAYS | processed raw deliveries and their receipts deleted |

The rules are registered by the apps that hold the data (consent.personal_data).
Each batch (RETENTION_BATCH_SIZE rows) is one short transaction, so the tables stay writable for
the senders and the webhook; a run stops after RETENTION_TIME_BUDGET_SECONDS and the next run
goes on where it stopped. Consent events and audit entries are never pruned: they are the proof.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from consent.personal_data import RetentionRule, personal_data_entries

logger = logging.getLogger(__name__)

@dataclass
class RetentionResult:
    """Rows deleted or emptied for one kind of data, and whether none are left past their period."""

    kind: str
    rows: int = 0
    batches: int = 0
    finished: bool = False


def _rules() -> list[RetentionRule]:
    """Every app's retention rules (registered with consent.personal_data)."""
    return [rule for entry in personal_data_entries() for rule in entry.retention]


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
        days = rule.days()
        result = RetentionResult(kind=rule.kind)
        due = rule.due(now - timedelta(days=days)).order_by("pk").values_list("pk", flat=True)
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
            logger.info("retention: %s rows of %s past %s days", result.rows, rule.kind, days)
    return results
