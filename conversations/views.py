"""The hosted opt-in page: a person asks for a business's WhatsApp messages and confirms from WhatsApp."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from consent.forms import OptInPageForm
from consent.models import OptInForm
from consent.services import Evidence
from conversations.join_codes import join_link, join_message_text, join_qr_svg
from conversations.optin import optin_page_submit
from core.audit import Actor
from core.client_ip import client_ip
from core.ratelimit import ip_rate_key, rate_limit_hit

OPTIN_TEMPLATE = "consent/optin.html"
# The sign-up code travels from the form to the thank-you page in the visitor's session only.
SESSION_KEY = "optin_join"


def _active_form(slug: str) -> OptInForm:
    return get_object_or_404(OptInForm.objects.select_related("purpose"), slug=slug, is_active=True)


@csrf_protect
@require_http_methods(["GET", "POST"])
def optin_page(request: HttpRequest, slug: str) -> HttpResponse:
    optin_form = _active_form(slug)
    if request.method == "GET":
        return render(request, OPTIN_TEMPLATE, {"optin": optin_form, "form": OptInPageForm(optin_form=optin_form)})

    ip = client_ip(request)
    limited, retry_after = rate_limit_hit(scope="optin", key=ip_rate_key(ip), limit=settings.OPTIN_RATE_LIMIT_PER_HOUR)
    if limited:
        response = render(request, "consent/optin_limited.html", {"optin": optin_form}, status=429)
        response["Retry-After"] = str(retry_after)
        return response

    form = OptInPageForm(request.POST, optin_form=optin_form)
    if form.has_error(NON_FIELD_ERRORS, OptInPageForm.NOTICE_CHANGED):
        # Show the current wording with the box unticked again: consent must be to the text on screen.
        fresh = OptInPageForm(optin_form=optin_form, initial={"phone": request.POST.get("phone", "")})
        return render(request, OPTIN_TEMPLATE, {"optin": optin_form, "form": fresh, "notice_changed": form.non_field_errors()})
    if not form.is_valid():
        return render(request, OPTIN_TEMPLATE, {"optin": optin_form, "form": form})
    evidence = Evidence(
        notice_text=optin_form.notice_text,
        notice_version=optin_form.notice_version,
        page_url=request.build_absolute_uri(),
        ip_address=ip,
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )
    pending = optin_page_submit(
        form=optin_form,
        phone=form.cleaned_data["phone"],
        evidence=evidence,
        actor=Actor(label=f"opt-in page {optin_form.slug}", ip_address=ip),
    )
    request.session[SESSION_KEY] = {"form": optin_form.slug, "code": pending.code}
    # Which page follows depends on the form only, never on the number: the answer is the same for everyone.
    return redirect("optin-confirm" if optin_form.double_opt_in else "optin-thanks", slug=optin_form.slug)


def _join_context(request: HttpRequest, optin_form: OptInForm) -> dict:
    """The sign-up code of this visitor's submission as a message, wa.me link and QR code."""
    pending = request.session.get(SESSION_KEY) or {}
    if pending.get("form") != optin_form.slug:
        return {}
    text = join_message_text(optin_form, pending["code"])
    link = join_link(text, phone_number_id=optin_form.phone_number_id)
    return {
        "join_text": text,
        "join_link": link,
        "join_qr": mark_safe(join_qr_svg(link)) if link else "",  # noqa: S308 - SVG drawn by segno from our own link
        "join_days": settings.WHATSAPP_OPTIN_CONFIRMATION_DAYS,
    }


@never_cache
@require_GET
def optin_thanks(request: HttpRequest, slug: str) -> HttpResponse:
    optin_form = _active_form(slug)
    return render(request, "consent/optin_thanks.html", {"optin": optin_form, **_join_context(request, optin_form)})


@never_cache
@require_GET
def optin_confirm(request: HttpRequest, slug: str) -> HttpResponse:
    optin_form = _active_form(slug)
    return render(request, "consent/optin_confirm.html", {"optin": optin_form, **_join_context(request, optin_form)})
