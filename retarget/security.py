"""Response headers that limit what a page may load: the Content-Security-Policy (see CONTENT_SECURITY_POLICY)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

CSP_HEADER = "Content-Security-Policy"


class ContentSecurityPolicyMiddleware:
    """Send ``settings.CONTENT_SECURITY_POLICY`` with every response (nothing when it is empty).

    ``{nonce}`` in the policy becomes a fresh random value per request, also available to templates
    as ``request.csp_nonce``: an inline ``<script nonce="{{ request.csp_nonce }}">`` may run, any
    other inline script (an injected one) may not.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        nonce = secrets.token_urlsafe(16)
        request.csp_nonce = nonce  # type: ignore[attr-defined]  # our own request attribute, read by templates
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and CSP_HEADER not in response:
            response[CSP_HEADER] = policy.replace("{nonce}", nonce)
        return response
