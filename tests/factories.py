"""Plain helpers the tests share: contacts with consent, clients, campaigns with messages, webhook payloads.

Fixtures live in conftest.py files (the shared ones in tests/conftest.py); tests import helpers from
here, never from a conftest module.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.models import Campaign, Message, MessageStatus, Segment
from campaigns.services import campaign_snapshot_hash
from consent.models import Contact
from consent.services import ConsentChange, Evidence, consent_record_many, contact_phone_fields
from conversations.models import InboundMessage
from core.audit import Actor
from whatsapp import client as whatsapp_client
from whatsapp.models import SendingNumber, WebhookDelivery
from whatsapp.numbers import sending_number_save
from whatsapp.tasks import webhook_delivery_process_task

# --- consent ------------------------------------------------------------------------------------

NOTICE_TEXT = "Yes, Acme Shoes may send me offers and news on WhatsApp, up to 4 messages a month. Reply STOP to end."
NOTICE = Evidence(notice_text=NOTICE_TEXT, notice_version="v1")
# The evidence of the opt-ins that contacts_create and the WhatsApp fixtures record.
OFFERS_NOTICE = Evidence(notice_text="Yes, Acme may send me offers on WhatsApp, up to 4 a month.", notice_version="v1")

# Per-IP counters live in Redis across runs: start each run somewhere else in 10.0.0.0/8.
_visitor_addresses = itertools.count(random.randrange(2**24))


def new_visitor_ip() -> str:
    n = next(_visitor_addresses) % 2**24
    return f"10.{n >> 16}.{n >> 8 & 255}.{n & 255}"


def phone(n: int) -> str:
    """A valid German mobile number, distinct for each n (the sandbox treats the last digits specially)."""
    return f"+49151{20000000 + n * 10 + 1:08d}"


def contacts_create(count: int, *, start: int = 0, opted_in: bool = True, **fields: Any) -> list[Contact]:
    """``count`` contacts in a few statements (consent through the ledger service, in one batch)."""
    contacts = []
    for n in range(start, start + count):
        e164 = phone(n)
        contacts.append(Contact(phone=e164, name=fields.get("name", f"Person {n}"), **{**contact_phone_fields(e164), **{k: v for k, v in fields.items() if k != "name"}}))
    Contact.objects.bulk_create(contacts, batch_size=1000)
    contacts = list(Contact.objects.filter(phone__in=[c.phone for c in contacts]).order_by("pk"))
    if opted_in:
        consent_record_many(changes=[ConsentChange(contact=c, action="opt_in", source="web_form", evidence=OFFERS_NOTICE) for c in contacts])
    return contacts


# --- clients ------------------------------------------------------------------------------------


def api_client(user: User | None = None) -> APIClient:
    """An API client sending ``Authorization: Token <key>`` for the user (none for ``None``)."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


_page_addresses = itertools.count(1)


def fresh_ip() -> str:
    """An address no other test used: rate-limit counters live in the shared cache."""
    n = next(_page_addresses)
    return f"198.51.{n // 250}.{n % 250 + 1}"


def client_for(user: User | None = None) -> Client:
    client = Client(REMOTE_ADDR=fresh_ip())
    if user is not None:
        client.force_login(user)
    return client


# --- campaigns and what people wrote ----------------------------------------------------------


@contextmanager
def tasks_run_eagerly(settings: Any, *, batch_size: int) -> Iterator[None]:
    """Celery tasks run in this process as they are queued (after commit), with fast sends and retries.

    ``settings`` is pytest-django's fixture: the changes end with the test.
    """
    from celery import current_app

    settings.CAMPAIGN_BATCH_SIZE = batch_size
    settings.CAMPAIGN_RETRY_BASE_SECONDS = 0
    settings.CAMPAIGN_SEND_RATE = 1000
    current_app.conf.task_always_eager = True
    current_app.conf.task_eager_propagates = True
    try:
        yield
    finally:
        current_app.conf.task_always_eager = False
        current_app.conf.task_eager_propagates = False


def campaign_with_messages(
    template, *, outcomes: dict[str, int], author=None, tracked_url: str = "https://shop.example.com/spring", **fields: Any
) -> tuple[Campaign, list[Message]]:
    """A sending campaign whose messages are in the given states, as the sender and webhooks leave them.

    ``outcomes`` keys: queued, skipped:<reason>, accepted, delivered, read, failed:<code>.
    """
    total = sum(outcomes.values())
    contacts = contacts_create(total, start=Contact.objects.count() + 1000)
    segment = Segment.objects.get_or_create(name="whole audience", defaults={"rules": {"all": []}})[0]
    now = timezone.now()
    campaign = Campaign.objects.create(
        name=fields.pop("name", "Spring"), template=template, segment=segment, created_by=author,
        parameters=[{"field": "name", "fallback": "there"}, {"value": "20%"}], tracked_url=tracked_url,
        status=fields.pop("status", Campaign.Status.SENDING), launched_at=fields.pop("launched_at", now - timedelta(minutes=10)), **fields,
    )  # fmt: skip
    if campaign.status != Campaign.Status.DRAFT:  # as approved: what was approved is what it is
        campaign.approval_hash = campaign_snapshot_hash(campaign)
        campaign.save(update_fields=["approval_hash"])
    messages = []
    people = iter(contacts)
    for outcome, count in outcomes.items():
        state, _, detail = outcome.partition(":")
        for n in range(count):
            message = Message(campaign=campaign, contact=next(people), is_marketing=True, created_at=now - timedelta(minutes=10))
            sent_at = now - timedelta(minutes=9 - n % 5)
            if state == "queued":
                message.status = MessageStatus.QUEUED
            elif state == "skipped":
                message.status, message.skip_reason = MessageStatus.SKIPPED, detail
                message.decision = {"outcome": "skip", "reason": detail}
            elif state == "failed":
                message.status, message.error_code, message.error_title = MessageStatus.FAILED, int(detail), f"Error {detail}"
                message.dispatched_at, message.failed_at = sent_at, sent_at
            else:
                message.status = {"accepted": MessageStatus.ACCEPTED, "delivered": MessageStatus.DELIVERED, "read": MessageStatus.READ}[state]
                message.dispatched_at = message.accepted_at = sent_at
                message.wamid = f"wamid.{campaign.pk}.{message.contact_id}"
                message.decision = {"outcome": "send", "reason": "eligible"}
                if state in ("delivered", "read"):
                    message.delivered_at = sent_at + timedelta(seconds=5)
                if state == "read":
                    message.read_at = sent_at + timedelta(minutes=1)
            messages.append(message)
    Message.objects.bulk_create(messages)
    return campaign, messages


def inbound(contact: Contact, text: str, *, minutes_ago: float = 5, answered: bool = False, **fields: Any) -> InboundMessage:
    """A message the person sent us, as the webhook stores it (it also opens their 24-hour window)."""
    sent_at = timezone.now() - timedelta(minutes=minutes_ago)
    message = InboundMessage.objects.create(
        wamid=f"wamid.in.{contact.pk}.{InboundMessage.objects.count()}", contact=contact, from_wa_id=(contact.phone or "").lstrip("+"),
        type="text", text=text, sent_at=sent_at, answered=answered, **fields,
    )  # fmt: skip
    if contact.last_inbound_at is None or contact.last_inbound_at < sent_at:
        Contact.objects.filter(pk=contact.pk).update(last_inbound_at=sent_at)
        contact.last_inbound_at = sent_at
    return message


# --- WhatsApp: stored webhook payloads, signed POSTs, sends to the sandbox ----------------------

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "whatsapp"
WEBHOOK_URL = "/webhooks/whatsapp"
# The person of the stored payloads.
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


SALE = [
    {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "20%"}]},
    {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "tok123"}]},
]


def send_to(message: Message):
    return whatsapp_client.send_template(
        to=message.contact.phone, template_name="spring_sale", language="en_US", components=SALE,
        callback_data=message.callback_data,
    )  # fmt: skip


def queued(contact: Contact) -> Message:
    return Message.objects.create(kind=Message.Kind.TEST, contact=contact, status=MessageStatus.SENDING)


CSV_IMPORT_URL = "/admin/consent/contact/import/"


def csv_import_through_admin(client: Client, content: bytes, name: str = "shop-export.csv", mapping: dict[int, str] | None = None, steps=("preview", "import")):
    """Upload, keep the guessed column mapping (or change some columns), preview, then import."""
    response = client.post(CSV_IMPORT_URL, {"file": SimpleUploadedFile(name, content, content_type="text/csv")})
    if response.status_code != 200 or 'name="token"' not in response.content.decode():
        return response
    html = response.content.decode()
    token = html.split('name="token" value="')[1].split('"')[0]
    fields = {"token": token}
    for chunk in html.split('<select name="map_')[1:]:
        index = int(chunk.split('"')[0])
        fields[f"map_{index}"] = (mapping or {}).get(index) or chunk.split(" selected>")[0].rsplit('value="', 1)[1].split('"')[0]
    for step in steps:
        response = client.post(CSV_IMPORT_URL, {**fields, "step": step})
    return response


# --- several sending numbers ---------------------------------------------------------------------

SECOND_NUMBER_ID = "100000000000002"
SECOND_DISPLAY_NUMBER = "15550002222"


def second_number_add(*, throughput: int = 2, sandbox: Any = None, sandbox_throughput: float = 0) -> SendingNumber:
    """The business's second WhatsApp number, as an administrator adds it (and the sandbox knows it)."""
    number = sending_number_save(
        number=SendingNumber(
            phone_number_id=SECOND_NUMBER_ID, display_phone_number=SECOND_DISPLAY_NUMBER, label="Outlet brand", throughput=throughput
        ),
        actor=Actor(label="test administrator"),
    )
    if sandbox is not None:
        sandbox.configure(
            more_numbers=[{"phone_number_id": SECOND_NUMBER_ID, "display_phone_number": SECOND_DISPLAY_NUMBER, "throughput": sandbox_throughput}]
        )
    return number
