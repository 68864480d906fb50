"""What an answer from WhatsApp (or its absence) means for a message row: the outcome table.

The rule: a call that may have reached WhatsApp is never sent again (UNKNOWN until a status
webhook resolves it); a call that certainly did not leave is retried; the API's own trouble
(throughput, an outage) spends none of the message's attempts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from campaigns.models import Message, MessageStatus
from whatsapp.client import HELD_BACK_CODE, HELD_BACK_RETRY_AFTER, SendResult, WhatsAppError


@dataclass
class Outcome:
    message: Message
    result: SendResult | None = None
    error: WhatsAppError | None = None
    attempted: bool = True
    during_outage: bool = False  # one of many server errors in a row: the API's fault, not the message's


def retry_delay(attempts: int) -> timedelta:
    base = settings.CAMPAIGN_RETRY_BASE_SECONDS * (2 ** max(attempts - 1, 0))
    return timedelta(seconds=min(base, settings.CAMPAIGN_RETRY_MAX_SECONDS) * random.uniform(0.5, 1.5))


def held_back_requeue(message: Message, now: datetime) -> str:
    """131049: Meta held back this marketing message. Queue it once more after HELD_BACK_RETRY_AFTER.

    The retry goes through the whole send-time check again (consent, caps, quiet hours, the
    template's category then); a campaign that ends first skips it as expired. A second hold-back
    fails it. Returns the outcome in words. Pure: the caller writes the row.
    """
    if message.kind != Message.Kind.CAMPAIGN or message.decision.get("held_back"):
        message.status, message.failed_at = MessageStatus.FAILED, now
        return "failed: held back by WhatsApp again" if message.decision.get("held_back") else "failed: held back by WhatsApp"
    retry_on = now + HELD_BACK_RETRY_AFTER
    message.status, message.send_after, message.failed_at = MessageStatus.QUEUED, retry_on, None
    message.wamid = None  # the retry is a new message at WhatsApp; its statuses find it by callback data
    message.attempts = max(message.attempts - 1, 0)
    message.decision = {**message.decision, "held_back": {"at": now.isoformat(), "code": HELD_BACK_CODE, "retry_on": retry_on.isoformat()}}
    return f"held back by WhatsApp, retrying on {retry_on:%Y-%m-%d %H:%M} UTC"


def outcome_apply(message: Message, outcome: Outcome, now: datetime) -> tuple[str | None, WhatsAppError | None]:
    """Write one outcome onto the (locked, fresh) row; returns a campaign-level problem, if any.

    No I/O: the table of what each answer means, unit-tested in tests/campaigns/test_outcomes.py.
    A service message (reply, confirmation, test send) has no campaign to pause: a template or
    account problem fails it instead of queueing it again.
    """
    result, error = outcome.result, outcome.error
    message.claim_token = None
    message.lease_expires_at = None
    in_flight = message.status in (MessageStatus.SENDING, MessageStatus.UNKNOWN)
    if result is not None:
        message.wamid = message.wamid or result.wamid
        message.accepted_at = message.accepted_at or now
        if in_flight:
            message.status = MessageStatus.ACCEPTED
            message.error_detail = ""
        message.decision = {**message.decision, "result": {"at": now.isoformat(), "outcome": "accepted", "wamid": result.wamid}}
        return None, None
    if not in_flight:  # a status webhook already settled it
        return None, None
    if not outcome.attempted:
        message.status, message.attempts = MessageStatus.QUEUED, max(message.attempts - 1, 0)
        return None, None
    assert error is not None
    message.error_code = error.code
    message.error_title = (error.title or "")[:300]
    message.error_detail = error.details or error.message
    record = {"at": now.isoformat(), "code": error.code, "scope": error.scope.value, "error": error.message}
    if error.reached_provider:  # the client's word: the call may have been accepted
        message.status = MessageStatus.UNKNOWN
        record["outcome"] = "unknown: the request may have reached WhatsApp; its status webhook will tell"
        if error.stops_campaign and message.kind == Message.Kind.CAMPAIGN:  # e.g. a bare 401 from a proxy
            message.decision = {**message.decision, "result": record}
            return f"WhatsApp failed with {error}", error
    elif error.stops_campaign and message.kind != Message.Kind.CAMPAIGN:
        message.status, message.failed_at = MessageStatus.FAILED, now
        record["outcome"] = "failed: WhatsApp refused this message's template or account"
    elif error.stops_campaign:
        message.status, message.attempts = MessageStatus.QUEUED, max(message.attempts - 1, 0)
        record["outcome"] = "requeued: the campaign was paused"
        problem = f"WhatsApp refused the send with error {error.code}: {error.explanation}"
        message.decision = {**message.decision, "result": record}
        return problem, error
    elif error.held_back:
        record["outcome"] = held_back_requeue(message, now)
    elif error.retry_later:
        if error.is_throughput or outcome.during_outage:  # not this message's fault: no attempt spent
            message.status, message.attempts = MessageStatus.QUEUED, max(message.attempts - 1, 0)
            message.send_after = now + timedelta(seconds=settings.CAMPAIGN_THROTTLE_BACKOFF_SECONDS)
            record["outcome"] = "requeued: throughput limit" if error.is_throughput else "requeued: the API is failing for every send"
        elif message.attempts >= settings.CAMPAIGN_MAX_ATTEMPTS:
            message.status, message.failed_at = MessageStatus.FAILED, now
            record["outcome"] = f"failed after {message.attempts} attempts"
        else:
            delay = timedelta(seconds=settings.CAMPAIGN_PAIR_RATE_RETRY_SECONDS) if error.is_pair_rate_limit else retry_delay(message.attempts)
            message.status, message.send_after = MessageStatus.QUEUED, now + delay
            record["outcome"] = f"retry after {int(delay.total_seconds())} s"
    else:
        message.status, message.failed_at = MessageStatus.FAILED, now
        record["outcome"] = "failed for this recipient"
    message.decision = {**message.decision, "result": record}
    return None, None
