"""The address a request came from, for rate limits, evidence and the audit log."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or behind our TLS proxy (BEHIND_TLS_PROXY) the address that proxy saw.

    Only the last X-Forwarded-For entry is trusted: it is the one our proxy appended; any earlier
    entry came from the client and can be forged.
    """
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR") or None
