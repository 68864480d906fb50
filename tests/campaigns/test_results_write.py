"""Writing a batch's results back: accepted sends in one statement, the rest through the outcome table.

Through ``batch_send`` against the sandbox and PostgreSQL, and once against ``outcome_apply`` itself:
the statement must leave every row exactly as the outcome table would, keep what a status webhook
settled before it, and lock the batch's rows in primary key order like every other writer.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection, connections, transaction
from django.utils import timezone

from campaigns.models import Campaign, Message, MessageStatus
from campaigns.sending import batch as sending
from campaigns.sending.batch import BatchReport, _results_write, batch_send
from campaigns.sending.claims import messages_claim
from campaigns.sending.locks import consent_locks_close
from campaigns.sending.outcomes import Outcome, outcome_apply
from campaigns.services import StatusReport, message_status_apply
from tests.campaigns.test_sending import SALE_PARAMETERS, eager  # noqa: F401 (eager: autouse fixture)
from tests.factories import contacts_create
from whatsapp.client import SendResult, WhatsAppError

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(autouse=True)
def lock_connection_closed():
    """batch_send holds the consent locks on a second connection of this thread: not left open."""
    yield
    consent_locks_close()


@pytest.fixture
def sending_campaign(spring_sale, everyone) -> Campaign:
    return Campaign.objects.create(
        name="Spring", template=spring_sale, segment=everyone, parameters=SALE_PARAMETERS, status=Campaign.Status.SENDING
    )


def queued(campaign: Campaign, count: int, start: int = 0) -> list[Message]:
    return [Message.objects.create(campaign=campaign, contact=contact, is_marketing=True) for contact in contacts_create(count, start=start)]


def wamids_by_message(sandbox) -> dict[uuid.UUID, str]:
    return {uuid.UUID(send["callback_data"].removeprefix("msg:")): send["wamid"] for send in sandbox.sends()}


def test_accepted_sends_end_accepted_with_their_wamid_and_result_and_the_claim_ends(sandbox, sending_campaign):
    messages = queued(sending_campaign, 3)
    Message.objects.filter(pk=messages[0].pk).update(error_code=131000, error_detail="an earlier attempt failed")
    token, claimed = messages_claim(campaign_id=sending_campaign.pk, limit=3)

    report = batch_send(campaign_id=sending_campaign.pk, token=token, messages=claimed)

    assert (report.sent, report.failed, report.unknown) == (3, 0, 0)
    wamids = wamids_by_message(sandbox)
    for message in Message.objects.filter(campaign=sending_campaign):
        assert (message.status, message.wamid, message.attempts) == (MessageStatus.ACCEPTED, wamids[message.pk], 1)
        assert (message.claim_token, message.lease_expires_at, message.error_detail) == (None, None, "")
        assert message.decision["reason"] == "eligible" and "sent_from" in message.decision  # the decision is kept
        # The string outcome_apply writes (now.isoformat()), for the same moment as accepted_at.
        assert message.decision["result"] == {"at": message.accepted_at.isoformat(), "outcome": "accepted", "wamid": wamids[message.pk]}
    assert Message.objects.get(pk=messages[0].pk).error_code == 131000  # untouched, as by the outcome table


def test_a_row_a_status_webhook_settled_before_the_write_back_keeps_its_status_wamid_and_acceptance(
    sandbox, sending_campaign, monkeypatch
):
    delivered, read, plain = queued(sending_campaign, 3)
    token, claimed = messages_claim(campaign_id=sending_campaign.pk, limit=3)
    earlier = timezone.now() - timedelta(minutes=1)
    original = sending._send_all

    def webhooks_first(*args, **kwargs):
        outcomes = original(*args, **kwargs)
        wamids = {outcome.message.pk: outcome.result.wamid for outcome in outcomes if outcome.result}
        # The calls returned; their status webhooks overtake the write-back. One found by callback data...
        message_status_apply(
            StatusReport(wamid=wamids[delivered.pk], status=MessageStatus.DELIVERED, at=earlier, callback_data=delivered.callback_data)
        )
        # ...one already holding a wamid and an acceptance time (here: set by hand).
        Message.objects.filter(pk=read.pk).update(status=MessageStatus.READ, wamid="wamid.FROM-WEBHOOK", accepted_at=earlier)
        return outcomes

    monkeypatch.setattr(sending, "_send_all", webhooks_first)
    report = batch_send(campaign_id=sending_campaign.pk, token=token, messages=claimed)

    assert report.sent == 3
    wamids = wamids_by_message(sandbox)
    rows = {message.pk: message for message in Message.objects.filter(campaign=sending_campaign)}
    assert (rows[delivered.pk].status, rows[delivered.pk].wamid, rows[delivered.pk].delivered_at) == (
        MessageStatus.DELIVERED, wamids[delivered.pk], earlier,
    )  # fmt: skip
    assert (rows[read.pk].status, rows[read.pk].wamid, rows[read.pk].accepted_at) == (MessageStatus.READ, "wamid.FROM-WEBHOOK", earlier)
    assert rows[read.pk].decision["result"]["wamid"] == wamids[read.pk]  # the answer is recorded as it came
    assert rows[plain.pk].status == MessageStatus.ACCEPTED
    assert {(row.claim_token, row.lease_expires_at) for row in rows.values()} == {(None, None)}
    assert {row.decision["result"]["outcome"] for row in rows.values()} == {"accepted"}


def test_a_batch_of_accepted_refused_and_unknown_sends_writes_each_as_its_outcome(sandbox, sending_campaign):
    accepted, refused, unknown, also_accepted = messages = queued(sending_campaign, 4)
    sandbox.configure(
        send_faults=[{"code": 131026, "number": refused.contact.phone}, {"fault": "bare_500", "number": unknown.contact.phone}]
    )
    token, claimed = messages_claim(campaign_id=sending_campaign.pk, limit=4)

    report = batch_send(campaign_id=sending_campaign.pk, token=token, messages=claimed)

    assert (report.sent, report.failed, report.unknown, report.stopped) == (2, 1, 1, "")
    wamids = wamids_by_message(sandbox)
    assert set(wamids) == {accepted.pk, also_accepted.pk}
    rows = {message.pk: message for message in Message.objects.filter(pk__in=[m.pk for m in messages])}
    for message in (accepted, also_accepted):
        assert (rows[message.pk].status, rows[message.pk].wamid) == (MessageStatus.ACCEPTED, wamids[message.pk])
        assert rows[message.pk].decision["result"]["outcome"] == "accepted"
    failed = rows[refused.pk]
    assert (failed.status, failed.error_code, failed.wamid, failed.accepted_at) == (MessageStatus.FAILED, 131026, None, None)
    assert failed.failed_at is not None and failed.decision["result"]["outcome"] == "failed for this recipient"
    in_doubt = rows[unknown.pk]
    assert (in_doubt.status, in_doubt.attempts, in_doubt.send_after) == (MessageStatus.UNKNOWN, 1, None)  # never sent again
    assert in_doubt.decision["result"]["outcome"].startswith("unknown")
    assert {(row.claim_token, row.lease_expires_at) for row in rows.values()} == {(None, None)}


def test_the_statement_leaves_each_row_as_the_outcome_table_would(sending_campaign):
    """In flight, unknown, settled by a webhook, with or without a wamid: every column outcome_apply writes."""
    token = uuid.uuid4()
    earlier = timezone.now() - timedelta(minutes=5)
    states = [
        {"status": MessageStatus.SENDING},
        {"status": MessageStatus.UNKNOWN, "error_detail": "The worker stopped during the send."},
        {"status": MessageStatus.DELIVERED, "wamid": "wamid.DELIVERED", "accepted_at": earlier, "delivered_at": earlier},
        {"status": MessageStatus.READ, "wamid": "", "error_detail": "kept"},
        {"status": MessageStatus.FAILED, "error_code": 131026, "error_detail": "kept too"},
    ]
    contacts = contacts_create(len(states))
    messages = [
        Message.objects.create(
            campaign=sending_campaign, contact=contact, attempts=1, claim_token=token, is_marketing=True, dispatched_at=earlier,
            lease_expires_at=timezone.now() + timedelta(seconds=30), decision={"reason": "eligible", "parameters": ["Ana", 2.5]},
            **state,
        )  # fmt: skip
        for contact, state in zip(contacts, states, strict=True)
    ]
    outcomes = [Outcome(m, result=SendResult(wamid=f"wamid.NEW{n}", wa_id="", message_status="accepted")) for n, m in enumerate(messages)]
    expected = {}
    for outcome in outcomes:
        row = Message.objects.get(pk=outcome.message.pk)
        outcome_apply(row, outcome, timezone.now())
        expected[row.pk] = row

    report = BatchReport()
    assert _results_write(outcomes, report, token) is None

    assert report.sent == len(states)
    columns = [f.attname for f in Message._meta.concrete_fields if f.attname not in ("accepted_at", "decision")]
    for row in Message.objects.filter(pk__in=expected):
        want = expected[row.pk]
        assert {name: getattr(row, name) for name in columns} == {name: getattr(want, name) for name in columns}
        # Each side's own "now" aside, the same decision document and acceptance time.
        assert {**row.decision, "result": {**row.decision["result"], "at": "now"}} == {**want.decision, "result": {**want.decision["result"], "at": "now"}}
        if want.accepted_at == earlier:
            assert row.accepted_at == earlier
        else:
            assert row.decision["result"]["at"] == row.accepted_at.isoformat()


def test_the_write_back_locks_the_batch_in_primary_key_order_like_the_status_drain(sending_campaign):
    """A status drain holds the batch's lowest row and then wants a higher, accepted one: the write-back
    must wait for the first, not take the second and deadlock (PostgreSQL would abort one of them)."""
    token = uuid.uuid4()
    low, high = sorted(
        (
            Message.objects.create(campaign=sending_campaign, contact=contact, status=MessageStatus.SENDING, attempts=1, claim_token=token)
            for contact in contacts_create(2)
        ),
        key=lambda message: message.pk,
    )
    outcomes = [
        Outcome(high, result=SendResult(wamid="wamid.HIGH", wa_id="", message_status="accepted")),
        Outcome(low, error=WhatsAppError("error 131026", code=131026, http_status=400, reached_provider=False)),
    ]
    drain_holds_low, errors, reports = threading.Event(), [], []

    def drain() -> None:
        try:
            with transaction.atomic():
                Message.objects.select_for_update().get(pk=low.pk)
                drain_holds_low.set()
                waiting_for_lock_deadline = time.monotonic() + 10
                while not _someone_waits_for_a_row_lock() and time.monotonic() < waiting_for_lock_deadline:
                    time.sleep(0.02)
                Message.objects.select_for_update().get(pk=high.pk)  # next in its own pk order
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def write_back() -> None:
        try:
            drain_holds_low.wait(10)
            report = BatchReport()
            _results_write(outcomes, report, token)
            reports.append(report)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=drain), threading.Thread(target=write_back)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    close_old_connections()

    assert errors == []
    assert [(r.sent, r.failed) for r in reports] == [(1, 1)]
    assert Message.objects.get(pk=high.pk).status == MessageStatus.ACCEPTED
    assert Message.objects.get(pk=low.pk).status == MessageStatus.FAILED


def _someone_waits_for_a_row_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is otherwise read once
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0
