"""The sending pipeline in this process (dispatch tasks run eagerly) against the sandbox and PostgreSQL.

Real worker processes are exercised in test_workers.py; these tests pin down each decision.
"""

from __future__ import annotations

from datetime import time as clock_time
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import selectors
from campaigns.caps import zone
from campaigns.models import Campaign, FrequencyCapPolicy, Message, MessageStatus, Segment
from campaigns.sending.claims import leases_expire
from campaigns.services import (
    StatusReport,
    campaign_approve,
    campaign_create,
    campaign_submit,
    campaigns_tick,
    message_status_apply,
)
from consent.models import Contact, Suppression
from consent.services import consent_revoke, suppression_hash
from core.audit import Actor
from tests.factories import contacts_create, tasks_run_eagerly
from whatsapp.models import MessageTemplate

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]

SALE_PARAMETERS = [{"field": "name"}, {"value": "20%"}]


@pytest.fixture(autouse=True)
def eager(settings, no_quiet_hours):
    """Tasks run in this process as they are queued; fast retries; a tiny batch to exercise several."""
    with tasks_run_eagerly(settings, batch_size=3):
        yield


def run(template, segment, marketer, approver, parameters=SALE_PARAMETERS, **fields) -> Campaign:
    """Create, submit and approve: the eager tasks launch and send it before this returns."""
    campaign = campaign_create(
        actor=Actor(user=marketer), name="Spring", template=template, segment=segment, parameters=parameters, **fields
    )
    campaign_submit(campaign=campaign, actor=Actor(user=marketer))
    campaign_approve(campaign=campaign, actor=Actor(user=approver))
    campaign.refresh_from_db()
    return campaign


def sent_numbers(sandbox) -> list[str]:
    return sorted("+" + send["to"] for send in sandbox.sends())


def test_only_eligible_contacts_are_messaged_and_the_dry_run_predicted_it(sandbox, spring_sale, marketer, approver):
    eligible = contacts_create(5)
    contacts_create(1, start=10, opted_in=False)  # no consent
    opted_out, suppressed, nameless, bad_number, capped = contacts_create(5, start=20)
    consent_revoke(contact=opted_out, source="support")
    Suppression.objects.create(number_hash=suppression_hash(suppressed.phone), source="erasure")
    Contact.objects.filter(pk=nameless.pk).update(name="")
    Contact.objects.filter(pk=bad_number.pk).update(phone="+49")
    earlier = Campaign.objects.create(name="yesterday's", template=spring_sale)
    Message.objects.create(campaign=earlier, contact=capped, status=MessageStatus.DELIVERED, is_marketing=True, dispatched_at=timezone.now())
    segment = Segment.objects.create(name="all", rules={"all": []})

    draft = campaign_create(actor=Actor(user=marketer), name="Spring", template=spring_sale, segment=segment, parameters=SALE_PARAMETERS)
    dry_run = selectors.campaign_dry_run(draft)
    assert dry_run.audience == 11
    assert dry_run.eligible == 5
    assert dry_run.exclusions == {
        "invalid_number": 1, "opted_out": 1, "suppressed": 1, "no_consent": 1, "missing_parameter": 1,
        "frequency_cap": 1, "quiet_hours_deferral": 0, "us_marketing_blocked": 0,
    }  # fmt: skip
    assert dry_run.samples[0]["body"] == "Hi Person 0, our spring sale is on: 20% off everything until Sunday."

    campaign_submit(campaign=draft, actor=Actor(user=marketer))
    campaign_approve(campaign=draft, actor=Actor(user=approver))

    assert sent_numbers(sandbox) == sorted(c.phone for c in eligible)
    report = selectors.campaign_report(draft)
    assert report["counts"]["sent"] == dry_run.eligible
    assert report["skipped_by_reason"] == {k: v for k, v in dry_run.exclusions.items() if v and k != "frequency_cap"}
    assert report["counts"]["queued"] == dry_run.exclusions["frequency_cap"]  # deferred to tomorrow
    deferred = Message.objects.get(campaign=draft, contact=capped)
    assert deferred.decision["reason"] == "frequency_cap"
    assert deferred.send_after == timezone.now().astimezone(zone(capped.time_zone)).replace(
        hour=0, minute=0, second=0, microsecond=0
    ) + timedelta(days=1)


def test_each_decision_is_recorded_with_the_consent_event_relied_on(sandbox, spring_sale, everyone, marketer, approver):
    (ana,) = contacts_create(1)
    campaign = run(spring_sale, everyone, marketer, approver)
    message = Message.objects.get(campaign=campaign)
    assert message.status == MessageStatus.ACCEPTED and message.wamid == sandbox.sends()[0]["wamid"]
    decision = message.decision
    assert decision["outcome"] == "send" and decision["reason"] == "eligible"
    assert decision["consent_event"] == ana.consent_states.get().last_event_id
    assert decision["marketing_consent"] == "opted_in"
    assert decision["template"]["status"] == "APPROVED"
    assert decision["parameters"] == ["Person 0", "20%"]
    assert decision["result"]["outcome"] == "accepted"
    # What went out: the parameters, the tracked-link token and our id as callback data.
    send = sandbox.sends()[0]
    assert send["callback_data"] == f"msg:{message.pk}"
    assert send["components"][0]["parameters"] == [{"type": "text", "text": "Person 0"}, {"type": "text", "text": "20%"}]
    assert send["components"][1]["parameters"] == [{"type": "text", "text": message.pk.hex}]


def test_a_second_launch_never_messages_anyone_twice(sandbox, spring_sale, everyone, marketer, approver):
    contacts_create(4)
    campaign = run(spring_sale, everyone, marketer, approver)
    assert len(sandbox.sends()) == 4
    from campaigns.sending.materialise import messages_materialise

    assert messages_materialise(campaign=campaign, start=timezone.now()) == 0
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    campaigns_tick()
    assert len(sandbox.sends()) == 4


def test_parameters_from_attributes_and_latest_event_with_fallbacks(sandbox, templates, everyone, marketer, approver):
    from campaigns.models import Event

    ana, ben = contacts_create(2)
    Contact.objects.filter(pk=ana.pk).update(attributes={"first_name": "Ana"})
    now = timezone.now()
    Event.objects.create(contact=ana, name="coupon", properties={"code": "OLD"}, occurred_at=now - timedelta(days=2))
    Event.objects.create(contact=ana, name="coupon", properties={"code": "NEW10"}, occurred_at=now - timedelta(days=1))
    Event.objects.create(contact=ana, name="coupon", properties={"other": 1}, occurred_at=now)
    welcome = templates[("welcome_back", "en_US")]  # NAMED parameters: {{first_name}}, {{discount_code}}
    run(welcome, everyone, marketer, approver, parameters=[
        {"attribute": "first_name", "fallback": "friend"}, {"event": "coupon", "property": "code", "fallback": "HELLO5"},
    ])  # fmt: skip
    by_number = {"+" + s["to"]: s["components"][0]["parameters"] for s in sandbox.sends()}
    assert by_number[ana.phone] == [
        {"type": "text", "text": "Ana", "parameter_name": "first_name"},
        {"type": "text", "text": "NEW10", "parameter_name": "discount_code"},
    ]
    assert [p["text"] for p in by_number[ben.phone]] == ["friend", "HELLO5"]


def test_quiet_hours_defer_to_the_end_of_the_quiet_time_in_the_contacts_zone(sandbox, spring_sale, everyone, marketer, approver):
    tokyo, berlin = contacts_create(2)
    Contact.objects.filter(pk=tokyo.pk).update(time_zone="Asia/Tokyo")
    now_tokyo = timezone.now().astimezone(zone("Asia/Tokyo"))
    start = (now_tokyo - timedelta(hours=1)).time().replace(microsecond=0)
    end = (now_tokyo + timedelta(hours=1)).time().replace(second=0, microsecond=0)
    if end < start:  # keep Berlin (7-8 hours behind) out of the window whatever the hour
        pytest.skip("the window would wrap past midnight at this hour")
    FrequencyCapPolicy.objects.filter(pk=1).update(quiet_hours_start=start, quiet_hours_end=end)

    campaign = run(spring_sale, everyone, marketer, approver)
    assert sent_numbers(sandbox) == [berlin.phone]
    held = Message.objects.get(campaign=campaign, contact=tokyo)
    assert held.status == MessageStatus.QUEUED and held.decision["reason"] == "quiet_hours_deferral"
    assert held.send_after == now_tokyo.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENDING  # not done while deferred

    Message.objects.filter(pk=held.pk).update(send_after=timezone.now())  # the quiet hours are over
    FrequencyCapPolicy.objects.filter(pk=1).update(quiet_hours_start=clock_time(0), quiet_hours_end=clock_time(0))
    campaigns_tick()
    assert sent_numbers(sandbox) == sorted([berlin.phone, tokyo.phone])
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED


def test_a_campaign_may_only_tighten_the_caps(sandbox, spring_sale, everyone, marketer, approver):
    from campaigns.services import CampaignError

    (ana,) = contacts_create(1)
    with pytest.raises(CampaignError, match="only be stricter"):
        campaign_create(actor=Actor(user=marketer), name="x", template=spring_sale, segment=everyone, parameters=SALE_PARAMETERS, max_per_week=9)
    FrequencyCapPolicy.objects.filter(pk=1).update(max_per_day=5, max_per_week=5)
    run(spring_sale, everyone, marketer, approver)
    second = run(spring_sale, everyone, marketer, approver, max_per_day=1)
    assert len(sandbox.sends()) == 1
    assert Message.objects.get(campaign=second).decision["caps"] == {"today": 1, "last_7_days": 1, "max_per_day": 1, "max_per_week": 5}


def test_a_paused_template_pauses_the_campaign_before_the_next_batch(sandbox, spring_sale, everyone, marketer, approver, monkeypatch):
    contacts_create(7)
    from campaigns.sending import dispatcher as sending

    original = sending.batch_send
    calls = []

    def pause_after_first_batch(**kwargs):
        if calls:  # the template status webhook arrived between two batches
            MessageTemplate.objects.filter(pk=spring_sale.pk).update(status=MessageTemplate.Status.PAUSED)
        calls.append(1)
        return original(**kwargs)

    monkeypatch.setattr(sending, "batch_send", pause_after_first_batch)
    campaign = run(spring_sale, everyone, marketer, approver)
    assert campaign.status == Campaign.Status.PAUSED
    assert "paused at WhatsApp" in campaign.status_reason
    assert len(sandbox.sends()) == 3  # one batch
    assert selectors.campaign_report(campaign)["counts"]["queued"] == 4


def test_whatsapp_refusing_the_template_pauses_the_campaign_and_requeues(sandbox, spring_sale, everyone, marketer, approver):
    contacts_create(3)
    ghost = MessageTemplate.objects.create(
        name="not_at_meta", language="en_US", category="MARKETING", status="APPROVED",
        components=[{"type": "BODY", "text": "Hi {{1}}"}], parameter_names=["1"],
    )  # fmt: skip
    campaign = run(ghost, everyone, marketer, approver, parameters=[{"field": "name"}])
    assert campaign.status == Campaign.Status.PAUSED
    assert "132001" in campaign.status_reason
    assert sandbox.sends() == []
    counts = selectors.campaign_report(campaign)["counts"]
    assert counts["queued"] == 3 and counts["failed"] == 0


def test_transient_errors_are_retried_and_give_up_after_the_attempts(sandbox, spring_sale, everyone, marketer, approver, settings):
    settings.CAMPAIGN_MAX_ATTEMPTS = 2
    contacts_create(2)
    sandbox.configure(server_error_rate=1.0)
    campaign = run(spring_sale, everyone, marketer, approver)
    campaigns_tick()  # the retry is due at once (base delay 0 in tests)
    report = selectors.campaign_report(campaign)
    assert report["counts"]["failed"] == 2 and report["failed_by_code"] == {"131000": 2}
    assert all(m.attempts == 2 for m in Message.objects.filter(campaign=campaign))
    assert report["status"] == Campaign.Status.COMPLETED


def test_a_131050_answer_records_a_platform_opt_out(sandbox, spring_sale, everyone, marketer, approver, monkeypatch):
    from whatsapp import client
    from whatsapp.client import WhatsAppError

    (ana,) = contacts_create(1)

    def refuse(**kwargs):
        raise WhatsAppError("(#131050) User stopped marketing", code=131050, http_status=400)

    monkeypatch.setattr(client, "send_template", refuse)
    campaign = run(spring_sale, everyone, marketer, approver)
    message = Message.objects.get(campaign=campaign)
    assert (message.status, message.error_code) == (MessageStatus.FAILED, 131050)
    from consent.selectors import contact_consent_status

    assert contact_consent_status(ana) == "opted_out"
    assert ana.consent_events.last().source == "platform"


def test_a_send_left_in_flight_by_a_dead_worker_becomes_unknown_and_its_webhook_resolves_it(spring_sale, everyone, marketer):
    (ana,) = contacts_create(1)
    campaign = Campaign.objects.create(name="x", template=spring_sale, segment=everyone, status=Campaign.Status.SENDING)
    message = Message.objects.create(
        campaign=campaign, contact=ana, status=MessageStatus.SENDING, attempts=1, is_marketing=True,
        dispatched_at=timezone.now(), lease_expires_at=timezone.now() - timedelta(seconds=1),
    )  # fmt: skip
    assert leases_expire() == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.UNKNOWN
    campaigns_tick()  # nothing is re-sent: the call may have reached WhatsApp
    assert Message.objects.get(pk=message.pk).attempts == 1
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED
    assert selectors.campaign_report(campaign)["counts"]["unknown"] == 1

    message_status_apply(StatusReport(wamid="wamid.LATE", status="delivered", at=timezone.now(), callback_data=message.callback_data))
    message.refresh_from_db()
    assert (message.status, message.wamid) == (MessageStatus.DELIVERED, "wamid.LATE")


def test_a_throughput_error_slows_down_and_requeues_without_spending_attempts(sandbox, spring_sale, everyone, marketer, approver, settings):
    settings.CAMPAIGN_THROTTLE_BACKOFF_SECONDS = 0.2
    contacts_create(2)
    sandbox.configure(throttle_rate=1.0)
    campaign = run(spring_sale, everyone, marketer, approver)
    waiting = list(Message.objects.filter(campaign=campaign))
    assert {m.status for m in waiting} == {MessageStatus.QUEUED}
    assert {m.decision["result"]["outcome"] for m in waiting} == {"requeued: throughput limit"}
    assert {m.attempts for m in waiting} == {0} and all(m.send_after for m in waiting)

    sandbox.configure(throttle_rate=0.0)
    Message.objects.filter(campaign=campaign).update(send_after=timezone.now())
    campaigns_tick()
    assert len(sandbox.sends()) == 2
    assert selectors.campaign_report(campaign)["counts"]["sent"] == 2


def test_a_local_send_time_waits_for_that_hour_in_each_recipients_zone(sandbox, spring_sale, everyone, marketer, approver):
    from campaigns.caps import next_local_time

    tokyo, lima = contacts_create(2)
    Contact.objects.filter(pk=tokyo.pk).update(time_zone="Asia/Tokyo")
    Contact.objects.filter(pk=lima.pk).update(time_zone="America/Lima")
    campaign = run(spring_sale, everyone, marketer, approver, local_time=clock_time(10, 30))
    assert campaign.status == Campaign.Status.SENDING and sandbox.sends() == []
    for contact, zone_name in ((tokyo, "Asia/Tokyo"), (lima, "America/Lima")):
        send_after = Message.objects.get(campaign=campaign, contact=contact).send_after
        assert send_after == next_local_time(zone_name, campaign.launched_at, clock_time(10, 30))
        local = send_after.astimezone(zone(zone_name))
        assert (local.hour, local.minute) == (10, 30) and send_after > timezone.now()


def test_a_message_deferred_past_the_campaigns_end_is_skipped(sandbox, spring_sale, everyone, marketer, approver):
    (capped,) = contacts_create(1)
    # Three sends today reach the rolling weekly cap too: the cap lifts in a week, not at the next local
    # midnight (which may come within the campaign's five minutes).
    for n in range(3):
        earlier = Campaign.objects.create(name=f"earlier {n}", template=spring_sale)
        Message.objects.create(campaign=earlier, contact=capped, status=MessageStatus.SENT, is_marketing=True, dispatched_at=timezone.now())
    campaign = run(spring_sale, everyone, marketer, approver, expires_at=timezone.now() + timedelta(minutes=5))
    message = Message.objects.get(campaign=campaign)
    assert (message.status, message.skip_reason) == (MessageStatus.SKIPPED, "frequency_cap")
    assert message.decision["expired"] == "deferred past the campaign's end"
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED


def test_a_dispatcher_claims_its_next_batch_while_the_calls_of_the_last_one_are_out(sandbox, spring_sale, everyone, marketer, approver, settings):
    settings.CAMPAIGN_BATCH_SIZE, settings.CAMPAIGN_BATCHES_IN_FLIGHT, settings.CAMPAIGN_DISPATCHERS = 3, 2, 1
    sandbox.configure(latency=0.4)
    contacts_create(12)

    campaign = run(spring_sale, everyone, marketer, approver)

    messages = list(Message.objects.filter(campaign=campaign))
    assert {m.status for m in messages} == {MessageStatus.ACCEPTED}
    assert len(sandbox.sends()) == 12 == len({send["callback_data"] for send in sandbox.sends()})
    batches = sorted({m.claimed_at for m in messages})
    assert len(batches) == 4
    first_answered = min(m.accepted_at for m in messages if m.claimed_at == batches[0])
    assert batches[1] < first_answered  # the second batch did not wait for the first one's answers
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED
