"""/webhooks/whatsapp: the handshake, signatures, malformed bodies, durable storage, duplicates."""

from __future__ import annotations

import json

import pytest

from campaigns.models import MessageStatus
from conversations.models import InboundMessage
from tests.factories import WEBHOOK_URL, payload, post_webhook, process_pending_deliveries, sign
from whatsapp.models import WebhookDelivery, WebhookReceipt

pytestmark = pytest.mark.django_db


def test_the_handshake_echoes_the_challenge_for_our_token(client):
    response = client.get(WEBHOOK_URL, {"hub.mode": "subscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "1158201444"})

    assert response.status_code == 200
    assert response.content == b"1158201444"
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
)
def test_the_handshake_refuses_a_wrong_token(client, params):
    response = client.get(WEBHOOK_URL, params)
    assert response.status_code == 403
    assert b"1" not in response.content


def test_a_signed_delivery_is_stored_and_answered_200(client):
    body = json.dumps(payload("status_delivered.json")).encode()
    response = post_webhook(client, body)

    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.body.encode() == body
    assert delivery.processed_at is None  # the worker does the rest


@pytest.mark.parametrize(
    "signature",
    [None, "", "sha256=", "sha256=" + "0" * 64, "sha1=abc", "garbage"],
    ids=["missing", "empty", "no-hex", "wrong-hex", "wrong-algorithm", "garbage"],
)
def test_an_unsigned_or_badly_signed_delivery_is_refused_and_nothing_is_stored(client, signature, opted_in_contact):
    response = post_webhook(client, payload("inbound_text_stop.json"), signature=signature)

    assert response.status_code == 403
    assert WebhookDelivery.objects.count() == 0
    assert InboundMessage.objects.count() == 0
    assert opted_in_contact.consent_states.get().status == "opted_in"


def test_a_signature_made_with_another_secret_is_refused(client):
    body = json.dumps(payload("status_sent.json")).encode()
    response = post_webhook(client, body, signature=sign(body, secret="someone-elses-secret"))
    assert response.status_code == 403
    assert WebhookDelivery.objects.count() == 0


def test_a_body_changed_after_signing_is_refused(client):
    body = json.dumps(payload("status_sent.json")).encode()
    response = post_webhook(client, body.replace(b"sent", b"read"), signature=sign(body))
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"object": "page", "entry": []}', "whatsapp_business_account"),
        (b'{"object": "whatsapp_business_account"}', "'entry' must be a list"),
        (b'{"object": "whatsapp_business_account", "entry": {"id": "1"}}', "'entry' must be a list"),
        (b'{"object": "whatsapp_business_account", "entry": [{"id": "1"}]}', "changes"),
        (b'{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages"}]}]}', "value"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_a_signed_body_that_is_not_an_envelope_gets_400_with_the_reason(client, body, reason):
    response = post_webhook(client, body)

    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert WebhookDelivery.objects.count() == 0


def test_other_methods_are_not_allowed(client):
    assert client.put(WEBHOOK_URL).status_code == 405


def test_a_repeated_delivery_is_stored_once_and_processed_once(client, campaign_message):
    body = json.dumps(payload("status_delivered.json")).encode()
    assert post_webhook(client, body).status_code == 200
    assert process_pending_deliveries() == 1
    campaign_message.refresh_from_db()
    first_delivered_at = campaign_message.delivered_at

    assert post_webhook(client, body).status_code == 200  # Meta did not see our 200 and retried
    assert process_pending_deliveries() == 0

    delivery = WebhookDelivery.objects.get()
    assert delivery.repeat_count == 1 and delivery.attempts == 1
    assert WebhookReceipt.objects.filter(key="status:wamid.XYZ:delivered").count() == 1
    campaign_message.refresh_from_db()
    assert campaign_message.status == MessageStatus.DELIVERED
    assert campaign_message.delivered_at == first_delivered_at


def test_the_same_status_in_two_different_deliveries_is_applied_once(client, campaign_message):
    first = payload("status_failed_131050.json")
    second = json.loads(json.dumps(first))
    second["entry"][0]["id"] = "another-entry-id"  # same status item, different body
    post_webhook(client, first)
    post_webhook(client, second)
    assert process_pending_deliveries() == 2

    events = opted_out_events = campaign_message.contact.consent_events.filter(source="platform")
    assert events.count() == 1, list(opted_out_events)


def test_a_delivery_whose_processing_failed_is_retried_without_repeating_what_worked(client, campaign_message, monkeypatch):
    from conversations import inbound as services
    from whatsapp.services import WebhookProcessingError
    from whatsapp.tasks import webhook_delivery_process_task

    data = payload("multi_entry.json", {"wamid.ONE": "wamid.XYZ", "msg:8f1c...": ""})
    post_webhook(client, data)
    delivery = WebhookDelivery.objects.get()
    real = services.inbound_message_handle

    def broken(**kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(services, "inbound_message_handle", broken)
    with pytest.raises(WebhookProcessingError):
        webhook_delivery_process_task(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.processed_at is None and "database hiccup" in delivery.last_error
    campaign_message.refresh_from_db()
    assert campaign_message.status == MessageStatus.DELIVERED  # the statuses went through

    monkeypatch.setattr(services, "inbound_message_handle", real)
    webhook_delivery_process_task(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.processed_at is not None and delivery.attempts == 2 and delivery.last_error == ""
    assert InboundMessage.objects.filter(wamid="wamid.IN1").exists()


def test_a_delivery_left_unprocessed_is_queued_again_by_the_sweeper(client, campaign_message):
    from django.utils import timezone

    from whatsapp.services import webhook_deliveries_requeue

    post_webhook(client, payload("status_delivered.json"))  # its task never ran (say the broker was down)
    post_webhook(client, payload("status_read.json"))
    stale, fresh = WebhookDelivery.objects.order_by("pk")
    WebhookDelivery.objects.filter(pk=stale.pk).update(received_at=timezone.now() - timezone.timedelta(minutes=5))

    assert webhook_deliveries_requeue(older_than_seconds=60) == [stale.pk]
    process_pending_deliveries()
    assert webhook_deliveries_requeue(older_than_seconds=0) == []


def test_account_notices_are_kept_in_the_audit_log_once(deliver):
    from core.models import AuditEntry

    deliver(payload("phone_number_quality_update.json"))
    deliver(payload("phone_number_quality_update.json") | {"entry": payload("phone_number_quality_update.json")["entry"] * 2})

    entry = AuditEntry.objects.get(action="whatsapp.phone_number_quality_update")
    assert entry.details == {"display_phone_number": "15550001111", "event": "DOWNGRADE", "current_limit": "TIER_1K"}
