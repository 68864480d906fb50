"""The hosted opt-in page: a person asks for a business's WhatsApp messages.

It lives here, not in consent, because a double opt-in form sends a WhatsApp confirmation
(conversations.double_optin); the forms, evidence and consent ledger are consent's.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from consent.forms import OptInPageForm
from consent.models import OptInForm
from consent.services import ConsentRefused, Evidence
from conversations.optin import OptInOutcome, optin_page_submit
from core.audit import Actor
from core.client_ip import client_ip
from core.ratelimit import ip_rate_key, rate_limit_hit

OPTIN_TEMPLATE = "consent/optin.html"


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
    if form.is_valid():
        evidence = Evidence(
            notice_text=optin_form.notice_text,
            notice_version=optin_form.notice_version,
            page_url=request.build_absolute_uri(),
            ip_address=ip,
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
        try:
            outcome = optin_page_submit(
                form=optin_form,
                phone=form.cleaned_data["phone"],
                evidence=evidence,
                actor=Actor(label=f"opt-in page {optin_form.slug}", ip_address=ip),
            )
        except ConsentRefused as exc:
            form.add_error(None, str(exc))
        else:
            done = "optin-confirm" if outcome is OptInOutcome.CONFIRMATION_SENT else "optin-thanks"
            return redirect(done, slug=optin_form.slug)
    return render(request, OPTIN_TEMPLATE, {"optin": optin_form, "form": form})


@require_GET
def optin_thanks(request: HttpRequest, slug: str) -> HttpResponse:
    return render(request, "consent/optin_thanks.html", {"optin": _active_form(slug)})


@require_GET
def optin_confirm(request: HttpRequest, slug: str) -> HttpResponse:
    return render(request, "consent/optin_confirm.html", {"optin": _active_form(slug)})
