"""Several sending numbers, in this process (tasks run eagerly) against the sandbox and PostgreSQL.

A campaign goes out from the number it picked, through that number's own limiter; an opt-out that
reached any of our numbers stops every number's campaigns; answers go from the number the person
wrote to; a webhook for a number we did not configure is still ignored. Real workers: see
test_workers_numbers.py.
"""

from __future__ import annotations

import pytest
import redis
from django.conf import settings

from campaigns.models import Campaign, Message, MessageStatus, Segment
from campaigns.sending.service import service_message_send
from campaigns.sending.throttle import bucket_keys, bucket_rate, bucket_take
from campaigns.services import campaign_approve, campaign_create, campaign_submit, campaign_update
from consent.models import ConsentEvent, ConsentStatus
from consent.selectors import contact_consent_status
from consent.services import consent_grant, contact_upsert
from conversations.inbox import support_reply
from core.audit import Actor
from tests.campaigns.test_sending import SALE_PARAMETERS, eager, run  # noqa: F401 (the autouse fixture runs tasks eagerly)
from tests.factories import (
    OFFERS_NOTICE,
    PHONE,
    SECOND_DISPLAY_NUMBER,
    SECOND_NUMBER_ID,
    api_client,
    campaign_with_messages,
    contacts_create,
    payload,
    post_webhook,
    process_pending_deliveries,
    second_number_add,
)
from tests.whatsapp.test_webhook_numbers import payload_with_ids
from whatsapp.models import WebhookDelivery

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]

UNCONFIGURED_NUMBER_ID = "100000000000999"


@pytest.fixture
def opted_in_ana(db):
    """The person of the stored webhook payloads, opted in."""
    contact, _ = contact_upsert(phone=PHONE, name="Ana")
    consent_grant(contact=contact, source="web_form", evidence=OFFERS_NOTICE)
    return contact


def send_queued_answers() -> None:
    """What the service-message task does once a worker picks it up."""
    for message_id in Message.objects.filter(kind=Message.Kind.REPLY, status=MessageStatus.QUEUED).values_list("pk", flat=True):
        service_message_send(message_id=message_id)


def test_a_campaign_on_the_second_number_goes_out_from_it_through_its_own_limiter(sandbox, spring_sale, marketer, approver):
    second_number_add(throughput=40, sandbox=sandbox)
    audience = contacts_create(5)
    segment = Segment.objects.create(name="everyone", rules={"all": []})

    campaign = run(spring_sale, segment, marketer, approver, phone_number_id=SECOND_NUMBER_ID)

    assert campaign.status == Campaign.Status.COMPLETED
    sends = sandbox.control("GET", "/_sandbox/sends")
    assert sends["by_number"] == {SECOND_NUMBER_ID: len(audience)}
    assert {send["phone_number_id"] for send in sends["sends"]} == {SECOND_NUMBER_ID}
    # Each message says which number it went from and at which rate: the number's own, not the default's 1000/s.
    decisions = [message.decision["sent_from"] for message in Message.objects.filter(campaign=campaign)]
    assert decisions == [{"phone_number_id": SECOND_NUMBER_ID, "rate_per_second": 40.0}] * len(audience)
    assert set(Message.objects.filter(campaign=campaign).values_list("phone_number_id", flat=True)) == {SECOND_NUMBER_ID}


def test_each_number_has_its_own_limiter_key_and_rate(settings):
    second_number_add(throughput=3)
    assert bucket_rate(SECOND_NUMBER_ID) == 3.0
    assert bucket_rate(settings.WHATSAPP_PHONE_NUMBER_ID) == 1000.0  # the default keeps CAMPAIGN_SEND_RATE
    client = redis.Redis.from_url(settings.REDIS_URL)
    window, _ = bucket_keys(SECOND_NUMBER_ID)
    client.delete(window, bucket_keys(settings.WHATSAPP_PHONE_NUMBER_ID)[0])

    granted = [bucket_take(SECOND_NUMBER_ID, rate=bucket_rate(SECOND_NUMBER_ID), timeout=0) for _ in range(5)]

    assert granted == [True, True, True, False, False]  # its rate is 3 a second, whatever the default's
    assert client.zcard(window) == 3
    assert client.zcard(bucket_keys(settings.WHATSAPP_PHONE_NUMBER_ID)[0]) == 0  # the default number's window is untouched


def test_without_sending_numbers_a_campaign_goes_out_from_the_default_number(sandbox, spring_sale, marketer, approver):
    contacts_create(2)
    segment = Segment.objects.create(name="everyone", rules={"all": []})

    campaign = run(spring_sale, segment, marketer, approver)

    assert campaign.phone_number_id == ""
    assert sandbox.control("GET", "/_sandbox/sends")["by_number"] == {settings.WHATSAPP_PHONE_NUMBER_ID: 2}


def test_a_stop_to_the_second_number_stops_the_first_numbers_campaign(client, sandbox, spring_sale, marketer, approver, opted_in_ana):
    second_number_add(sandbox=sandbox)
    ana = opted_in_ana
    others = contacts_create(2, start=10)
    stop = payload_with_ids(payload("inbound_text_stop.json"), phone_number_id=SECOND_NUMBER_ID)

    assert post_webhook(client, stop).status_code == 200
    process_pending_deliveries()

    assert contact_consent_status(ana) == ConsentStatus.OPTED_OUT
    evidence = ConsentEvent.objects.filter(contact=ana).latest("pk")
    assert f"to our number +{SECOND_DISPLAY_NUMBER} (phone number id {SECOND_NUMBER_ID})" in evidence.note
    segment = Segment.objects.create(name="everyone", rules={"all": []})
    campaign = run(spring_sale, segment, marketer, approver)  # on the default (first) number
    sent_to = {"+" + send["to"] for send in sandbox.sends() if send["type"] == "template"}
    assert sent_to == {contact.phone for contact in others}
    skipped = Message.objects.get(campaign=campaign, contact=ana)
    assert (skipped.status, skipped.skip_reason) == (MessageStatus.SKIPPED, "opted_out")


def test_the_stop_confirmation_goes_from_the_number_the_person_wrote_to(client, sandbox, opted_in_ana):
    second_number_add(sandbox=sandbox)
    stop = payload_with_ids(payload("inbound_text_stop.json"), phone_number_id=SECOND_NUMBER_ID)

    post_webhook(client, stop)
    process_pending_deliveries()
    send_queued_answers()

    replies = [send for send in sandbox.sends() if send["type"] == "text"]
    assert [(send["to"], send["phone_number_id"]) for send in replies] == [(PHONE.lstrip("+"), SECOND_NUMBER_ID)]
    reply = Message.objects.get(kind=Message.Kind.REPLY)
    assert reply.phone_number_id == SECOND_NUMBER_ID and reply.status == MessageStatus.ACCEPTED


def test_a_support_answer_goes_from_the_number_the_person_last_wrote_to(client, sandbox, opted_in_ana, support):
    second_number_add(sandbox=sandbox)
    hello = payload_with_ids(
        payload("inbound_text_stop.json", {"STOP": "Hello, is the outlet open on Sunday?"}), phone_number_id=SECOND_NUMBER_ID
    )
    post_webhook(client, hello)
    process_pending_deliveries()

    support_reply(contact=opted_in_ana, body="Yes, from 10 to 16.", actor=Actor(user=support))
    send_queued_answers()

    answer = next(send for send in sandbox.sends() if send["type"] == "text")
    assert (answer["text"], answer["phone_number_id"]) == ("Yes, from 10 to 16.", SECOND_NUMBER_ID)


def test_a_webhook_for_a_number_not_configured_is_still_ignored(client, sandbox, opted_in_ana):
    second_number_add(sandbox=sandbox)
    stop = payload_with_ids(payload("inbound_text_stop.json"), phone_number_id=UNCONFIGURED_NUMBER_ID)

    post_webhook(client, stop)
    process_pending_deliveries()

    assert contact_consent_status(opted_in_ana) == ConsentStatus.OPTED_IN
    assert WebhookDelivery.objects.get().foreign_items == 1
    assert sandbox.sends() == []


def test_the_number_is_part_of_what_is_approved(spring_sale, marketer, approver):
    second_number_add()
    segment = Segment.objects.create(name="everyone", rules={"all": []})
    campaign = campaign_create(actor=Actor(user=marketer), name="Spring", template=spring_sale, segment=segment, parameters=SALE_PARAMETERS)
    campaign_submit(campaign=campaign, actor=Actor(user=marketer))
    campaign_approve(campaign=campaign, actor=Actor(user=approver))
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PAUSED)  # approved, not sending

    campaign = campaign_update(campaign=Campaign.objects.get(pk=campaign.pk), actor=Actor(user=marketer), phone_number_id=SECOND_NUMBER_ID)

    assert campaign.status == Campaign.Status.DRAFT
    assert "submit it for approval again" in campaign.status_reason


def test_the_api_takes_a_number_of_ours_and_refuses_another_clearly(spring_sale, marketer):
    second_number_add()
    segment = Segment.objects.create(name="everyone", rules={"all": []})
    as_marketer = api_client(marketer)
    body = {"name": "Outlet", "template": "spring_sale", "language": "en_US", "segment": segment.pk, "parameters": SALE_PARAMETERS}

    created = as_marketer.post("/api/v1/campaigns", {**body, "phone_number_id": SECOND_NUMBER_ID}, format="json")
    default = as_marketer.post("/api/v1/campaigns", body, format="json")
    refused = as_marketer.post("/api/v1/campaigns", {**body, "phone_number_id": UNCONFIGURED_NUMBER_ID}, format="json")

    assert created.status_code == 201 and created.json()["phone_number_id"] == SECOND_NUMBER_ID
    assert default.status_code == 201 and default.json()["phone_number_id"] == settings.WHATSAPP_PHONE_NUMBER_ID
    assert refused.status_code == 400
    assert f"The sending number {UNCONFIGURED_NUMBER_ID} is not one of ours" in str(refused.json())


def test_the_messaging_limit_is_one_for_all_numbers(client, sandbox, spring_sale, marketer, approver):
    """Meta sets it per business portfolio since October 2025: what the first number sent today counts for the second."""
    second_number_add(throughput=1000, sandbox=sandbox)
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": settings.WHATSAPP_BUSINESS_ACCOUNT_ID, "time": 1764547200, "changes": [{"field": "phone_number_quality_update", "value": {
            "display_phone_number": SECOND_DISPLAY_NUMBER, "event": "DOWNGRADE", "max_daily_conversations_per_business": "TIER_250",
        }}]}],
    }  # fmt: skip
    assert post_webhook(client, body).status_code == 200
    process_pending_deliveries()
    campaign_with_messages(spring_sale, outcomes={"accepted": 240})  # sent today from the first number
    newcomers = contacts_create(20, start=5000)
    segment = Segment.objects.create(name="everyone", rules={"all": []})

    campaign = run(spring_sale, segment, marketer, approver, phone_number_id=SECOND_NUMBER_ID)

    sent = sandbox.control("GET", "/_sandbox/sends")["by_number"]
    assert sent == {SECOND_NUMBER_ID: 10}  # the 10 left of the shared 250
    waiting = Message.objects.filter(campaign=campaign, contact__in=newcomers, status=MessageStatus.QUEUED, send_after__isnull=False)
    assert waiting.count() == 10


def test_a_preference_stop_at_the_second_number_opts_out_of_everything_and_says_meta_keeps_it_per_number(client, opted_in_ana):
    second_number_add()
    stop = payload_with_ids(payload("user_preferences_stop.json"), phone_number_id=SECOND_NUMBER_ID)

    post_webhook(client, stop)
    process_pending_deliveries()

    assert contact_consent_status(opted_in_ana) == ConsentStatus.OPTED_OUT  # business-wide, never per number
    note = ConsentEvent.objects.filter(contact=opted_in_ana).latest("pk").note
    assert f"Meta keeps it for our number +{SECOND_DISPLAY_NUMBER} (phone number id {SECOND_NUMBER_ID}) only" in note
