"""Follow-ups with real worker processes (see test_workers.py): the parent campaign is sent through the
sandbox, whose read webhooks say who read it; the follow-up then goes, through the normal send path,
to the others only, never to whoever opted out since, and within the frequency caps."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.db.models import F

from campaigns.models import Campaign, Message, MessageStatus, Segment
from consent.models import ConsentStatus
from consent.selectors import contact_consent_status
from tests.campaigns.test_workers import approve_via_api, approved_via_api, finished, live, processes, wait_until  # noqa: F401 (fixtures)
from tests.factories import api_client, contacts_create
from whatsapp.models import WebhookDelivery

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]

DELAY_DAYS = 3


def statuses_settled(sandbox, campaign_id: int, count: int) -> None:
    """Every status webhook of the campaign's ``count`` sends has arrived and been applied."""
    wait_until(
        lambda: sandbox.webhooks()["pending"] == 0
        and not WebhookDelivery.objects.filter(processed_at__isnull=True).exists()
        and Message.objects.filter(campaign_id=campaign_id, status__in=[MessageStatus.DELIVERED, MessageStatus.READ]).count() == count,
        timeout=120, what="the parent's delivered and read statuses",
    )  # fmt: skip


def days_pass(campaign_id: int, days: int) -> None:
    """The workers cannot wait days: the campaign and its messages are moved back as if it had run then.

    A minute more, as a follow-up's earliest start is rounded up to the whole minute: without it the
    follow-up would wait for the next minute to begin.
    """
    shift = timedelta(days=days, minutes=1)
    Campaign.objects.filter(pk=campaign_id).update(launched_at=F("launched_at") - shift, completed_at=F("completed_at") - shift)
    Message.objects.filter(campaign_id=campaign_id).update(
        **{name: F(name) - shift for name in ("created_at", "dispatched_at", "accepted_at", "sent_at", "delivered_at", "read_at")}
    )


def follow_up_approved(marketer, approver, parent_id: int) -> int:
    as_marketer = api_client(marketer)
    created = as_marketer.post(
        f"/api/v1/campaigns/{parent_id}/follow-ups", {"condition": "not_read", "delay_days": DELAY_DAYS}, format="json"
    )
    assert created.status_code == 201, created.json()
    follow_up_id = created.json()["id"]
    assert as_marketer.post(f"/api/v1/campaigns/{follow_up_id}/submit").status_code == 200
    refused = as_marketer.post(f"/api/v1/campaigns/{follow_up_id}/approve")  # four eyes: never its author
    assert refused.status_code == 403
    approve_via_api(approver, follow_up_id)
    return follow_up_id


def sends_of(sandbox, campaign_id: int) -> Counter:
    """The numbers the campaign's messages reached at the sandbox, as the sandbox logged them."""
    ids = {str(pk) for pk in Message.objects.filter(campaign_id=campaign_id).values_list("pk", flat=True)}
    return Counter("+" + send["to"] for send in sandbox.sends() if (send.get("callback_data") or "").removeprefix("msg:") in ids)


def test_a_follow_up_reaches_only_who_did_not_read_and_never_who_opted_out_since(live, sandbox, marketer, approver):  # noqa: F811
    audience = contacts_create(40)
    everyone = Segment.objects.create(name="everyone", rules={"all": []})
    sandbox.configure(read_rate=0.5)  # about half of them read it
    parent_id = approved_via_api(marketer, approver, everyone)
    finished(parent_id)
    statuses_settled(sandbox, parent_id, len(audience))
    readers = set(Message.objects.filter(campaign_id=parent_id, status=MessageStatus.READ).values_list("contact__phone", flat=True))
    assert 0 < len(readers) < len(audience)
    not_read = [contact for contact in audience if contact.phone not in readers]
    # Two who did not read it say STOP after it.
    stoppers = not_read[:2]
    for contact in stoppers:
        sandbox.inbound(**{"from": contact.phone.lstrip("+"), "text": "STOP"})
        wait_until(lambda c=contact: contact_consent_status(c) == ConsentStatus.OPTED_OUT, timeout=30, what="the STOP")
    days_pass(parent_id, DELAY_DAYS)

    follow_up_id = follow_up_approved(marketer, approver, parent_id)
    finished(follow_up_id)

    sent = sends_of(sandbox, follow_up_id)
    assert set(sent) == {contact.phone for contact in not_read[2:]}
    assert max(sent.values()) == 1
    for contact in stoppers:
        message = Message.objects.get(campaign_id=follow_up_id, contact=contact)
        assert (message.status, message.skip_reason) == (MessageStatus.SKIPPED, "opted_out")
    assert not Message.objects.filter(campaign_id=follow_up_id, contact__phone__in=readers).exists()


def test_a_follow_up_counts_against_the_frequency_caps(live, sandbox, marketer, approver):  # noqa: F811
    audience = contacts_create(10)
    gold = contacts_create(3, start=100, attributes={"tier": "gold"})
    sandbox.configure(read_rate=0.0)  # nobody reads the parent
    parent_id = approved_via_api(marketer, approver, Segment.objects.create(name="everyone", rules={"all": []}))
    finished(parent_id)
    statuses_settled(sandbox, parent_id, len(audience) + len(gold))
    days_pass(parent_id, DELAY_DAYS)
    # Today the gold customers had a campaign of their own: the daily cap of one is used up.
    flash_id = approved_via_api(marketer, approver, Segment.objects.create(name="gold", rules={"attribute": "tier", "op": "eq", "value": "gold"}))
    finished(flash_id)
    assert set(sends_of(sandbox, flash_id)) == {contact.phone for contact in gold}

    follow_up_id = follow_up_approved(marketer, approver, parent_id)

    wait_until(
        lambda: Message.objects.filter(campaign_id=follow_up_id, status=MessageStatus.QUEUED, send_after__isnull=False).count() == len(gold)
        and len(sends_of(sandbox, follow_up_id)) == len(audience),
        timeout=180, what="the follow-up to send and defer",
    )  # fmt: skip
    assert set(sends_of(sandbox, follow_up_id)) == {contact.phone for contact in audience}
    deferred = Message.objects.filter(campaign_id=follow_up_id, status=MessageStatus.QUEUED)
    assert {message.contact_id for message in deferred} == {contact.pk for contact in gold}
    assert {message.decision["reason"] for message in deferred} == {"frequency_cap"}
