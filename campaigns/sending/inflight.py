"""Which sends of a claimed batch started their HTTP call: "unknown" versus "never left".

A batch's eligible rows are marked SENDING (committed) before any call, then sent by a thread pool.
When the worker dies, a row whose call had started may have reached WhatsApp: it must never be sent
again and becomes UNKNOWN until its status webhook tells. A row whose call had not started yet (still
waiting for a thread or a send token) certainly never left: it can be queued again. Each call is
recorded in a Redis set of the batch just before it starts; recovery first fences the batch (no call
of it may start after that, even in a worker that is only slow) and then reads the set.

The set is trusted only while it holds the marker written when the batch opened: after a Redis
restart, or without Redis (the embedded development setup), every row of a dead batch is unknown.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings

from core.redis import redis_client, redis_scripts

_OPENED = "*"
# KEYS: the batch's started-calls set, its fence. ARGV: message id, seconds to keep the set.
_CALL_START = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
# KEYS: as above. ARGV: seconds to keep the fence. Returns the started calls (and the opened marker).
_FENCE = """
redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
return redis.call('SMEMBERS', KEYS[1])
"""

@dataclass(frozen=True)
class CallRecord:
    """A call about to start, for the limiter to record with its grant in the same script (one round trip).

    ``campaigns.sending.throttle`` runs ``_CALL_START``'s logic on these keys: no grant for a fenced batch.
    """

    keys: tuple[str, str]  # the batch's started-calls set, its fence
    member: str
    keep_seconds: int


def call_record(token: uuid.UUID, message_id: uuid.UUID) -> CallRecord | None:
    """What the limiter's grant must record for this call; None without Redis (nothing to record)."""
    if not settings.REDIS_URL:
        return None
    calls, fence = _keys(token)
    return CallRecord(keys=(calls, fence), member=message_id.hex, keep_seconds=_keep_seconds())


def _keys(token: uuid.UUID) -> list[str]:
    return [f"retarget:batch-calls:{token}", f"retarget:batch-fence:{token}"]


def _keep_seconds() -> int:
    return max(3600, settings.CAMPAIGN_LEASE_SECONDS * 20)  # long after the lease ends and recovery ran


def batch_open(token: uuid.UUID) -> None:
    """Start the batch's record of calls; call it before its rows are marked SENDING."""
    if not settings.REDIS_URL:
        return
    calls, _ = _keys(token)
    pipeline = redis_client().pipeline(transaction=True)
    pipeline.delete(calls)
    pipeline.sadd(calls, _OPENED)
    pipeline.expire(calls, _keep_seconds())
    pipeline.execute()


def call_start(token: uuid.UUID, message_id: uuid.UUID) -> bool:
    """Record that the message's call starts now; False when the batch was recovered: do not send."""
    if not settings.REDIS_URL:
        return True
    start, _ = redis_scripts(_CALL_START, _FENCE)
    return bool(start(keys=_keys(token), args=[message_id.hex, _keep_seconds()]))


def batch_fence(token: uuid.UUID) -> set[uuid.UUID] | None:
    """Forbid the batch's calls from starting; returns the messages whose call started, or None if unknown."""
    if not settings.REDIS_URL:
        return None
    _, fence = redis_scripts(_CALL_START, _FENCE)
    members = {member.decode() for member in fence(keys=_keys(token), args=[_keep_seconds()])}
    if _OPENED not in members:
        return None
    return {uuid.UUID(member) for member in members - {_OPENED}}
