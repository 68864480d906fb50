"""The site's own public pages: the home page at / (the admin's "View site") and the favicon."""

from __future__ import annotations

import struct
import zlib
from functools import cache

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from consent.models import OptInForm

FAVICON_SIZE = 32
_GREEN, _WHITE, _CLEAR = (18, 140, 74, 255), (255, 255, 255, 255), (0, 0, 0, 0)


@require_GET
def home_view(request: HttpRequest) -> HttpResponse:
    """What a visitor of the installation finds: the businesses' opt-in pages, and the way to the admin."""
    pages = OptInForm.objects.filter(is_active=True).order_by("business_name", "slug")
    return render(request, "site/home.html", {"pages": pages})


def _pixel(x: int, y: int) -> tuple[int, int, int, int]:
    # A green speech bubble (a disc with a tail at the bottom left) around a white dot.
    centre, radius = (FAVICON_SIZE - 1) / 2, FAVICON_SIZE / 2 - 2
    dx, dy = x - centre, y - centre + 1
    distance = (dx * dx + dy * dy) ** 0.5
    if distance <= radius * 0.32:
        return _WHITE
    if distance <= radius or (x < 10 and y > 22 and x + (FAVICON_SIZE - y) > 9):
        return _GREEN
    return _CLEAR


@cache
def favicon_png() -> bytes:
    """The icon as a PNG, drawn here so that no binary file is kept in the repository."""
    rows = b"".join(b"\x00" + b"".join(bytes(_pixel(x, y)) for x in range(FAVICON_SIZE)) for y in range(FAVICON_SIZE))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", FAVICON_SIZE, FAVICON_SIZE, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


@require_GET
@cache_control(max_age=86400, public=True)
def favicon_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(favicon_png(), content_type="image/png")
