"""Recovery of sends interrupted by a dead worker, an unreachable Redis and an API outage.

Found by the fault drills (``make chaos``): a killed worker's batch held rows marked SENDING whose
call had not started yet; they became UNKNOWN and were never sent. A Redis restart made the send
token unobtainable mid-batch and the whole batch ended UNKNOWN. During an API outage every worker
kept sending at full rate, and each refusal spent one of the message's attempts. At a low send rate a
full batch held its recipients' consent locks so long that a STOP webhook waited over 30 s for its 200.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from campaigns.models import Campaign, Message, MessageStatus
from campaigns.sending import inflight
from campaigns.sending import throttle as ratelimit
from campaigns.sending.batch import batch_send
from campaigns.sending.claims import leases_expire, messages_claim
from campaigns.sending.throttle import OUTAGE_FAILURES, bucket_take, outage_failure_record, outage_success_record
from campaigns.services import campaigns_tick
from tests.campaigns.test_sending import SALE_PARAMETERS, eager, run  # noqa: F401 (eager: autouse fixture)
from tests.factories import contacts_create

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(autouse=True)
def no_send_pause(settings):
    """No pause or failure count left over from another test (they live in Redis)."""

    def clear() -> None:
        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter("retarget:send-*"):
            client.delete(key)
        ratelimit._failure_seen_here_at.clear()
        ratelimit._failure_seen_here_at.clear()

    clear()
    yield
    clear()


def batch_left_by_a_dead_worker(campaign: Campaign, count: int, *, opened: bool = True) -> tuple[uuid.UUID, list[Message]]:
    """``count`` rows marked SENDING by a batch whose worker died (its lease ran out a second ago)."""
    token = uuid.uuid4()
    expired = timezone.now() - timedelta(seconds=1)
    messages = [
        Message.objects.create(
            campaign=campaign, contact=contact, status=MessageStatus.SENDING, attempts=1, is_marketing=True,
            dispatched_at=timezone.now(), claim_token=token, lease_expires_at=expired,
        )  # fmt: skip
        for contact in contacts_create(count)
    ]
    if opened:
        inflight.batch_open(token)
    return token, messages


@pytest.fixture
def sending_campaign(spring_sale, everyone) -> Campaign:
    return Campaign.objects.create(
        name="Spring", template=spring_sale, segment=everyone, parameters=SALE_PARAMETERS, status=Campaign.Status.SENDING
    )


def test_sends_a_dead_worker_never_started_are_sent_once_and_the_started_one_stays_unknown(sandbox, sending_campaign):
    token, (started, waiting, behind) = batch_left_by_a_dead_worker(sending_campaign, 3)
    assert inflight.call_start(token, started.pk)  # this call had left when the worker died

    campaigns_tick()  # recovers the leases and starts a dispatcher (run eagerly here)

    started.refresh_from_db()
    assert (started.status, started.attempts) == (MessageStatus.UNKNOWN, 1)
    sent = [send["callback_data"] for send in sandbox.sends()]
    assert sorted(sent) == sorted([waiting.callback_data, behind.callback_data])
    for message in (waiting, behind):
        message.refresh_from_db()
        assert (message.status, message.attempts) == (MessageStatus.ACCEPTED, 1)


def test_a_slow_worker_cannot_start_a_call_of_a_batch_already_recovered(sending_campaign):
    token, (message,) = batch_left_by_a_dead_worker(sending_campaign, 1)

    assert leases_expire() == 1
    message.refresh_from_db()
    assert (message.status, message.attempts, message.claim_token, message.dispatched_at) == (MessageStatus.QUEUED, 0, None, None)
    # The worker was only slow: its thread now wants to send. It must not (someone else will).
    assert inflight.call_start(token, message.pk) is False


def test_the_tick_leaves_a_campaign_with_dispatchers_at_work_to_them_without_looking_for_due_rows(sandbox, sending_campaign):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from campaigns.sending.claims import dispatcher_heartbeat

    (contact,) = contacts_create(1)
    due = Message.objects.create(campaign=sending_campaign, contact=contact, is_marketing=True)
    dispatcher_heartbeat(sending_campaign.pk)  # a dispatcher works on it (it sends what is due)
    with CaptureQueriesContext(connection) as queries:
        campaigns_tick()
    # The look for due rows walked every dead version of the campaign's sent rows, once per tick.
    assert not [query["sql"] for query in queries if "campaigns_message" in query["sql"] and "'queued'" in query["sql"]]
    assert sandbox.sends() == []

    dispatcher_heartbeat(sending_campaign.pk, active=False)  # the dispatcher is gone: the tick takes over
    campaigns_tick()
    due.refresh_from_db()
    assert due.status == MessageStatus.ACCEPTED


def test_a_batch_that_outlived_its_lease_leaves_its_unsent_rows_to_the_dispatcher_that_took_them_over(
    sandbox, sending_campaign, monkeypatch, settings
):
    from campaigns.sending import batch as sending

    for contact in contacts_create(3):
        Message.objects.create(campaign=sending_campaign, contact=contact, is_marketing=True)
    token, claimed = messages_claim(campaign_id=sending_campaign.pk, limit=3)
    taken_over = []

    def lease_runs_out_before_the_first_call(phone_number_id: str, *, rate: float | None = None, timeout: float, call=None) -> bool:
        if not taken_over:  # the worker was only slow: beat recovered its batch, another dispatcher claimed it
            Message.objects.filter(claim_token=token).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
            leases_expire()
            taken_over.append(messages_claim(campaign_id=sending_campaign.pk, limit=3))
        return bucket_take(phone_number_id, rate=rate, timeout=timeout, call=call)

    settings.CAMPAIGN_SEND_CONCURRENCY = 1
    monkeypatch.setattr(sending, "bucket_take", lease_runs_out_before_the_first_call)
    batch_send(campaign_id=sending_campaign.pk, token=token, messages=claimed)

    assert sandbox.sends() == []  # fenced: the slow batch started no call
    ((other_token, other_claim),) = taken_over
    assert set(Message.objects.values_list("claim_token", flat=True)) == {other_token}  # and left the new claim alone
    batch_send(campaign_id=sending_campaign.pk, token=other_token, messages=other_claim)
    assert sorted(s["callback_data"] for s in sandbox.sends()) == sorted(m.callback_data for m in claimed)
    assert set(Message.objects.values_list("status", "attempts")) == {(MessageStatus.ACCEPTED, 1)}

def test_a_batch_slower_than_its_lease_keeps_it_while_its_calls_run(sandbox, sending_campaign, settings):
    """Found in CI: under load a batch outlived its 4 s lease, recovery by another dispatcher turned
    its rows in flight into UNKNOWN and completed the campaign while they were still being sent."""
    from django.db import connection

    from campaigns.sending.locks import consent_locks_close

    settings.CAMPAIGN_LEASE_SECONDS = 2
    sandbox.configure(latency=3.5)  # every answer comes after the lease first ran out
    for contact in contacts_create(3):
        Message.objects.create(campaign=sending_campaign, contact=contact, is_marketing=True)
    token, claimed = messages_claim(campaign_id=sending_campaign.pk, limit=3)

    def send() -> None:
        try:
            batch_send(campaign_id=sending_campaign.pk, token=token, messages=claimed)
        finally:
            consent_locks_close()
            connection.close()

    worker = threading.Thread(target=send)
    worker.start()
    time.sleep(2.8)
    campaigns_tick()  # beat, and a dispatcher recovering expired leases, while the calls are still out
    in_flight = Counter(Message.objects.values_list("status", flat=True))
    still_sending = Campaign.objects.get(pk=sending_campaign.pk).status
    worker.join(timeout=30)

    assert in_flight == {MessageStatus.SENDING: 3}
    assert still_sending == Campaign.Status.SENDING
    assert set(Message.objects.values_list("status", "attempts")) == {(MessageStatus.ACCEPTED, 1)}
    assert len(sandbox.sends()) == 3


def test_without_the_record_of_calls_every_interrupted_send_is_unknown(sending_campaign):
    _, messages = batch_left_by_a_dead_worker(sending_campaign, 2, opened=False)  # e.g. Redis restarted since

    assert leases_expire() == 2
    assert {m.status for m in Message.objects.filter(pk__in=[m.pk for m in messages])} == {MessageStatus.UNKNOWN}


def test_a_send_token_lost_to_an_unreachable_redis_is_queued_again_not_unknown(sandbox, spring_sale, everyone, marketer, approver, monkeypatch):
    from campaigns.sending import batch as sending

    refused = []

    def redis_gone_for_two(phone_number_id: str, *, rate: float | None = None, timeout: float, call=None) -> bool:
        if len(refused) < 2:
            refused.append(phone_number_id)
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return bucket_take(phone_number_id, rate=rate, timeout=timeout, call=call)

    monkeypatch.setattr(sending, "bucket_take", redis_gone_for_two)
    contacts_create(2)

    campaign = run(spring_sale, everyone, marketer, approver)

    assert len(refused) == 2
    messages = Message.objects.filter(campaign=campaign)
    assert {(m.status, m.attempts) for m in messages} == {(MessageStatus.ACCEPTED, 1)}
    assert sorted(s["callback_data"] for s in sandbox.sends()) == sorted(m.callback_data for m in messages)


def test_server_errors_in_a_row_pause_every_sender_longer_each_time_and_a_success_resets_the_count():
    phone_number_id = settings.WHATSAPP_PHONE_NUMBER_ID
    assert not any(outage_failure_record(phone_number_id) for _ in range(OUTAGE_FAILURES - 1))
    assert bucket_take(phone_number_id, timeout=0.2) is True
    assert outage_failure_record(phone_number_id) is True  # the OUTAGE_FAILURES-th in a row
    started = time.monotonic()
    assert bucket_take(phone_number_id, timeout=3) is True  # every worker waited for the pause
    assert 0.8 <= time.monotonic() - started < 2
    for _ in range(OUTAGE_FAILURES):
        outage_failure_record(phone_number_id)
    assert bucket_take(phone_number_id, timeout=1.2) is False  # the second pause lasts 2 s

    outage_success_record(phone_number_id)
    assert not any(outage_failure_record(phone_number_id) for _ in range(OUTAGE_FAILURES - 1))


def test_an_api_answering_only_server_errors_pauses_sending_without_spending_the_messages_attempts(
    sandbox, spring_sale, everyone, marketer, approver, settings
):
    settings.CAMPAIGN_RETRY_BASE_SECONDS = 60  # one failure each, then they wait
    settings.CAMPAIGN_THROTTLE_BACKOFF_SECONDS = 60
    sandbox.configure(server_error_rate=1.0)
    contacts_create(OUTAGE_FAILURES + 5)

    campaign = run(spring_sale, everyone, marketer, approver)

    assert sandbox.refused() == {"131000": OUTAGE_FAILURES + 5}  # the pause (1 s) held the last ones back a moment
    messages = Message.objects.filter(campaign=campaign)
    outcomes = Counter((m.status, m.attempts, m.decision["result"]["outcome"].partition(" after ")[0]) for m in messages)
    assert outcomes == {
        (MessageStatus.QUEUED, 1, "retry"): OUTAGE_FAILURES - 1,  # before it looked like an outage
        (MessageStatus.QUEUED, 0, "requeued: the API is failing for every send"): 6,
    }


def test_at_a_low_send_rate_a_dispatcher_claims_only_about_a_seconds_worth(spring_sale, everyone, marketer, approver, settings):
    settings.CAMPAIGN_BATCH_SIZE = 100
    settings.CAMPAIGN_SEND_RATE = 12
    settings.CAMPAIGN_DISPATCHERS, settings.CAMPAIGN_BATCHES_IN_FLIGHT = 2, 2  # 4 batches at once: a share of 3 per second each
    contacts_create(7)

    campaign = run(spring_sale, everyone, marketer, approver)

    batches = Counter(Message.objects.filter(campaign=campaign).values_list("claimed_at", flat=True))
    assert max(batches.values()) == 3  # so an opt-out waits for a few sends, not for a hundred


def test_a_service_message_whose_lease_ran_out_before_its_call_is_left_to_the_worker_that_took_it_over(sandbox, monkeypatch):
    from campaigns.sending.service import service_message_queue, service_message_send

    (person,) = contacts_create(1)
    message = service_message_queue(contact=person, kind=Message.Kind.REPLY, body="You will no longer receive offers.", send_after_commit=False)
    open_batch = inflight.batch_open
    stalled = []

    def lease_runs_out_before_the_row_is_marked(token: uuid.UUID) -> None:
        if not stalled:  # the worker stalled here: its lease ran out, the sweep's task took the row and sent it
            stalled.append(token)
            Message.objects.filter(pk=message.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
            service_message_send(message_id=message.pk)
        open_batch(token)

    monkeypatch.setattr(inflight, "batch_open", lease_runs_out_before_the_row_is_marked)
    service_message_send(message_id=message.pk)  # the stalled worker goes on

    assert [send["callback_data"] for send in sandbox.sends()] == [message.callback_data]
    message.refresh_from_db()
    assert (message.status, message.attempts, message.wamid) == (MessageStatus.ACCEPTED, 1, sandbox.sends()[0]["wamid"])


def test_a_service_message_is_sent_while_its_contact_row_is_locked(sandbox):
    """The claim locks the message row only: a contact row another transaction holds (support writing
    an answer, a second webhook of the person's) once made the task give up until the next sweep."""
    from django.db import connection, transaction

    from campaigns.sending.service import service_message_queue, service_message_send
    from consent.models import Contact

    (person,) = contacts_create(1)
    message = service_message_queue(contact=person, kind=Message.Kind.REPLY, body="You will no longer receive offers.", send_after_commit=False)
    locked, done = threading.Event(), threading.Event()

    def hold_the_contact_row() -> None:
        try:
            with transaction.atomic():
                Contact.objects.select_for_update().get(pk=person.pk)
                locked.set()
                done.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_contact_row)
    holder.start()
    try:
        assert locked.wait(timeout=30)
        sent = service_message_send(message_id=message.pk)
    finally:
        done.set()
        holder.join(timeout=30)

    assert sent.status == MessageStatus.ACCEPTED
    assert [send["callback_data"] for send in sandbox.sends()] == [message.callback_data]
