"""End to end with real processes: Celery workers and beat (subprocesses) on the test database and
Redis, the WhatsApp sandbox as Meta, and the live server receiving the sandbox's signed webhooks.

What the issue asks to be shown: only eligible contacts are messaged, each once; caps hold for two
campaigns sent at once to one audience by 4 worker processes; an opt-out in the middle of a 5,000
recipient campaign stops every later send to that person; a SIGKILLed worker causes no duplicate
and no loss; quiet hours defer; a template paused mid-campaign pauses it; scheduled campaigns start
within seconds through beat.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from campaigns.caps import zone
from campaigns.models import Campaign, FrequencyCapPolicy, Message, MessageStatus, Segment
from consent.models import Contact
from consent.services import consent_revoke
from core.audit import Actor
from tests.celery_processes import ROOT, Processes, app_state_in_redis_clear, wait_until, workers_idle
from tests.factories import api_client, contacts_create
from whatsapp.sandbox.catalog import default_templates
from whatsapp.services import webhook_deliveries_requeue

__all__ = ["ROOT", "Processes", "wait_until", "workers_idle"]  # for the other modules using real workers

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]

FAST_WEBHOOKS = {"sent_delay": 0.01, "delivered_delay": 0.01, "read_delay": 0.01}
PARAMETERS = [{"field": "name", "fallback": "there"}, {"value": "20%"}]


@pytest.fixture(scope="module")
def processes(celery_processes: Processes) -> Processes:
    """The session's worker and beat (tests/celery_processes.py), with the app's Redis state that earlier
    modules left (send pauses, limiter windows, locks) removed, as a fresh start would have it."""
    app_state_in_redis_clear()
    return celery_processes


@pytest.fixture
def live(processes, sandbox, live_server, spring_sale, no_quiet_hours):
    """Everything running, the sandbox delivering webhooks to the live server; quiet at the end."""
    # The live server answers in short-lived threads: their connections must not outlive them.
    connections.settings["default"]["CONN_MAX_AGE"] = 0
    sandbox.configure(webhook_url=f"{live_server.url}/webhooks/whatsapp", **FAST_WEBHOOKS)
    yield processes
    # The workers must be idle when the test database is emptied (TRUNCATE would deadlock with them):
    # stop the campaigns and the webhooks, and let the workers finish what they hold.
    Campaign.objects.filter(status__in=[Campaign.Status.SENDING, Campaign.Status.SCHEDULED]).update(status=Campaign.Status.CANCELLED)
    sandbox.configure(webhook_url="")
    wait_until(lambda: sandbox.webhooks()["pending"] == 0, timeout=120, what="the sandbox's last webhooks")
    for _ in range(2):  # twice: a webhook posted a moment ago may have queued one more task
        wait_until(workers_idle, timeout=120, what="the workers to finish their tasks", interval=0.3)
        time.sleep(0.5)


def submitted_via_api(marketer, segment: Segment, **fields) -> int:
    """The marketer creates the campaign and submits it for approval."""
    as_marketer = api_client(marketer)
    body = {"name": "Spring", "template": "spring_sale", "language": "en_US", "segment": segment.pk, "parameters": PARAMETERS, **fields}
    created = as_marketer.post("/api/v1/campaigns", body, format="json")
    assert created.status_code == 201, created.json()
    campaign_id = created.json()["id"]
    assert as_marketer.post(f"/api/v1/campaigns/{campaign_id}/submit").status_code == 200
    return campaign_id


def approve_via_api(approver, campaign_id: int) -> None:
    approved = api_client(approver).post(f"/api/v1/campaigns/{campaign_id}/approve")
    assert approved.status_code == 200, approved.json()


def approved_via_api(marketer, approver, segment: Segment, **fields) -> int:
    """Created and submitted by the marketer, approved by the approver: the workers take it from there."""
    campaign_id = submitted_via_api(marketer, segment, **fields)
    approve_via_api(approver, campaign_id)
    return campaign_id


def status_of(campaign_id: int) -> str:
    return Campaign.objects.get(pk=campaign_id).status


def finished(campaign_id: int, timeout: float = 180) -> Campaign:
    wait_until(lambda: status_of(campaign_id) in ("completed", "paused"), timeout=timeout, what=f"campaign {campaign_id} to finish")
    return Campaign.objects.get(pk=campaign_id)


def sends_by_number(sandbox) -> Counter:
    return Counter("+" + send["to"] for send in sandbox.sends())


def test_only_eligible_contacts_are_messaged_once_and_the_dry_run_said_so(live, sandbox, marketer, approver):
    eligible = contacts_create(150)
    contacts_create(20, start=200, opted_in=False)
    for contact in contacts_create(20, start=300):
        consent_revoke(contact=contact, source="support")
    segment = Segment.objects.create(name="everyone", rules={"all": []})
    as_marketer = api_client(marketer)

    campaign_id = submitted_via_api(marketer, segment)
    dry_run = as_marketer.get(f"/api/v1/campaigns/{campaign_id}/dry-run").json()  # what the approver sees
    approve_via_api(approver, campaign_id)

    finished(campaign_id)
    sent = sends_by_number(sandbox)
    assert set(sent) == {c.phone for c in eligible}
    assert max(sent.values()) == 1
    report = as_marketer.get(f"/api/v1/campaigns/{campaign_id}/report").json()
    assert report["status"] == "completed"
    assert dry_run["eligible"] == 150
    assert report["skipped_by_reason"] == {k: v for k, v in dry_run["exclusions"].items() if v} == {"no_consent": 20, "opted_out": 20}
    # The sandbox's status webhooks come back through the live server and a worker.
    wait_until(
        lambda: as_marketer.get(f"/api/v1/campaigns/{campaign_id}/report").json()["counts"]["read"] == 150,
        timeout=120, what="read statuses",
    )  # fmt: skip


def test_a_scheduled_campaign_starts_within_seconds_through_beat(live, sandbox, marketer, approver):
    contacts_create(5)
    segment = Segment.objects.create(name="everyone", rules={"all": []})
    send_at = timezone.now() + timedelta(seconds=2)
    campaign_id = approved_via_api(marketer, approver, segment, send_at=send_at.isoformat())
    assert status_of(campaign_id) == "scheduled"
    finished(campaign_id, timeout=60)
    first = min(send["accepted_at"] for send in sandbox.sends())
    assert send_at.timestamp() <= first <= send_at.timestamp() + 15  # beat ticks every 0.5 s here


def test_caps_hold_for_two_campaigns_sent_at_once_to_one_audience(live, sandbox, marketer, approver):
    audience = contacts_create(300)
    segment = Segment.objects.create(name="everyone", rules={"all": []})
    sandbox.configure(latency=0.005, webhook_url="")
    start = (timezone.now() + timedelta(seconds=2)).isoformat()  # beat launches both in the same tick
    first = approved_via_api(marketer, approver, segment, send_at=start)
    second = approved_via_api(marketer, approver, segment, send_at=start)

    def both_done() -> bool:
        return not Message.objects.filter(
            campaign_id__in=[first, second], status__in=[MessageStatus.QUEUED, MessageStatus.SENDING], send_after__isnull=True
        ).exists() and Message.objects.filter(campaign_id__in=[first, second]).count() == 600

    wait_until(both_done, timeout=180, what="both campaigns to go through their audience")
    sent = sends_by_number(sandbox)
    assert set(sent) == {c.phone for c in audience}
    assert max(sent.values()) == 1  # the daily cap of 1, across both campaigns
    deferred = Message.objects.filter(campaign_id__in=[first, second], status=MessageStatus.QUEUED)
    assert deferred.count() == 300
    assert {m.decision["reason"] for m in deferred} == {"frequency_cap"}
    # They went through the audience at the same time: the periods in which each checked its
    # recipients overlap (whichever reached a person first sent, the other deferred).
    first_checks, second_checks = (
        sorted(m.decision["checked_at"] for m in Message.objects.filter(campaign_id=c)) for c in (first, second)
    )
    assert first_checks[0] < second_checks[-1] and second_checks[0] < first_checks[-1]


def test_an_opt_out_in_the_middle_of_a_5000_recipient_campaign_stops_every_later_send(live, sandbox, marketer, approver):
    audience = contacts_create(5000)
    segment = Segment.objects.create(name="everyone", rules={"all": []})
    sandbox.configure(webhook_url="")  # 15,000 status webhooks would only slow this test down
    campaign_id = approved_via_api(marketer, approver, segment)

    wait_until(
        lambda: Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.ACCEPTED).count() >= 1000,
        timeout=180, what="a fifth of the campaign to be sent", interval=0.02,
    )  # fmt: skip
    # People whose messages are claimed by a dispatcher right now (being checked or sent), and some still waiting.
    in_flight = list(
        Message.objects.filter(campaign_id=campaign_id, status__in=[MessageStatus.QUEUED, MessageStatus.SENDING], claim_token__isnull=False)
        .values_list("contact_id", flat=True)[:5]
    )
    waiting = list(  # the last in line: seconds away from being claimed
        Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.QUEUED, claim_token__isnull=True)
        .order_by("-contact_id")
        .values_list("contact_id", flat=True)[:5]
    )
    recorded_at: dict[str, float] = {}
    for contact in Contact.objects.filter(pk__in=in_flight + waiting):
        consent_revoke(contact=contact, source="support", actor=Actor(label="support desk"))
        recorded_at[contact.phone] = time.time()  # the opt-out is committed when consent_revoke returns

    finished(campaign_id, timeout=400)
    sends = sandbox.sends()
    late = [s for s in sends if "+" + s["to"] in recorded_at and s["accepted_at"] > recorded_at["+" + s["to"]]]
    assert late == []
    for contact_id in waiting:  # not yet claimed when they opted out: never messaged
        message = Message.objects.get(campaign_id=campaign_id, contact_id=contact_id)
        assert (message.status, message.skip_reason) == (MessageStatus.SKIPPED, "opted_out")
    assert max(sends_by_number(sandbox).values()) == 1
    assert len(sends) == len(audience) - Message.objects.filter(campaign_id=campaign_id, skip_reason="opted_out").count()


def test_a_sigkilled_worker_causes_no_duplicate_and_no_loss(live, sandbox, marketer, approver):
    audience = contacts_create(400)
    segment = Segment.objects.create(name="everyone", rules={"all": []})
    # Slow answers: the kill lands while calls are in flight. Only "sent" statuses: enough to resolve.
    sandbox.configure(latency=0.3, delivered_rate=0.0)
    campaign_id = approved_via_api(marketer, approver, segment)

    wait_until(
        lambda: Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.SENDING).count() >= 10
        and Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.ACCEPTED).exists(),
        timeout=120, what="sends in flight", interval=0.02,
    )  # fmt: skip
    live.kill("main")
    sandbox.configure(latency=0.0)
    in_flight = set(Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.SENDING).values_list("pk", flat=True))
    assert in_flight
    live.start_worker("main", concurrency=4)  # a replacement; beat recovers the expired leases

    finished(campaign_id)
    sent = sends_by_number(sandbox)
    assert max(sent.values()) == 1, "no one messaged twice"
    messages = Message.objects.filter(campaign_id=campaign_id)
    by_callback = {s["callback_data"]: s for s in sandbox.sends()}
    for message in messages:
        if message.callback_data in by_callback:
            continue  # sent once
        # Not in the sandbox's log: only a message whose call was cut by the kill may be missing, and it is reported.
        assert message.pk in in_flight and message.status == MessageStatus.UNKNOWN
    assert len(sent) + messages.filter(status=MessageStatus.UNKNOWN).count() >= len(audience)
    # In-flight sends that did reach WhatsApp are resolved by their status webhooks, matched by
    # callback data. A webhook task the killed worker held is queued again by the periodic requeue.
    reached = [m.pk for m in messages if m.callback_data in by_callback]

    def resolved() -> bool:
        webhook_deliveries_requeue(older_than_seconds=2)  # what beat runs every minute
        return not messages.filter(pk__in=in_flight, status=MessageStatus.UNKNOWN).filter(pk__in=reached).exists()

    wait_until(resolved, timeout=120, what="unknown sends to be resolved by webhooks", interval=1.0)
    resolved = messages.filter(pk__in=in_flight).exclude(status=MessageStatus.UNKNOWN)
    assert all(m.wamid == by_callback[m.callback_data]["wamid"] for m in resolved)
    report = api_client(marketer).get(f"/api/v1/campaigns/{campaign_id}/report").json()
    assert report["counts"]["unknown"] == messages.filter(status=MessageStatus.UNKNOWN).count()


def test_quiet_hours_defer_until_they_end(live, sandbox, marketer, approver):
    (tokyo,) = contacts_create(1)
    Contact.objects.filter(pk=tokyo.pk).update(time_zone="Asia/Tokyo")
    local_now = timezone.now().astimezone(zone("Asia/Tokyo"))
    ends = (local_now + timedelta(seconds=8)).replace(microsecond=0)  # the launch must come first
    FrequencyCapPolicy.objects.filter(pk=1).update(
        quiet_hours_start=(local_now - timedelta(hours=1)).time().replace(microsecond=0), quiet_hours_end=ends.time()
    )
    segment = Segment.objects.create(name="everyone", rules={"all": []})
    campaign_id = approved_via_api(marketer, approver, segment)

    message = wait_until(
        lambda: Message.objects.filter(campaign_id=campaign_id, send_after__isnull=False).first(), timeout=60, what="the deferral"
    )
    assert message.decision["reason"] == "quiet_hours_deferral" and message.send_after == ends
    assert sandbox.sends() == []
    finished(campaign_id, timeout=120)
    (send,) = sandbox.sends()
    assert send["accepted_at"] >= ends.timestamp()


def test_a_template_paused_at_whatsapp_mid_campaign_pauses_the_campaign(live, sandbox, marketer, approver):
    contacts_create(400)
    segment = Segment.objects.create(name="everyone", rules={"all": []})
    sandbox.configure(latency=0.02, webhook_url="")
    campaign_id = approved_via_api(marketer, approver, segment)
    wait_until(lambda: len(sandbox.sends()) >= 50, timeout=120, what="the first sends")
    paused = [dict(t, status="PAUSED") if (t["name"], t["language"]) == ("spring_sale", "en_US") else t for t in default_templates()]
    sandbox.configure(templates=paused)

    campaign = finished(campaign_id, timeout=120)
    assert campaign.status == "paused"
    assert "132015" in campaign.status_reason
    wait_until(
        lambda: not Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.SENDING).exists(),
        timeout=60, what="batches in flight to finish",
    )  # fmt: skip
    report = api_client(marketer).get(f"/api/v1/campaigns/{campaign_id}/report").json()
    assert report["counts"]["failed"] == 0  # the refused ones wait in the queue for a resume
    assert report["counts"]["queued"] == 400 - len(sandbox.sends()) > 0
