"""The thin intake of Meta's webhook deliveries: ``POST /webhooks/whatsapp`` without Django's middleware.

Status deliveries arrive at three per sent message, so their answer is the busiest request we serve.
``WebhookIntake`` wraps the Django WSGI application (retarget/wsgi.py) and answers exactly that path
and method itself, doing what the Django view does (whatsapp.views) and nothing else: the body size
limit, the signature, the envelope checks, then ``webhook_delivery_receive``, which stores the raw
body and applies opt-outs before we answer (an opt-out takes effect at once). Sessions, CSRF,
authentication, messages and the content security policy have nothing to do for a signed machine
POST; the Host check and the HTTPS redirect still hold (a request they would refuse or redirect is
handed to Django). Everything else, the GET handshake included, goes to Django.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core import signals
from django.http.request import split_domain_port, validate_host

from whatsapp import webhooks
from whatsapp.services import webhook_delivery_receive

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/whatsapp"  # retarget/urls.py "webhooks/" + whatsapp/urls.py "whatsapp"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict, StartResponse], Iterable[bytes]]


class WebhookIntake:
    """WSGI middleware: signed deliveries answered here, every other request passed to ``application``."""

    def __init__(self, application: WsgiApp) -> None:
        self.application = application

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != WEBHOOK_PATH or not _for_us(environ):
            return self.application(environ, start_response)
        # The signals Django's own handler sends: they reset and close the database connection
        # as CONN_MAX_AGE says, and close the cache clients, as for any request.
        signals.request_started.send(sender=self.__class__, environ=environ)
        try:
            status, content_type, content = _delivery_answer(environ)
        except Exception:
            logger.exception("webhook delivery failed before it was stored; Meta will send it again")
            status, content_type, content = _json(500, {"error": "The delivery could not be stored; it will be retried."})
        finally:
            signals.request_finished.send(sender=self.__class__)
        start_response(status, [
            ("Content-Type", content_type), ("Content-Length", str(len(content))), ("X-Content-Type-Options", "nosniff"),
        ])  # fmt: skip
        return [content]


def _for_us(environ: dict) -> bool:
    """False where Django would refuse the Host or redirect to HTTPS (then Django answers, as before)."""
    if settings.USE_X_FORWARDED_HOST and environ.get("HTTP_X_FORWARDED_HOST"):
        host = environ["HTTP_X_FORWARDED_HOST"]
    else:
        host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
    domain, _ = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS or ([".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    if not domain or not validate_host(domain, allowed):
        return False
    if settings.SECURE_SSL_REDIRECT:
        # As HttpRequest.is_secure(): the proxy's header when it is configured and sent, else the scheme.
        proxy_header = settings.SECURE_PROXY_SSL_HEADER
        if proxy_header and environ.get(proxy_header[0]) is not None:
            return environ[proxy_header[0]].split(",", 1)[0].strip() == proxy_header[1]
        return environ.get("wsgi.url_scheme") == "https"
    return True


def _delivery_answer(environ: dict) -> tuple[str, str, bytes]:
    """(status line, content type, body) for one POSTed delivery, as the Django view answers it."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and length > limit:
        return _json(413, {
            "error": f"The request body is larger than the limit of {limit:,} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE).",
            "limit": "DATA_UPLOAD_MAX_MEMORY_SIZE", "max_bytes": limit,
        })  # fmt: skip
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    header = environ.get("HTTP_X_HUB_SIGNATURE_256")
    if not webhooks.signature_valid(body=body, header=header, secret=settings.WHATSAPP_APP_SECRET):
        logger.warning("webhook refused: %s X-Hub-Signature-256", "wrong" if header else "missing")
        return _json(403, {"error": "Missing or invalid X-Hub-Signature-256."})
    try:
        envelope = webhooks.envelope_parse(body)
    except webhooks.InvalidEnvelope as exc:
        return _json(400, {"error": f"Not a WhatsApp webhook envelope: {exc}"})
    webhook_delivery_receive(body=body, envelope=envelope)
    return "200 OK", "text/plain; charset=utf-8", b"OK"


_REASONS = {400: "Bad Request", 403: "Forbidden", 413: "Request Entity Too Large", 500: "Internal Server Error"}


def _json(status: int, data: dict) -> tuple[str, str, bytes]:
    return f"{status} {_REASONS[status]}", "application/json", json.dumps(data).encode()
