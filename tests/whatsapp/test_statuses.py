"""Status webhooks move messages forward only; 131050 records a platform opt-out; multi-entry envelopes."""

from __future__ import annotations

import pytest

from campaigns.models import Message, MessageStatus
from consent.models import ConsentStatus, Suppression
from consent.selectors import contact_consent_status, contacts_marketable
from conversations.models import InboundMessage
from tests.factories import PHONE, payload

pytestmark = pytest.mark.django_db


def test_statuses_move_a_message_through_sent_delivered_read(deliver, campaign_message):
    for name, expected in (("status_sent.json", "sent"), ("status_delivered.json", "delivered"), ("status_read.json", "read")):
        assert deliver(payload(name)).status_code == 200
        campaign_message.refresh_from_db()
        assert campaign_message.status == expected
    assert campaign_message.sent_at <= campaign_message.delivered_at <= campaign_message.read_at


def test_read_before_delivered_keeps_read_and_fills_in_the_delivered_time(deliver, campaign_message):
    deliver(payload("status_read.json", {"1732470005": "1732470100"}, now=False))
    deliver(payload("status_delivered.json", now=False))

    campaign_message.refresh_from_db()
    assert campaign_message.status == MessageStatus.READ
    assert campaign_message.delivered_at.timestamp() == 1732470005
    assert campaign_message.read_at.timestamp() == 1732470100


def test_a_failed_status_is_final_and_keeps_metas_error(deliver, campaign_message):
    deliver(payload("status_failed_131026.json"))
    deliver(payload("status_delivered.json"))

    campaign_message.refresh_from_db()
    assert campaign_message.status == MessageStatus.FAILED
    assert campaign_message.error_code == 131026
    assert campaign_message.error_title == "Message undeliverable"
    assert campaign_message.error_detail == "Message Undeliverable."
    assert contact_consent_status(campaign_message.contact) == ConsentStatus.OPTED_IN  # not an opt-out


def test_a_failed_131050_status_records_a_platform_opt_out(deliver, campaign_message):
    deliver(payload("status_failed_131050.json"))

    campaign_message.refresh_from_db()
    assert campaign_message.status == MessageStatus.FAILED and campaign_message.error_code == 131050
    contact = campaign_message.contact
    assert contact_consent_status(contact) == ConsentStatus.OPTED_OUT
    event = contact.consent_events.latest("id")
    assert (event.action, event.source) == ("opt_out", "platform")
    assert "131050" in event.note
    assert Suppression.objects.get(number_hash=contact.phone_hash).source == "platform"
    assert list(contacts_marketable()) == []


def test_a_status_is_matched_by_callback_data_when_the_send_was_never_recorded(deliver, opted_in_contact):
    # The worker died after Meta accepted the send: the row has no wamid yet.
    message = Message.objects.create(kind=Message.Kind.TEST, contact=opted_in_contact, status=MessageStatus.SENDING)
    deliver(payload("status_delivered.json", {"wamid.XYZ": "wamid.LOST", "msg:8f1c...": message.callback_data}))

    message.refresh_from_db()
    assert message.wamid == "wamid.LOST"
    assert message.status == MessageStatus.DELIVERED


def test_a_status_for_an_unknown_message_is_answered_200_and_ignored(deliver, db):
    assert deliver(payload("status_delivered.json")).status_code == 200
    assert Message.objects.count() == 0


def test_every_entry_and_every_change_of_an_envelope_is_handled(deliver, opted_in_contact, contact_factory):
    one = Message.objects.create(kind=Message.Kind.TEST, contact=opted_in_contact, status=MessageStatus.ACCEPTED, wamid="wamid.ONE")
    cleo = contact_factory("+14155550103", "Cleo")
    two = Message.objects.create(kind=Message.Kind.TEST, contact=cleo, status=MessageStatus.ACCEPTED, wamid="wamid.TWO")

    response = deliver(payload("multi_entry.json", {"msg:8f1c...": ""}))

    assert response.status_code == 200
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.status, two.status) == ("delivered", "read")
    assert set(InboundMessage.objects.values_list("wamid", flat=True)) == {"wamid.IN1", "wamid.IN2"}
    assert InboundMessage.objects.get(wamid="wamid.IN1").contact == opted_in_contact
    assert contact_consent_status(cleo) == ConsentStatus.OPTED_OUT  # "stop!" in the second entry
    assert contact_consent_status(opted_in_contact) == ConsentStatus.OPTED_IN


def test_a_contact_last_inbound_time_opens_the_service_window(deliver, opted_in_contact):
    deliver(payload("inbound_image.json"))

    opted_in_contact.refresh_from_db()
    assert opted_in_contact.service_window_open()
    inbound = InboundMessage.objects.get()
    assert (inbound.type, inbound.text, inbound.answered) == ("image", "Is this shoe in stock?", False)
    assert opted_in_contact.phone == PHONE


@pytest.mark.parametrize("reached", ["status_read.json", "status_delivered.json"])
def test_a_failed_status_after_delivery_is_ignored_and_logged(deliver, campaign_message, reached, caplog):
    deliver(payload(reached))
    deliver(payload("status_failed_131026.json"))

    campaign_message.refresh_from_db()
    assert campaign_message.status == reached.removeprefix("status_").removesuffix(".json")
    assert (campaign_message.failed_at, campaign_message.error_code, campaign_message.error_title) == (None, None, "")
    assert "status failed (error 131026) for message wamid.XYZ ignored" in caplog.text
