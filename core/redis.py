"""The process's Redis client (shared counters, the send limiter, the record of calls in flight)."""

from __future__ import annotations

import os
import threading

import redis
from django.conf import settings
from redis.commands.core import Script

_client: tuple[int, redis.Redis] | None = None
_lock = threading.Lock()


def redis_client() -> redis.Redis:
    """One client per process, made anew after a fork: prefork workers must not share sockets.

    Raises redis.RedisError subclasses on use when Redis is unreachable (callers decide what that means).
    """
    global _client
    with _lock:
        if _client is None or _client[0] != os.getpid():
            _client = (os.getpid(), redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5))
        return _client[1]


_scripts: dict[tuple[str, ...], tuple[redis.Redis, tuple[Script, ...]]] = {}


def redis_scripts(*sources: str) -> tuple[Script, ...]:
    """Lua ``sources`` registered on the process's client (EVALSHA: the text is not sent with every call).

    Registered anew with a new client (after a fork).
    """
    client = redis_client()
    with _lock:
        registered = _scripts.get(sources)
        if registered is None or registered[0] is not client:
            registered = _scripts[sources] = (client, tuple(client.register_script(source) for source in sources))
        return registered[1]
