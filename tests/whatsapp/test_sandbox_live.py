"""The sandbox as a real server: its signed webhooks reach the app's live server and change our data."""

from __future__ import annotations

import time

import pytest

from campaigns.models import Message, MessageStatus
from consent.models import ConsentStatus
from consent.selectors import contact_consent_status
from consent.services import number_is_suppressed
from conversations.models import InboundMessage
from tests.factories import process_pending_deliveries, queued, send_to
from whatsapp.client import WhatsAppError
from whatsapp.models import WebhookDelivery

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_signed_status_webhooks_from_the_sandbox_update_the_message(live_sandbox, contact_factory):
    message = queued(contact_factory("+4915123456789", "Ana"))
    result = send_to(message)

    state = live_sandbox.wait_for_webhooks(delivered=3)
    assert state["failed"] == 0 and [e["http_status"] for e in state["log"]] == [200, 200, 200]
    assert WebhookDelivery.objects.count() == 3
    process_pending_deliveries()
    message.refresh_from_db()
    assert (message.status, message.wamid) == (MessageStatus.READ, result.wamid)
    assert message.sent_at and message.delivered_at and message.read_at


def test_a_number_configured_to_answer_stop_is_opted_out_by_the_request_itself(live_sandbox, contact_factory):
    contact = contact_factory("+4915123450099", "Stopper")  # the sandbox's default reply rule: *0099 answers STOP
    send_to(queued(contact))

    live_sandbox.wait_for_webhooks(delivered=4)
    # No worker ran: the webhook request applied the opt-out before answering 200.
    assert contact_consent_status(contact) == ConsentStatus.OPTED_OUT
    inbound = InboundMessage.objects.get()
    assert inbound.text == "STOP" and inbound.context_wamid == live_sandbox.sends()[0]["wamid"]


def test_configured_failures_arrive_as_failed_statuses_with_real_codes(live_sandbox, contact_factory):
    undeliverable = queued(contact_factory("+4915123450000"))  # *0000 -> 131026
    stopped = queued(contact_factory("+4915123450050"))  # *0050 -> 131050
    send_to(undeliverable)
    send_to(stopped)

    live_sandbox.wait_for_webhooks(delivered=2)
    process_pending_deliveries()
    undeliverable.refresh_from_db()
    stopped.refresh_from_db()
    assert (undeliverable.status, undeliverable.error_code) == (MessageStatus.FAILED, 131026)
    assert (stopped.status, stopped.error_code) == (MessageStatus.FAILED, 131050)
    assert contact_consent_status(undeliverable.contact) == ConsentStatus.OPTED_IN
    assert contact_consent_status(stopped.contact) == ConsentStatus.OPTED_OUT
    assert number_is_suppressed("+4915123450050")
    assert [s["outcome"] for s in live_sandbox.sends()] == ["failed:131026", "failed:131050"]


def test_a_user_preference_stop_from_the_sandbox_opts_out(live_sandbox, contact_factory):
    contact = contact_factory("+4915123456789", "Ana")
    live_sandbox.inbound(**{"from": "4915123456789", "user_preference": "stop"})

    live_sandbox.wait_for_webhooks(delivered=1)
    assert contact_consent_status(contact) == ConsentStatus.OPTED_OUT


def test_throttling_refuses_a_share_of_sends_and_the_log_holds_only_accepted_ones(live_sandbox, contact_factory):
    live_sandbox.configure(throttle_rate=0.5, webhook_url="")
    contact = contact_factory("+4915123456789")
    accepted, throttled = [], 0
    for _ in range(40):
        try:
            accepted.append(send_to(queued(contact)).wamid)
        except WhatsAppError as error:
            assert error.code == 130429 and error.retry_later
            throttled += 1

    assert 0 < throttled < 40
    assert [s["wamid"] for s in live_sandbox.sends()] == accepted
    assert live_sandbox.refused() == {"130429": throttled}


def test_read_rate_and_delays_are_configurable(live_sandbox, contact_factory):
    live_sandbox.configure(read_rate=0.0, delivered_rate=1.0)
    message = queued(contact_factory("+4915123456789"))
    send_to(message)

    live_sandbox.wait_for_webhooks(delivered=2)
    time.sleep(0.1)
    assert live_sandbox.webhooks()["delivered"] == 2
    process_pending_deliveries()
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_batched_webhooks_carry_several_changes_and_each_is_applied(live_sandbox, contact_factory):
    live_sandbox.configure(webhook_batch_max=50, webhook_concurrency=1, sent_delay=0.05, delivered_delay=0.0, read_delay=0.0)
    messages = [queued(contact_factory(f"+49151234567{i:02d}")) for i in range(10)]
    for message in messages:
        send_to(message)

    live_sandbox.wait_for_webhooks(delivered=30)
    assert WebhookDelivery.objects.count() < 30  # several changes per envelope
    process_pending_deliveries()
    assert {m.status for m in Message.objects.filter(pk__in=[m.pk for m in messages])} == {MessageStatus.READ}
