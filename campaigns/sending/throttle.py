"""The send-rate limiter: one per sending phone number, in Redis, shared by every worker.

Each of our numbers (whatsapp.numbers) has its own window, keyed by its phone number id, at its own
throughput: Meta limits messages per second per business phone number (the notes' "Limits" section).

A sliding-window log: Redis keeps the moments of the grants of the last window (one second at
rates of 1/s and more) and grants a send only while fewer than the rate were granted within it, so
no 1-second window ever holds more sends than the rate, not even right after an idle spell (a token
bucket would allow its full burst on top of the refill there). A Lua script counts and records
atomically, on Redis's own clock, so that workers on different machines agree. When Meta answers
with a throughput error the number is blocked for a while (``bucket_back_off``) and every worker
waits. Without Redis (the embedded development setup) an in-process window is used.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from collections import deque

from django.conf import settings

from campaigns.sending.inflight import CallRecord
from core.redis import redis_client, redis_scripts
from whatsapp.numbers import number_get

# Returns {milliseconds to wait, now in ms}; a wait of 0 means the send may start now, -1 that it never may.
# KEYS[3], KEYS[4] and ARGV[4], ARGV[5] (optional): a call to record with the grant, as
# campaigns.sending.inflight's _CALL_START does (started-calls set, fence; message id, seconds to
# keep): a fenced batch gets no grant, and a grant is recorded in the same round trip.
_TAKE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
if #KEYS == 4 and redis.call('EXISTS', KEYS[4]) == 1 then
  return {-1, now}
end
local blocked_until = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked_until > now then
  return {blocked_until - now, now}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window + 1000)
  if #KEYS == 4 then
    redis.call('SADD', KEYS[3], ARGV[4])
    redis.call('EXPIRE', KEYS[3], ARGV[5])
  end
  return {0, now}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {math.max(1, tonumber(oldest[2]) + window - now), now}
"""

_BLOCK = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ms > current then
  redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[1]) + 1000)
end
return until_ms
"""

_local_lock = threading.Lock()
_local_grants: dict[str, deque[float]] = {}
_local_blocked: dict[str, float] = {}
_grant_ids = itertools.count()


def bucket_keys(phone_number_id: str) -> tuple[str, str]:
    """The Redis keys of the number's limiter: its window of grants and its back-off."""
    return f"retarget:send-window:{phone_number_id}", f"retarget:send-blocked:{phone_number_id}"


_keys = bucket_keys


def bucket_rate(phone_number_id: str) -> float:
    """Sends per second the number's limiter grants: its throughput, CAMPAIGN_SEND_RATE for the default.

    Callers ask once per batch and pass it to ``bucket_take``: the limiter itself reads no database.
    """
    number = number_get(phone_number_id)
    return number.throughput if number is not None and number.throughput > 0 else float(settings.CAMPAIGN_SEND_RATE)


def _window(rate: float) -> tuple[int, float]:
    """(sends allowed per window, window length in seconds): ``rate`` per second, whole sends."""
    limit = max(1, math.floor(rate))
    return limit, limit / rate


def _take_local(phone_number_id: str, limit: int, window: float) -> tuple[float, float]:
    with _local_lock:
        now = time.monotonic()
        blocked_until = _local_blocked.get(phone_number_id, 0.0)
        if blocked_until > now:
            return blocked_until - now, time.time()
        grants = _local_grants.setdefault(phone_number_id, deque())
        while grants and grants[0] <= now - window:
            grants.popleft()
        if len(grants) < limit:
            grants.append(now)
            return 0.0, time.time()
        return max(0.001, grants[0] + window - now), time.time()


def bucket_take_at(
    phone_number_id: str, *, rate: float | None = None, timeout: float = 60.0, call: CallRecord | None = None
) -> float | None:
    """Like ``bucket_take``, but returns the limiter's clock (Unix seconds) at the grant, or None.

    That clock is the one the limit holds on; the benchmarks read it.
    """
    limit, window = _window(rate or float(settings.CAMPAIGN_SEND_RATE))
    deadline = time.monotonic() + timeout
    while True:
        if settings.REDIS_URL:
            take, _ = redis_scripts(_TAKE, _BLOCK)
            member = f"{os.getpid()}:{threading.get_ident()}:{next(_grant_ids)}"
            keys: list[str] = [*_keys(phone_number_id)]
            args: list[str | int] = [limit, round(window * 1000), member]
            if call is not None:
                keys, args = [*keys, *call.keys], [*args, call.member, call.keep_seconds]
            wait_ms, now_ms = take(keys=keys, args=args)
            if int(wait_ms) < 0:  # the call's batch was fenced by recovery: it must not start
                return None
            wait, now = int(wait_ms) / 1000, int(now_ms) / 1000
        else:
            wait, now = _take_local(phone_number_id, limit, window)
        if wait <= 0:
            return now
        if time.monotonic() + wait > deadline:
            return None
        time.sleep(min(wait, 1.0))


def bucket_take(
    phone_number_id: str, *, rate: float | None = None, timeout: float = 60.0, call: CallRecord | None = None
) -> bool:
    """Wait until ``phone_number_id`` may send one more message; False if not within ``timeout`` seconds.

    ``rate``: the number's sends per second (``bucket_rate``); CAMPAIGN_SEND_RATE when not given.
    With ``call`` (``inflight.call_record``) the grant also records that the call starts, in the same
    Redis round trip; False (and no grant) when its batch was fenced by recovery: the call must not start.
    """
    return bucket_take_at(phone_number_id, rate=rate, timeout=timeout, call=call) is not None


def bucket_back_off(phone_number_id: str, *, seconds: float) -> None:
    """Stop all sends of ``phone_number_id`` for ``seconds`` (after a throughput error from Meta)."""
    if settings.REDIS_URL:
        _, block = redis_scripts(_TAKE, _BLOCK)
        block(keys=[_keys(phone_number_id)[1]], args=[int(seconds * 1000)])
        return
    with _local_lock:
        _local_blocked[phone_number_id] = max(_local_blocked.get(phone_number_id, 0.0), time.monotonic() + seconds)


# --- outage back-off ----------------------------------------------------------------------------
# Server-side failures in a row (HTTP 5xx, no answer), counted across all workers, after which every
# worker pauses; each further run of as many doubles the pause, up to the maximum. A 30% error rate
# practically never trips it (0.3^20), an outage does within a second.
OUTAGE_FAILURES = 20
OUTAGE_PAUSE_MAX_SECONDS = 30.0
_local_failures: dict[str, int] = {}
# When this process last saw a failure: a success resets the shared count only if one was seen lately,
# so that sending without errors costs no extra Redis call.
_failure_seen_here_at: dict[str, float] = {}
_FAILURE_MEMORY_SECONDS = 60.0


def _failures_key(phone_number_id: str) -> str:
    return f"retarget:send-failures:{phone_number_id}"


def outage_failure_record(phone_number_id: str) -> bool:
    """Count a server-side failure of a send; True when it is part of an outage (so many in a row).

    Every OUTAGE_FAILURES failures in a row pause every worker: 1 s, then twice as long each time,
    up to OUTAGE_PAUSE_MAX_SECONDS.
    """
    _failure_seen_here_at[phone_number_id] = time.monotonic()
    if settings.REDIS_URL:
        client = redis_client()
        pipeline = client.pipeline()
        pipeline.incr(_failures_key(phone_number_id))
        pipeline.expire(_failures_key(phone_number_id), 600)
        failures, _ = pipeline.execute()
    else:
        with _local_lock:
            failures = _local_failures[phone_number_id] = _local_failures.get(phone_number_id, 0) + 1
    if failures >= OUTAGE_FAILURES and failures % OUTAGE_FAILURES == 0:
        bucket_back_off(phone_number_id, seconds=min(OUTAGE_PAUSE_MAX_SECONDS, 2.0 ** (failures // OUTAGE_FAILURES - 1)))
    return failures >= OUTAGE_FAILURES


def outage_success_record(phone_number_id: str) -> None:
    """A send went through: the count of failures in a row starts again."""
    seen_at = _failure_seen_here_at.get(phone_number_id)
    if seen_at is None or time.monotonic() - seen_at >= _FAILURE_MEMORY_SECONDS:
        return
    if settings.REDIS_URL:
        client = redis_client()
        client.delete(_failures_key(phone_number_id))
    else:
        with _local_lock:
            _local_failures.pop(phone_number_id, None)
