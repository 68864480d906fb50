"""Claims: a dispatcher leases a batch of due rows (FOR UPDATE SKIP LOCKED); recovery of dead workers' rows."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from campaigns.models import Message, MessageStatus
from campaigns.sending import inflight

logger = logging.getLogger(__name__)

def leases_expire(*, now: datetime | None = None, campaign_id: int | None = None, kinds: Sequence[str] | None = None) -> int:
    """Recover rows a dead worker left SENDING; returns how many.

    A row whose call had started becomes UNKNOWN (never re-sent blindly: it may have reached
    WhatsApp); a row whose call provably never started is queued again (see campaigns.sending.inflight).
    """
    now = now or timezone.now()
    stale = Message.objects.filter(status=MessageStatus.SENDING, lease_expires_at__lt=now)
    if campaign_id is not None:
        stale = stale.filter(campaign_id=campaign_id)
    if kinds is not None:
        stale = stale.filter(kind__in=kinds)
    # Beat asks every tick and almost always finds nothing. The first look, one row at most, walks the
    # partial index message_sending_lease in lease order and stops at the first live expired lease;
    # the rows it passes that were sent since (dead versions) are marked dead in the index on the
    # way, so the next tick skips them. Reading every SENDING entry (as a bitmap scan does) cost a
    # visit to every dead version in the table per tick, which grew with the campaign.
    if not stale.order_by("lease_expires_at").values_list("pk", flat=True)[:1]:
        return 0
    requeued = 0
    for token in set(stale.values_list("claim_token", flat=True)):
        started = None
        if token is not None:
            try:
                started = inflight.batch_fence(token)
            except redis.RedisError:
                logger.warning("could not read which calls of batch %s started; its sends are unknown", token)
        if started is not None:
            requeued += (
                stale.filter(claim_token=token)
                .exclude(pk__in=started)
                .update(
                    status=MessageStatus.QUEUED,
                    attempts=Greatest(F("attempts") - 1, 0),
                    dispatched_at=None,
                    claim_token=None,
                    lease_expires_at=None,
                )
            )
    count = stale.update(
        status=MessageStatus.UNKNOWN,
        claim_token=None,
        lease_expires_at=None,
        error_detail="The worker stopped during the send; the outcome comes with the status webhook.",
    )
    if requeued:
        logger.warning("%s message(s) a stopped worker had not sent yet are queued again", requeued)
    if count:
        logger.warning("%s message(s) left in flight by a stopped worker are now unknown", count)
    return count + requeued


def _claimable(campaign_id: int, now: datetime) -> Any:
    return Message.objects.filter(campaign_id=campaign_id, kind=Message.Kind.CAMPAIGN, status=MessageStatus.QUEUED).filter(
        Q(send_after__isnull=True) | Q(send_after__lte=now), Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    )


def messages_claimable_exist(*, campaign_id: int, now: datetime | None = None) -> bool:
    return _claimable(campaign_id, now or timezone.now()).exists()


def messages_claim(*, campaign_id: int, limit: int) -> tuple[uuid.UUID, list[Message]]:
    """Lease up to ``limit`` due messages of the campaign to this dispatcher (skipping rows others hold)."""
    now = timezone.now()
    token = uuid.uuid4()
    with transaction.atomic():
        ids = list(_claimable(campaign_id, now).select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
        if ids:
            Message.objects.filter(pk__in=ids).update(
                claim_token=token, claimed_at=now, lease_expires_at=now + timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS)
            )
    # By primary key: claim_token has no index, and a scan of every message of every campaign per batch
    # grew with the table (100,000 rows read per claim in a 100,000-recipient campaign).
    messages = list(Message.objects.filter(pk__in=ids, claim_token=token).select_related("contact")) if ids else []
    return token, messages


def release(messages: list[Message], token: uuid.UUID) -> None:
    Message.objects.filter(pk__in=[m.pk for m in messages], claim_token=token, status=MessageStatus.QUEUED).update(
        claim_token=None, lease_expires_at=None
    )


def _heartbeat_key(campaign_id: int) -> str:
    return f"retarget:campaign-dispatching:{campaign_id}"


def dispatcher_heartbeat(campaign_id: int, *, active: bool = True) -> None:
    """Tell beat a dispatcher works on the campaign (it expires with the lease if the worker dies)."""
    from django.core.cache import cache

    if active:
        cache.set(_heartbeat_key(campaign_id), 1, timeout=settings.CAMPAIGN_LEASE_SECONDS)
    else:
        cache.delete(_heartbeat_key(campaign_id))


def dispatcher_active(campaign_id: int) -> bool:
    from django.core.cache import cache

    return bool(cache.get(_heartbeat_key(campaign_id)))
