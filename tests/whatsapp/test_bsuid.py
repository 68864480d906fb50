"""People known by a business-scoped user id (BSUID) instead of, or beside, their phone number.

Through the webhook endpoint with signed deliveries (payloads shaped like Meta's, see
whatsapp.webhooks), and through the sandbox with ``username_users`` where the round trip matters.
"""

from __future__ import annotations

import pytest

from campaigns.models import Message, MessageStatus
from campaigns.tasks import service_message_send_task
from consent.models import ConsentStatus, Contact, Suppression
from consent.selectors import contact_consent_status, contacts_marketable
from consent.services import consent_grant, contact_is_suppressed, contact_upsert, suppression_hash
from conversations.models import InboundMessage
from tests.factories import NOTICE, PHONE, WA_ID, api_client, payload, post_webhook, process_pending_deliveries
from tests.rights.test_erasure import tables_mentioning

BSUID = "US.13491208655302741918"  # as in the fixtures
PARENT_BSUID = "US.ENT.11815799212886844830"
NEW_BSUID = "US.20000000000000000042"  # system_user_changed_user_id.json


def active_suppression(identifier: str) -> bool:
    return Suppression.objects.filter(number_hash=suppression_hash(identifier), lifted_at__isnull=True).exists()


def contact_with_phone_and_bsuid() -> Contact:
    contact, _ = contact_upsert(phone=PHONE, name="Ana")
    Contact.objects.filter(pk=contact.pk).update(bsuid=BSUID, bsuid_hash=suppression_hash(BSUID))
    contact.refresh_from_db()
    consent_grant(contact=contact, source="web_form", evidence=NOTICE)
    return contact


@pytest.mark.django_db
def test_a_stop_from_someone_known_only_by_bsuid_opts_them_out_before_the_200(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        response = post_webhook(client, payload("inbound_text_stop_bsuid_only.json"))

    assert response.status_code == 200
    # No worker ran: the message without a phone number was not dropped, and the opt-out is in force.
    contact = Contact.objects.get(bsuid=BSUID)
    assert (contact.phone, contact.username, contact.parent_bsuid) == (None, "@ana", PARENT_BSUID)
    assert contact_consent_status(contact) == ConsentStatus.OPTED_OUT
    assert active_suppression(BSUID)
    event = contact.consent_events.get()
    assert (event.action, event.source) == ("opt_out", "inbound_keyword")
    assert f"business-scoped user id {BSUID}" in event.note  # which identifier the STOP came under
    inbound = InboundMessage.objects.get()
    assert (inbound.contact, inbound.from_wa_id, inbound.from_user_id, inbound.text) == (contact, "", BSUID, "STOP")
    assert Message.objects.get(kind=Message.Kind.REPLY).contact == contact


@pytest.mark.django_db
def test_a_preference_stop_naming_only_the_bsuid_suppresses_the_number_too(client):
    contact = contact_with_phone_and_bsuid()

    response = post_webhook(client, payload("user_preferences_stop_bsuid_only.json"))

    assert response.status_code == 200
    assert contact_consent_status(contact) == ConsentStatus.OPTED_OUT
    assert active_suppression(BSUID) and active_suppression(PHONE)  # every identifier we hold
    assert "for their business-scoped user id" in contact.consent_events.latest("id").note
    assert list(contacts_marketable()) == []


@pytest.mark.django_db
def test_a_status_naming_only_the_bsuid_moves_its_message(deliver):
    contact = Contact.objects.create(bsuid=BSUID, bsuid_hash=suppression_hash(BSUID))
    message = Message.objects.create(kind=Message.Kind.TEST, contact=contact, status=MessageStatus.ACCEPTED, wamid="wamid.XYZ")

    deliver(payload("status_delivered_bsuid_only.json"))

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert Contact.objects.count() == 1


@pytest.mark.django_db
def test_a_status_naming_number_and_bsuid_links_the_bsuid_to_the_numbers_contact(deliver, opted_in_contact):
    Message.objects.create(kind=Message.Kind.TEST, contact=opted_in_contact, status=MessageStatus.ACCEPTED, wamid="wamid.XYZ")
    status = payload("status_delivered_bsuid_only.json")
    status["entry"][0]["changes"][0]["value"]["statuses"][0]["recipient_id"] = WA_ID

    deliver(status)

    opted_in_contact.refresh_from_db()
    assert (opted_in_contact.bsuid, opted_in_contact.parent_bsuid, opted_in_contact.username) == (BSUID, PARENT_BSUID, "@ana")
    deliver(payload("inbound_text_stop_bsuid_only.json"))  # a later STOP without the number finds them
    assert contact_consent_status(opted_in_contact) == ConsentStatus.OPTED_OUT
    assert Contact.objects.count() == 1


@pytest.mark.django_db
def test_a_changed_bsuid_keeps_the_persons_consent_and_suppression(deliver):
    deliver(payload("inbound_text_stop_bsuid_only.json"))
    contact = Contact.objects.get(bsuid=BSUID)

    deliver(payload("system_user_changed_user_id.json"))

    contact.refresh_from_db()
    assert contact.bsuid == NEW_BSUID
    assert contact_consent_status(contact) == ConsentStatus.OPTED_OUT
    assert active_suppression(NEW_BSUID) and active_suppression(BSUID)
    assert InboundMessage.objects.get(wamid="wamid.SYS1").contact == contact
    # The next message under the new BSUID is the same person, still suppressed.
    later = payload("inbound_text_stop_bsuid_only.json", {BSUID: NEW_BSUID, "wamid.BSUID1": "wamid.BSUID2", "STOP": "Hi"})
    deliver(later)
    assert Contact.objects.count() == 1
    assert InboundMessage.objects.get(wamid="wamid.BSUID2").contact == contact
    assert contact_is_suppressed(contact)


@pytest.mark.django_db
def test_a_bsuid_only_person_later_seen_with_their_number_stays_one_contact(deliver):
    deliver(payload("inbound_text_stop_bsuid_only.json"))

    deliver(payload("inbound_text_phone_and_bsuid.json"))

    contact = Contact.objects.get()
    assert (contact.phone, contact.bsuid) == (PHONE, BSUID)
    assert active_suppression(PHONE) and active_suppression(BSUID)  # the number learnt later is suppressed too
    assert InboundMessage.objects.filter(contact=contact).count() == 2


@pytest.mark.django_db
def test_a_later_delivery_with_number_and_bsuid_merges_the_bsuid_contact_into_the_numbers(deliver, opted_in_contact):
    deliver(payload("inbound_text_stop_bsuid_only.json"))  # not yet known to be the same person
    stopped_under_bsuid = Contact.objects.get(bsuid=BSUID)
    assert contact_consent_status(opted_in_contact) == ConsentStatus.OPTED_IN

    deliver(payload("inbound_text_phone_and_bsuid.json"))

    opted_in_contact.refresh_from_db()
    stopped_under_bsuid.refresh_from_db()
    assert Contact.objects.get(bsuid=BSUID) == opted_in_contact
    assert (stopped_under_bsuid.bsuid, stopped_under_bsuid.merged_into) == (None, opted_in_contact)
    # The person said STOP under their BSUID: that holds for the number's contact too.
    assert contact_consent_status(opted_in_contact) == ConsentStatus.OPTED_OUT
    assert f"contact #{stopped_under_bsuid.pk}" in opted_in_contact.consent_events.latest("id").note
    assert active_suppression(PHONE) and list(contacts_marketable()) == []
    assert InboundMessage.objects.get(wamid="wamid.BOTH1").contact == opted_in_contact


@pytest.mark.django_db
def test_erasure_removes_the_bsuid_everywhere_and_keeps_the_person_suppressed(deliver, support):
    deliver(payload("inbound_text_stop_bsuid_only.json"))
    contact = Contact.objects.get(bsuid=BSUID)
    exported = api_client(support).get(f"/api/v1/contacts/{contact.pk}/export").json()
    assert (exported["contact"]["bsuid"], exported["contact"]["username"]) == (BSUID, "@ana")
    assert exported["contact"]["number_suppressed"] is True
    assert exported["inbound_messages"][0]["from_user_id"] == BSUID

    response = api_client(support).post(f"/api/v1/contacts/{contact.pk}/erase", {}, format="json")

    assert response.status_code == 200
    contact.refresh_from_db()
    assert (contact.bsuid, contact.bsuid_hash, contact.username, contact.parent_bsuid) == (None, "", "", "")
    assert tables_mentioning(BSUID, PARENT_BSUID, "@ana") == {}
    assert active_suppression(BSUID)
    # They write again: a new contact, and still suppressed under their BSUID.
    deliver(payload("inbound_text_stop_bsuid_only.json", {"wamid.BSUID1": "wamid.AGAIN", "STOP": "Hello"}))
    again = Contact.objects.get(bsuid=BSUID)
    assert again.pk != contact.pk and contact_is_suppressed(again)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_bsuid_only_message_through_the_sandbox_is_stored_and_answered_with_recipient(live_sandbox):
    number = "4915199990777"
    live_sandbox.configure(username_users=[{"number": number, "user_id": BSUID, "username": "@ana", "hide_phone": True}])

    live_sandbox.inbound(user_id=BSUID, text="HELP")
    live_sandbox.wait_for_webhooks(delivered=1)
    process_pending_deliveries()  # the worker's part

    contact = Contact.objects.get(bsuid=BSUID)
    assert contact.phone is None  # WhatsApp withheld the number
    inbound = InboundMessage.objects.get(contact=contact)
    assert (inbound.text, inbound.keyword_action, inbound.from_user_id) == ("HELP", "help", BSUID)
    reply = Message.objects.get(kind=Message.Kind.REPLY, contact=contact)
    service_message_send_task(str(reply.pk))
    [sent] = live_sandbox.sends()
    assert (sent["recipient"], sent["to"], sent["type"]) == (BSUID, None, "text")
    assert sent["wa_id"] == number  # the sandbox knows who it is; we never saw the number
    live_sandbox.wait_for_webhooks(delivered=4)  # sent, delivered, read
    process_pending_deliveries()
    reply.refresh_from_db()
    assert reply.status == MessageStatus.READ
