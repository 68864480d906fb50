"""The send-rate token bucket: one per sending phone number, in Redis, shared by every worker.

A Lua script refills and takes a token atomically, using Redis's own clock so that workers on
different machines agree. When Meta answers with a throughput error the bucket is blocked for a
while (``bucket_back_off``) and every worker waits. Without Redis (the embedded development setup)
an in-process bucket is used.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings

# Returns how many milliseconds the caller must wait; 0 means a token was taken.
_TAKE_TOKEN = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local rate = tonumber(ARGV[1])          -- tokens per second
local capacity = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'blocked_until')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
local blocked_until = tonumber(state[3]) or 0
if blocked_until > now then
  return blocked_until - now
end
tokens = math.min(capacity, tokens + (now - at) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], 60000)
return wait
"""

_BLOCK = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'blocked_until')) or 0
if until_ms > current then
  redis.call('HSET', KEYS[1], 'blocked_until', until_ms, 'tokens', 0, 'at', until_ms)
end
redis.call('PEXPIRE', KEYS[1], 60000 + tonumber(ARGV[1]))
return until_ms
"""


@dataclass
class _LocalBucket:
    tokens: float
    at: float
    blocked_until: float = 0.0


_local_lock = threading.Lock()
_local_buckets: dict[str, _LocalBucket] = {}
_client: tuple[int, redis.Redis] | None = None


def _redis() -> redis.Redis:
    """One client per process (re-created after a fork: prefork workers must not share sockets)."""
    global _client
    if _client is None or _client[0] != os.getpid():
        _client = (os.getpid(), redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5))
    return _client[1]


def _key(phone_number_id: str) -> str:
    return f"retarget:send-bucket:{phone_number_id}"


def _rate() -> float:
    return float(settings.CAMPAIGN_SEND_RATE)


def _take_local(phone_number_id: str, rate: float) -> float:
    with _local_lock:
        now = time.monotonic()
        bucket = _local_buckets.setdefault(phone_number_id, _LocalBucket(tokens=max(rate, 1.0), at=now))
        if bucket.blocked_until > now:
            return bucket.blocked_until - now
        bucket.tokens = min(max(rate, 1.0), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / rate


def bucket_take(phone_number_id: str, *, timeout: float = 60.0) -> bool:
    """Wait for one send token of ``phone_number_id``; False if none came within ``timeout`` seconds."""
    rate = _rate()
    capacity = max(rate, 1.0)  # up to one second's worth in a burst
    deadline = time.monotonic() + timeout
    while True:
        if settings.REDIS_URL:
            wait = int(_redis().eval(_TAKE_TOKEN, 1, _key(phone_number_id), rate, capacity)) / 1000
        else:
            wait = _take_local(phone_number_id, rate)
        if wait <= 0:
            return True
        if time.monotonic() + wait > deadline:
            return False
        time.sleep(min(wait, 1.0))


def bucket_back_off(phone_number_id: str, *, seconds: float) -> None:
    """Stop all sends of ``phone_number_id`` for ``seconds`` (after a throughput error from Meta)."""
    if settings.REDIS_URL:
        _redis().eval(_BLOCK, 1, _key(phone_number_id), int(seconds * 1000))
        return
    with _local_lock:
        now = time.monotonic()
        bucket = _local_buckets.setdefault(phone_number_id, _LocalBucket(tokens=0.0, at=now))
        bucket.blocked_until = max(bucket.blocked_until, now + seconds)
        bucket.tokens, bucket.at = 0.0, bucket.blocked_until
