"""Double opt-in: the web opt-in counts only once the person confirms on WhatsApp."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.utils import timezone

from campaigns.models import Message, MessageStatus
from campaigns.tasks import service_message_send_task
from consent.models import ConsentStatus, OptInForm, Purpose
from consent.selectors import contact_consent_status, contacts_marketable
from consent.services import Evidence, contact_upsert
from conversations.double_optin import double_optin_start
from conversations.models import InboundMessage, OptInConfirmation
from core.audit import Actor
from tests.factories import PHONE, SECOND_NUMBER_ID, payload, second_number_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def form(db):
    return OptInForm.objects.create(
        slug="acme",
        business_name="Acme Shoes",
        message_description="offers and news",
        frequency="up to 4 messages a month",
        privacy_policy_url="https://example.com/privacy",
        notice_text="Yes, Acme Shoes may send me offers and news on WhatsApp, up to 4 messages a month.",
        notice_version="2026-11",
        # get_or_create: a transactional test that ran before may have flushed the migration's row.
        purpose=Purpose.objects.get_or_create(code="marketing", defaults={"name": "Marketing"})[0],
        double_opt_in=True,
        confirmation_template="optin_confirmation",
        confirmation_template_language="en_US",
    )


@pytest.fixture
def started(form, sandbox, django_capture_on_commit_callbacks):
    """A web opt-in waiting for confirmation, its template sent through the sandbox."""
    call_command("sync_templates")
    contact, _ = contact_upsert(phone=PHONE, name="Ana")
    evidence = Evidence(
        notice_text=form.notice_text, notice_version=form.notice_version, page_url="https://shop.example.com/optin/acme/",
        ip_address="203.0.113.9", user_agent="Mozilla/5.0",
    )  # fmt: skip
    with django_capture_on_commit_callbacks() as callbacks:
        confirmation = double_optin_start(form=form, contact=contact, evidence=evidence, actor=Actor(label="opt-in page"))
    assert len(callbacks) == 1  # the send is queued after commit, never inside the page's request
    service_message_send_task(str(confirmation.message_id))
    return confirmation



def confirm_payload(confirmation: OptInConfirmation, value: str) -> dict:
    data = payload("inbound_button_stop_promotions.json", {"wamid.BTN": "wamid.CONFIRM", "wamid.XYZ": confirmation.message.wamid})
    data["entry"][0]["changes"][0]["value"]["messages"][0]["button"] = {"payload": value, "text": "Confirm"}
    return data


def test_the_confirmation_template_is_sent_with_a_payload_naming_the_request(started, sandbox):
    [sent] = sandbox.sends()
    assert sent["template"]["name"] == "optin_confirmation" and sent["template"]["language"] == "en_US"
    body, button = sent["components"]
    assert [p["text"] for p in body["parameters"]] == ["Acme Shoes", "offers and news"]
    assert button == {
        "type": "button", "sub_type": "quick_reply", "index": "0",
        "parameters": [{"type": "payload", "payload": f"optin-confirm:{started.pk}"}],
    }  # fmt: skip
    message = Message.objects.get(kind=Message.Kind.CONFIRMATION)
    assert (message.status, message.wamid) == (MessageStatus.ACCEPTED, sent["wamid"])
    assert contact_consent_status(started.contact) == ConsentStatus.NONE
    assert list(contacts_marketable()) == []


def test_a_page_on_our_second_number_sends_its_confirmation_from_that_number(form, sandbox, django_capture_on_commit_callbacks):
    second_number_add(sandbox=sandbox)
    form.phone_number_id = SECOND_NUMBER_ID
    form.save()
    call_command("sync_templates")
    contact, _ = contact_upsert(phone=PHONE, name="Ana")
    evidence = Evidence(notice_text=form.notice_text, notice_version=form.notice_version, page_url="https://shop.example.com/optin/acme/")
    with django_capture_on_commit_callbacks():
        confirmation = double_optin_start(form=form, contact=contact, evidence=evidence, actor=Actor(label="opt-in page"))
    service_message_send_task(str(confirmation.message_id))
    [sent] = sandbox.sends()
    assert (sent["template"]["name"], sent["phone_number_id"]) == ("optin_confirmation", SECOND_NUMBER_ID)


def test_pressing_the_confirm_button_grants_consent_with_the_web_evidence(started, deliver):
    deliver(confirm_payload(started, started.button_payload))

    contact = started.contact
    assert contact_consent_status(contact) == ConsentStatus.OPTED_IN
    assert list(contacts_marketable()) == [contact]
    event = contact.consent_events.get()
    assert (event.action, event.source) == ("opt_in", "web_form")
    assert event.notice_text == started.notice_text and event.notice_version == "2026-11"
    assert (event.page_url, event.ip_address) == ("https://shop.example.com/optin/acme/", "203.0.113.9")
    assert "confirmed via WhatsApp reply at" in event.note and "wamid.CONFIRM" in event.note
    started.refresh_from_db()
    assert started.confirmed_by_wamid == "wamid.CONFIRM" and started.consent_event == event
    assert InboundMessage.objects.get().keyword_action == "confirm"
    assert "confirmed" in Message.objects.get(kind=Message.Kind.REPLY).body


def test_a_yes_reply_confirms_too(started, deliver):
    deliver(payload("inbound_text_stop.json", {"STOP": "Yes!"}))

    assert contact_consent_status(started.contact) == ConsentStatus.OPTED_IN
    started.refresh_from_db()
    assert started.confirmed_at is not None


def test_a_confirmation_counts_once(started, deliver):
    deliver(payload("inbound_text_stop.json", {"STOP": "YES"}))
    deliver(payload("inbound_text_stop.json", {"STOP": "YES", "wamid.ABC": "wamid.AGAIN"}))

    assert started.contact.consent_events.count() == 1


@pytest.mark.parametrize("text", ["hello", "no", "yes please tell me more"])
def test_other_replies_do_not_confirm(started, deliver, text):
    deliver(payload("inbound_text_stop.json", {"STOP": text}))

    assert contact_consent_status(started.contact) == ConsentStatus.NONE


def test_an_expired_request_is_not_confirmed(started, deliver):
    OptInConfirmation.objects.filter(pk=started.pk).update(expires_at=timezone.now() - timezone.timedelta(minutes=1))

    deliver(confirm_payload(started, started.button_payload))

    assert contact_consent_status(started.contact) == ConsentStatus.NONE


def test_another_persons_confirmation_payload_does_not_confirm(started, deliver, form):
    other, _ = contact_upsert(phone="+14155550103")
    pending = OptInConfirmation.objects.create(
        contact=other, form=form, notice_text=form.notice_text, expires_at=timezone.now() + timezone.timedelta(days=1)
    )
    deliver(confirm_payload(started, pending.button_payload))  # sent from Ana's number

    assert contact_consent_status(started.contact) == ConsentStatus.NONE
    assert contact_consent_status(other) == ConsentStatus.NONE


def test_stop_instead_of_confirming_opts_out(started, deliver):
    deliver(payload("inbound_text_stop.json"))

    assert contact_consent_status(started.contact) == ConsentStatus.OPTED_OUT
    deliver(confirm_payload(started, started.button_payload))
    # A later confirmation is the person's own new opt-in: it wins over the earlier STOP.
    assert contact_consent_status(started.contact) == ConsentStatus.OPTED_IN


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_confirm_button_pressed_in_the_sandbox_reaches_the_live_server(form, live_sandbox):
    from tests.factories import process_pending_deliveries

    call_command("sync_templates")
    contact, _ = contact_upsert(phone=PHONE, name="Ana")
    confirmation = double_optin_start(
        form=form, contact=contact, evidence=Evidence(notice_text=form.notice_text), actor=Actor(label="opt-in page")
    )
    service_message_send_task(str(confirmation.message_id))
    [sent] = live_sandbox.sends()

    live_sandbox.inbound(**{"from": "4915123456789", "button": "Confirm", "payload": confirmation.button_payload, "context_id": sent["wamid"]})
    live_sandbox.wait_for_webhooks(delivered=4)  # sent, delivered, read, the button press
    process_pending_deliveries()

    assert contact_consent_status(contact) == ConsentStatus.OPTED_IN
    confirmation.refresh_from_db()
    assert confirmation.confirmed_at is not None
    assert InboundMessage.objects.get().context_wamid == sent["wamid"]
