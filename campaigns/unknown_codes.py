"""Sends that failed with error codes missing from our table, counted per campaign (it pauses after a few)."""

from __future__ import annotations

import logging

import redis

from core.redis import redis_client
from whatsapp import client as whatsapp_client

logger = logging.getLogger(__name__)

def _unknown_key(campaign_id: int) -> str:
    return f"retarget:unknown-codes:{campaign_id}"


def unknown_codes_count(campaign_id: int, occurrences: int) -> int:
    """Add ``occurrences`` sends that failed with codes missing from our table; returns the campaign's total.

    Counted in Redis (kept 30 days): without Redis nothing is counted and the sends keep their
    normal attempts limit.
    """
    if occurrences <= 0:
        return 0
    try:
        key = _unknown_key(campaign_id)
        pipe = redis_client().pipeline()
        pipe.incrby(key, occurrences)
        pipe.expire(key, 30 * 24 * 3600)
        total, _ = pipe.execute()
        return int(total)
    except redis.RedisError as exc:
        logger.warning("could not count unknown error codes of campaign %s: %s", campaign_id, exc.__class__.__name__)
        return 0


def unknown_codes_reset(campaign_id: int) -> None:
    """A person resumed the campaign: count afresh."""
    try:
        redis_client().delete(_unknown_key(campaign_id))
    except redis.RedisError:
        pass


def unknown_code_reason(error: whatsapp_client.WhatsAppError, total: int) -> str:
    return (
        f"{total} sends failed with WhatsApp error codes we do not know (last: {error.code}). "
        f"{error.explanation} Check Meta's error code list, then resume."
    )
