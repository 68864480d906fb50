"""Webhooks act only for our numbers: items for another phone number id or business account are
stored, counted and ignored, on the urgent opt-out path, the worker path and the batched drain."""

from __future__ import annotations

import copy
import logging

import pytest

from campaigns.models import Message, MessageStatus
from consent.models import ConsentStatus
from consent.selectors import contact_consent_status
from conversations.models import InboundMessage
from core.models import AuditEntry
from tests.factories import payload, post_webhook, process_pending_deliveries
from whatsapp.models import MessageTemplate, WebhookDelivery
from whatsapp.services import webhook_deliveries_drain

pytestmark = pytest.mark.django_db

OTHER_NUMBER = "100000000000999"
OTHER_ACCOUNT = "200000000000999"


def for_another_number(data: dict) -> dict:
    return payload_with_ids(data, phone_number_id=OTHER_NUMBER)


def payload_with_ids(data: dict, *, phone_number_id: str | None = None, account_id: str | None = None) -> dict:
    data = copy.deepcopy(data)
    for entry in data["entry"]:
        if account_id is not None:
            entry["id"] = account_id
        for change in entry["changes"]:
            if phone_number_id is not None and "metadata" in change["value"]:
                change["value"]["metadata"]["phone_number_id"] = phone_number_id
    return data


def test_a_stop_for_another_number_is_stored_counted_and_changes_no_consent(client, opted_in_contact, caplog):
    with caplog.at_level(logging.WARNING, logger="whatsapp.services"):
        response = post_webhook(client, for_another_number(payload("inbound_text_stop.json")))

    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.foreign_items == 1
    assert contact_consent_status(opted_in_contact) == ConsentStatus.OPTED_IN  # not even the urgent path
    assert "ignored 1 item(s) not for our numbers (messages for phone_number_id " in caplog.text

    process_pending_deliveries()
    delivery.refresh_from_db()
    assert delivery.processed_at is not None and delivery.last_error == ""
    assert contact_consent_status(opted_in_contact) == ConsentStatus.OPTED_IN
    assert not InboundMessage.objects.exists()


def test_a_preference_stop_for_another_number_changes_no_consent(deliver, opted_in_contact):
    deliver(for_another_number(payload("user_preferences_stop.json")))

    assert contact_consent_status(opted_in_contact) == ConsentStatus.OPTED_IN
    assert WebhookDelivery.objects.get().foreign_items == 1


@pytest.mark.parametrize("path", ["worker", "drain"])
def test_statuses_for_another_number_move_no_message(deliver, campaign_message, path):
    deliver(for_another_number(payload("status_failed_131050.json")), process=path == "worker")
    deliver(for_another_number(payload("status_read.json")), process=path == "worker")
    if path == "drain":
        assert webhook_deliveries_drain(time_budget=30) is False

    campaign_message.refresh_from_db()
    assert campaign_message.status == MessageStatus.ACCEPTED
    assert campaign_message.failed_at is None and campaign_message.read_at is None
    assert contact_consent_status(campaign_message.contact) == ConsentStatus.OPTED_IN  # no platform opt-out
    assert list(WebhookDelivery.objects.values_list("foreign_items", flat=True)) == [1, 1]
    assert not WebhookDelivery.objects.filter(processed_at__isnull=True).exists()


def test_template_and_account_changes_for_another_business_account_are_ignored(deliver, templates):  # noqa: F811
    deliver(payload_with_ids(payload("template_status_update.json"), account_id=OTHER_ACCOUNT))
    deliver(payload_with_ids(payload("phone_number_quality_update.json"), account_id=OTHER_ACCOUNT))

    assert MessageTemplate.objects.get(name="spring_sale", language="en_US").status == MessageTemplate.Status.APPROVED
    assert not AuditEntry.objects.filter(action="whatsapp.phone_number_quality_update").exists()
    assert sorted(WebhookDelivery.objects.values_list("foreign_items", flat=True)) == [1, 1]

    deliver(payload("template_status_update.json"))  # the same change for our account applies
    assert MessageTemplate.objects.get(name="spring_sale", language="en_US").status == MessageTemplate.Status.PAUSED


def test_a_mixed_envelope_applies_only_the_items_for_our_number(deliver, opted_in_contact, contact_factory):
    one = Message.objects.create(kind=Message.Kind.TEST, contact=opted_in_contact, status=MessageStatus.ACCEPTED, wamid="wamid.ONE")
    cleo = contact_factory("+14155550103", "Cleo")
    two = Message.objects.create(kind=Message.Kind.TEST, contact=cleo, status=MessageStatus.ACCEPTED, wamid="wamid.TWO")
    data = payload("multi_entry.json", {"msg:8f1c...": ""})
    # Cleo's status and her "stop!" come from another number of the same app.
    for entry in data["entry"]:
        for change in entry["changes"]:
            value = change["value"]
            if any(s["id"] == "wamid.TWO" for s in value.get("statuses", [])) or any(m["from"] == "14155550103" for m in value.get("messages", [])):
                value["metadata"]["phone_number_id"] = OTHER_NUMBER

    assert deliver(data).status_code == 200

    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.status, two.status) == (MessageStatus.DELIVERED, MessageStatus.ACCEPTED)
    assert set(InboundMessage.objects.values_list("wamid", flat=True)) == {"wamid.IN1"}
    assert contact_consent_status(cleo) == ConsentStatus.OPTED_IN
    assert WebhookDelivery.objects.get().foreign_items == 2
