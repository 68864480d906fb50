"""Fixed-window attempt counters in the shared cache (Redis in production), e.g. sign-ups per IP."""

from __future__ import annotations

import ipaddress
import time

from django.core.cache import cache


def ip_rate_key(ip: str | None) -> str:
    """The unit one visitor controls: an IPv4 address, or the /64 network of an IPv6 one."""
    if not ip:
        return "unknown"
    address = ipaddress.ip_address(ip)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def rate_limit_hit(*, scope: str, key: str, limit: int, window_seconds: int = 3600) -> tuple[bool, int]:
    """Count one attempt of ``key`` in the current window.

    Returns whether the attempt is over ``limit`` and the seconds until the window resets.
    ``cache.incr`` is atomic in Redis, so concurrent web workers share one count.
    """
    now = time.time()
    window = int(now // window_seconds)
    cache_key = f"ratelimit:{scope}:{key}:{window}"
    cache.add(cache_key, 0, timeout=window_seconds + 60)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # the key expired between add and incr
        cache.set(cache_key, 1, timeout=window_seconds + 60)
        count = 1
    retry_after = int((window + 1) * window_seconds - now) + 1
    return count > limit, retry_after


def rate_limit_count(*, scope: str, key: str, window_seconds: int = 3600) -> int:
    """Attempts of ``key`` counted so far in the current window, without counting one more."""
    window = int(time.time() // window_seconds)
    return int(cache.get(f"ratelimit:{scope}:{key}:{window}") or 0)
