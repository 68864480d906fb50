"""The address a request came from, for rate limits, evidence and the audit log."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or when that is one of TRUSTED_PROXIES, the address that proxy saw.

    X-Forwarded-For is read from the right: each trusted proxy appends the address it received the
    request from, and everything left of the first untrusted address came from the client and can be
    forged. A malformed entry among those we would have to believe makes the whole header ignored.
    """
    remote = _parse(request.META.get("REMOTE_ADDR", ""))
    if remote is None or not _is_trusted(remote):
        return str(remote) if remote else None
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    address = remote
    for entry in reversed(forwarded.split(",")) if forwarded.strip() else ():
        hop = _parse(entry)
        if hop is None:
            return str(remote)
        address = hop
        if not _is_trusted(hop):
            break
    return str(address)


def _parse(value: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket counts as the IPv4 address (one rate-limit bucket).
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _is_trusted(address: IPAddress) -> bool:
    return any(address in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item) for item in trusted)
