"""The unsubscribe page: a person stops a business's WhatsApp messages (the opt-in page is conversations/views.py)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from consent.services import Evidence
from consent.unsubscribe import unsubscribe_confirm, unsubscribe_contact, unsubscribe_needed
from core.audit import Actor
from core.client_ip import client_ip
from core.logging import mask_phone
from core.ratelimit import ip_rate_key, rate_limit_hit


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    """A confirmation page; the opt-out is recorded only when the person confirms (POST)."""
    ip = client_ip(request)
    limited, retry_after = rate_limit_hit(
        scope="unsubscribe", key=ip_rate_key(ip), limit=settings.UNSUBSCRIBE_RATE_LIMIT_PER_MINUTE, window_seconds=60
    )
    if limited:
        response = render(request, "consent/unsubscribe.html", {"state": "limited"}, status=429)
        response["Retry-After"] = str(retry_after)
        return response
    contact = unsubscribe_contact(token)
    if contact is None:
        return render(request, "consent/unsubscribe.html", {"state": "unknown"}, status=404)
    context = {"business": settings.WHATSAPP_BUSINESS_NAME, "number": mask_phone(contact.phone or "")}
    if request.method == "GET":
        return render(request, "consent/unsubscribe.html", {**context, "state": "ask" if unsubscribe_needed(contact) else "done"})
    evidence = Evidence(
        page_url=request.build_absolute_uri(), ip_address=ip, user_agent=request.META.get("HTTP_USER_AGENT", ""),
        note="Confirmed on the unsubscribe page.",
    )  # fmt: skip
    unsubscribe_confirm(contact=contact, evidence=evidence, actor=Actor(label="unsubscribe link", ip_address=ip))
    return render(request, "consent/unsubscribe.html", {**context, "state": "done"})
