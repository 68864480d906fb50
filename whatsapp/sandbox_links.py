"""Links into the WhatsApp sandbox's phone pages, shown only while the app talks to the sandbox."""

from __future__ import annotations

import ipaddress
from urllib.parse import quote, urlsplit

from django.conf import settings


def _talks_to_sandbox() -> bool:
    """True in development and test stacks whose Graph API is the sandbox on this machine (never with Meta)."""
    if not (settings.DEBUG or settings.WHATSAPP_SANDBOX):
        return False
    host = urlsplit(settings.WHATSAPP_GRAPH_URL).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sandbox_phone_url(*, phone: str | None = None, bsuid: str | None = None) -> str | None:
    """The sandbox page showing what this phone received (whatsapp/sandbox/phones.py), or None."""
    key = "".join(ch for ch in phone if ch.isdigit()) if phone else (bsuid or "")
    if not key or not _talks_to_sandbox():
        return None
    return f"{settings.WHATSAPP_GRAPH_URL}/_sandbox/phones/{quote(key, safe='')}"
