"""Signed, URL-safe tokens for links sent to people (tracked links, unsubscribe links).

A token is the base64 of a few bytes plus an HMAC-SHA256 signature keyed with SECRET_KEY and a
salt per purpose, so a token made for one purpose is worthless for another, and nobody without
the key can make or alter one. Rotating SECRET_KEY (with SECRET_KEY_FALLBACKS) keeps old links working.
"""

from __future__ import annotations

import base64
import binascii

from django.core import signing

_SEPARATOR = "."  # not in the URL-safe base64 alphabet, and plain in a URL path


def _signer(salt: str) -> signing.Signer:
    return signing.Signer(salt=salt, sep=_SEPARATOR, algorithm="sha256")


def token_sign(raw: bytes, *, salt: str) -> str:
    """``raw`` as a signed URL-safe token."""
    return _signer(salt).sign(base64.urlsafe_b64encode(raw).rstrip(b"=").decode())


def token_unsign(token: str, *, salt: str, size: int) -> bytes | None:
    """The ``size`` bytes a token made by ``token_sign`` with ``salt`` holds; None if forged or garbled."""
    try:
        value = _signer(salt).unsign(token)
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (signing.BadSignature, binascii.Error, ValueError):
        return None
    return raw if len(raw) == size else None
