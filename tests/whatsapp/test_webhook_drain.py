"""The workers' batched path for fresh webhook deliveries (webhook_deliveries_drain) gives the same
result as applying each delivery alone: forward-only statuses, final failures, platform opt-outs,
repeated statuses applied once, other deliveries (inbound messages) handled item by item."""

from __future__ import annotations

import pytest

from campaigns.models import Message, MessageStatus
from consent.models import ConsentStatus
from consent.selectors import contact_consent_status
from conversations.models import InboundMessage
from tests.factories import PHONE, payload
from whatsapp.models import WebhookDelivery, WebhookReceipt
from whatsapp.services import webhook_deliveries_drain

pytestmark = pytest.mark.django_db


def drain() -> None:
    assert webhook_deliveries_drain(time_budget=30) is False  # finished, nothing left
    assert not WebhookDelivery.objects.filter(processed_at__isnull=True).exists()


def test_a_batch_moves_messages_forward_only_and_fills_in_every_time(deliver, campaign_message):
    for name in ("status_read.json", "status_sent.json", "status_delivered.json", "status_read.json"):
        deliver(payload(name, {"1732470005": "1732470100"} if name == "status_read.json" else None, now=False), process=False)
    assert WebhookDelivery.objects.count() == 3  # the repeated read is the same body: stored once
    drain()

    campaign_message.refresh_from_db()
    assert campaign_message.status == MessageStatus.READ
    assert campaign_message.sent_at and campaign_message.delivered_at and campaign_message.read_at.timestamp() == 1732470100
    assert WebhookReceipt.objects.filter(key__startswith="status:wamid.XYZ:").count() == 3


def test_a_failure_in_a_batch_is_final_and_131050_opts_the_person_out(deliver, campaign_message):
    deliver(payload("status_failed_131050.json"), process=False)
    deliver(payload("status_delivered.json"), process=False)
    drain()

    campaign_message.refresh_from_db()
    assert campaign_message.status == MessageStatus.FAILED and campaign_message.error_code == 131050
    assert campaign_message.delivered_at is not None
    assert contact_consent_status(campaign_message.contact) == ConsentStatus.OPTED_OUT


def test_a_status_of_an_unknown_message_and_an_inbound_message_do_not_hold_up_the_batch(deliver, campaign_message):
    deliver(payload("status_sent.json", {"wamid.XYZ": "wamid.UNKNOWN"}), process=False)
    deliver(payload("inbound_image.json"), process=False)
    deliver(payload("status_sent.json"), process=False)
    drain()

    campaign_message.refresh_from_db()
    assert campaign_message.status == MessageStatus.SENT
    assert InboundMessage.objects.filter(contact__phone=PHONE).count() == 1
    assert not Message.objects.filter(wamid="wamid.UNKNOWN").exists()


def test_a_message_known_only_by_its_callback_data_gets_its_wamid(deliver, opted_in_contact):
    message = Message.objects.create(kind=Message.Kind.TEST, contact=opted_in_contact, status=MessageStatus.UNKNOWN)
    deliver(payload("status_sent.json", {"wamid.XYZ": "wamid.LATE", "msg:8f1c...": message.callback_data}), process=False)
    drain()

    message.refresh_from_db()
    assert (message.wamid, message.status) == ("wamid.LATE", MessageStatus.SENT)


def test_a_failure_after_read_in_the_same_batch_is_ignored(deliver, campaign_message):
    deliver(payload("status_sent.json"), process=False)
    deliver(payload("status_read.json"), process=False)
    deliver(payload("status_failed_131026.json"), process=False)
    drain()

    campaign_message.refresh_from_db()
    assert campaign_message.status == MessageStatus.READ
    assert (campaign_message.failed_at, campaign_message.error_code) == (None, None)
    assert WebhookReceipt.objects.filter(key="status:wamid.XYZ:failed").exists()  # seen once, applied never
