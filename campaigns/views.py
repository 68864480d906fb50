"""Public endpoints of the campaigns side: the tracked-link redirect ``/r/<token>``."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from campaigns.tracking import click_record
from core.client_ip import client_ip
from core.ratelimit import ip_rate_key, rate_limit_hit


@never_cache
@require_GET
def click_redirect(request: HttpRequest, token: str) -> HttpResponse:
    """Record the click and send the person on to the campaign's own destination (or a plain 404)."""
    limited, retry_after = rate_limit_hit(
        scope="click", key=ip_rate_key(client_ip(request)), limit=settings.CLICK_RATE_LIMIT_PER_MINUTE, window_seconds=60
    )
    if limited:
        response = render(request, "campaigns/public_message.html", {"title": "Too many requests", "text": "Please try again in a minute."}, status=429)
        response["Retry-After"] = str(retry_after)
        return response
    destination = click_record(token=token)
    if destination is None:
        return render(
            request,
            "campaigns/public_message.html",
            {"title": "Link not found", "text": "This link is not valid. Please check that you copied all of it."},
            status=404,
        )
    return HttpResponseRedirect(destination)
