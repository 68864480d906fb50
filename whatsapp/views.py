"""The webhook endpoint Meta calls: handshake (GET) and signed deliveries (POST)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from whatsapp import webhooks
from whatsapp.services import webhook_delivery_receive

logger = logging.getLogger(__name__)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        challenge = webhooks.handshake_challenge(params=request.GET.dict(), verify_token=settings.WHATSAPP_VERIFY_TOKEN)
        if challenge is None:
            return HttpResponse("Verification token mismatch.", status=403, content_type="text/plain")
        return HttpResponse(challenge, content_type="text/plain")

    body = request.body
    header = request.headers.get("X-Hub-Signature-256")
    if not webhooks.signature_valid(body=body, header=header, secret=settings.WHATSAPP_APP_SECRET):
        logger.warning("webhook refused: %s X-Hub-Signature-256", "wrong" if header else "missing")
        return JsonResponse({"error": "Missing or invalid X-Hub-Signature-256."}, status=403)
    try:
        envelope = webhooks.envelope_parse(body)
    except webhooks.InvalidEnvelope as exc:
        return JsonResponse({"error": f"Not a WhatsApp webhook envelope: {exc}"}, status=400)
    webhook_delivery_receive(body=body, envelope=envelope)
    return HttpResponse("OK", content_type="text/plain")
