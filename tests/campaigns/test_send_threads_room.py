"""A batch takes its people's consent locks only when the send threads are about to be free.

The locks are held from the send-time check until the batch's last call returned, and a STOP for
one of its people waits for them. A batch checked while another batch's calls still queue for the
threads held them through those calls too; now it waits for room first, so a STOP arriving then is
answered at once and the batch, checking afterwards, skips that person.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connections
from django.test import Client

from campaigns.models import Campaign, Message, MessageStatus
from campaigns.sending import batch as sending
from campaigns.sending.batch import BatchReport, batch_send
from campaigns.sending.claims import messages_claim
from campaigns.sending.locks import consent_locks_close
from consent.models import ConsentStatus
from consent.selectors import contact_consent_status
from tests.campaigns.test_sending import SALE_PARAMETERS, eager  # noqa: F401 (eager: autouse fixture)
from tests.factories import contacts_create, payload, post_webhook

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]

# Only so a regression fails instead of hanging the suite; nothing is measured against it.
HANG_GUARD_SECONDS = 120


def _batch_in_thread(campaign_id: int, limit: int, reports: list[BatchReport]) -> threading.Thread:
    """Claim ``limit`` messages and send them as a dispatcher's lane does, on the thread's own connections."""
    token, messages = messages_claim(campaign_id=campaign_id, limit=limit)  # claimed here, in claim order

    def run() -> None:
        try:
            reports.append(batch_send(campaign_id=campaign_id, token=token, messages=messages))
        finally:
            consent_locks_close()
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.02)


def test_a_stop_for_someone_whose_batch_waits_for_the_send_threads_is_answered_at_once(settings, sandbox, spring_sale, everyone, monkeypatch):
    settings.CAMPAIGN_SEND_CONCURRENCY = 2
    sandbox.configure(latency=2.0)  # the first batch's six calls keep the two threads busy for about 6 s
    campaign = Campaign.objects.create(
        name="Spring", template=spring_sale, segment=everyone, parameters=SALE_PARAMETERS, status=Campaign.Status.SENDING
    )
    for contact in contacts_create(6):
        Message.objects.create(campaign=campaign, contact=contact, is_marketing=True)
    first_reports: list[BatchReport] = []
    first = _batch_in_thread(campaign.pk, 6, first_reports)
    _until(lambda: sending.send_threads_queue().count == 4)  # two calls out, four waiting for a thread

    dana, emil = contacts_create(2, start=100)
    for contact in (dana, emil):
        Message.objects.create(campaign=campaign, contact=contact, is_marketing=True)
    waiting_for_room = threading.Event()
    room_wait = sending.send_threads_room_wait

    def observed_room_wait() -> None:
        waiting_for_room.set()
        room_wait()

    monkeypatch.setattr(sending, "send_threads_room_wait", observed_room_wait)
    second_reports: list[BatchReport] = []
    second = _batch_in_thread(campaign.pk, 2, second_reports)  # Dana and Emil
    assert waiting_for_room.wait(HANG_GUARD_SECONDS)

    stop = payload("inbound_text_stop.json", {"4915123456789": dana.phone.lstrip("+"), "wamid.ABC": "wamid.DANA"})
    assert post_webhook(Client(), stop).status_code == 200
    # Answered while the first batch's calls are still out: it waited for no batch.
    assert first.is_alive()
    assert contact_consent_status(dana) == ConsentStatus.OPTED_OUT

    first.join(HANG_GUARD_SECONDS)
    second.join(HANG_GUARD_SECONDS)
    assert [report.sent for report in first_reports] == [6]
    assert [(report.sent, report.skipped) for report in second_reports] == [(1, 1)]
    to_dana = Message.objects.get(campaign=campaign, contact=dana)
    assert (to_dana.status, to_dana.skip_reason) == (MessageStatus.SKIPPED, "opted_out")
    assert dana.phone.lstrip("+") not in {send["to"] for send in sandbox.sends()}
    assert emil.phone.lstrip("+") in {send["to"] for send in sandbox.sends()}
