"""Helpers for WhatsApp tests: stored webhook payloads, signed POSTs, contacts with consent."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client

from campaigns.models import Message, MessageStatus
from consent.services import Evidence, consent_grant, contact_upsert
from whatsapp import client as whatsapp_client
from whatsapp.models import WebhookDelivery
from whatsapp.tasks import webhook_delivery_process_task

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "whatsapp"
WEBHOOK_URL = "/webhooks/whatsapp"
NOTICE = Evidence(notice_text="Yes, Acme may send me offers on WhatsApp, up to 4 a month.", notice_version="v1")
PHONE = "+4915123456789"
WA_ID = "4915123456789"


def _replace(node: Any, mapping: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        return {key: _replace(value, mapping) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace(value, mapping) for value in node]
    if isinstance(node, str) and node in mapping:
        return mapping[node]
    return node


def _stamp_now(node: Any, now: int) -> Any:
    if isinstance(node, dict):
        return {k: (str(now) if k == "timestamp" and isinstance(v, str) else now if k == "timestamp" else _stamp_now(v, now)) for k, v in node.items()}
    if isinstance(node, list):
        return [_stamp_now(v, now) for v in node]
    return node


def payload(name: str, replace: dict[str, Any] | None = None, *, now: bool = True) -> dict:
    """A stored payload; string values equal to a key of ``replace`` are swapped, timestamps set to now."""
    data = json.loads((FIXTURES / name).read_text())
    if now:
        data = _stamp_now(data, int(time.time()))
    return _replace(data, replace or {})


def sign(body: bytes, secret: str | None = None) -> str:
    return "sha256=" + hmac.new((secret or settings.WHATSAPP_APP_SECRET).encode(), body, hashlib.sha256).hexdigest()


def post_webhook(client: Client, data: dict | bytes, *, signature: str | None = "good"):
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    headers = {}
    if signature == "good":
        headers["HTTP_X_HUB_SIGNATURE_256"] = sign(body)
    elif signature is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    return client.post(WEBHOOK_URL, data=body, content_type="application/json", **headers)


def process_pending_deliveries() -> int:
    """Run the worker task for every unprocessed delivery, as a worker would (oldest first)."""
    ids = list(WebhookDelivery.objects.filter(processed_at__isnull=True).order_by("received_at", "pk").values_list("pk", flat=True))
    for delivery_id in ids:
        webhook_delivery_process_task(delivery_id)
    return len(ids)


@pytest.fixture
def deliver(client):
    """POST a signed payload to the webhook, then run the worker-side processing; returns the response."""

    def _deliver(data: dict | bytes, *, process: bool = True):
        response = post_webhook(client, data)
        if process:
            process_pending_deliveries()
        return response

    return _deliver


@pytest.fixture
def opted_in_contact(db):
    contact, _ = contact_upsert(phone=PHONE, name="Ana")
    consent_grant(contact=contact, source="web_form", evidence=NOTICE)
    return contact


@pytest.fixture
def campaign_message(opted_in_contact):
    """A template message handed to WhatsApp (accepted, wamid known); statuses treat every kind alike."""
    return Message.objects.create(
        kind=Message.Kind.TEST, contact=opted_in_contact, status=MessageStatus.ACCEPTED, wamid="wamid.XYZ"
    )


@pytest.fixture
def contact_factory(db):
    def make(phone: str, name: str = "", *, opted_in: bool = True):
        contact, _ = contact_upsert(phone=phone, name=name)
        if opted_in:
            consent_grant(contact=contact, source="web_form", evidence=NOTICE)
        return contact

    return make


SALE = [
    {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "20%"}]},
    {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "tok123"}]},
]
FAST = {"sent_delay": 0.01, "delivered_delay": 0.01, "read_delay": 0.01}


@pytest.fixture
def live_sandbox(sandbox, live_server):
    # The live server answers in short-lived threads: close their connections after each request
    # so none is left open on the test database.
    connections.settings["default"]["CONN_MAX_AGE"] = 0
    sandbox.configure(webhook_url=f"{live_server.url}/webhooks/whatsapp", **FAST)
    return sandbox


def send_to(message: Message):
    return whatsapp_client.send_template(
        to=message.contact.phone, template_name="spring_sale", language="en_US", components=SALE,
        callback_data=message.callback_data,
    )  # fmt: skip


def queued(contact) -> Message:
    return Message.objects.create(kind=Message.Kind.TEST, contact=contact, status=MessageStatus.SENDING)
