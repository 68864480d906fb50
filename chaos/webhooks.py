"""Webhook traffic for the drills: a recorder standing in for our endpoint, and a signed poster.

The storm drill points the sandbox at ``WebhookRecorder`` so that it can later replay the
sandbox's real, signed deliveries (repeated, shuffled, mixed with bad ones) against gunicorn.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

SIGNATURE_HEADER = "X-Hub-Signature-256"


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Delivery:
    body: bytes
    headers: dict[str, str]


class WebhookRecorder:
    """An HTTP server on a free port that answers 200 to every POST and keeps body and signature."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {"Content-Type": "application/json"}
                if self.headers.get(SIGNATURE_HEADER):
                    headers[SIGNATURE_HEADER] = self.headers[SIGNATURE_HEADER]
                with lock:
                    recorder.deliveries.append(Delivery(body=body, headers=headers))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/whatsapp"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookRecorder:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


_sessions = threading.local()


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float = 30) -> tuple[int, float]:
    """POST on this thread's pooled session; returns (HTTP status, Unix time the answer arrived)."""
    session = getattr(_sessions, "value", None)
    if session is None:
        session = _sessions.value = requests.Session()
    response = session.post(url, data=body, headers=headers, timeout=timeout)
    return response.status_code, time.time()


def inbound_text_envelope(*, wa_id: str, text: str, message_id: str, phone_number_id: str, waba_id: str) -> bytes:
    """A Cloud API webhook body carrying one text message from ``wa_id`` (as the sandbox writes them)."""
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba_id,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
                            "contacts": [{"profile": {"name": "Drill"}, "wa_id": wa_id}],
                            "messages": [
                                {"from": wa_id, "id": message_id, "timestamp": str(int(time.time())), "type": "text", "text": {"body": text}}
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(envelope).encode()
