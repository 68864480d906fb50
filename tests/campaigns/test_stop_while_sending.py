"""A STOP during a send waits only for the batch sending to that person, never for anyone else's."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client

from campaigns.sending.locks import consent_locks, consent_locks_close
from consent.models import ConsentStatus, Contact
from consent.selectors import contact_consent_status
from consent.services import number_is_suppressed
from tests.factories import contacts_create, payload, post_webhook

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]

# Only so a regression fails instead of hanging the suite; nothing is measured against it.
HANG_GUARD_SECONDS = 120


def _stop_in_thread(phone: str, wamid: str) -> tuple[threading.Thread, threading.Event, list[int]]:
    """POST a STOP from ``phone`` to the webhook on its own connection; the Event is set once it answered."""
    answered = threading.Event()
    statuses: list[int] = []

    def post() -> None:
        try:
            stop = payload("inbound_text_stop.json", {"4915123456789": phone.lstrip("+"), "wamid.ABC": wamid})
            statuses.append(post_webhook(Client(), stop).status_code)
        finally:
            connection.close()
            answered.set()

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread, answered, statuses


def _until(condition: Callable[[], bool]) -> None:
    event = threading.Event()
    while not condition():
        event.wait(0.05)


def _sessions_waiting_for_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def test_a_stop_waits_only_for_the_batch_sending_to_that_person():
    ana, ben, cleo = contacts_create(3)

    try:
        _stops_while_ana_is_being_sent_to(ana, ben, cleo)
    finally:
        consent_locks_close()


def _stops_while_ana_is_being_sent_to(ana: Contact, ben: Contact, cleo: Contact) -> None:
    with consent_locks([ana.pk]):  # what a batch holds while its call to Ana is out
        ben_thread, ben_answered, ben_statuses = _stop_in_thread(ben.phone, "wamid.BEN")
        assert ben_answered.wait(HANG_GUARD_SECONDS), "Ben's STOP waited for the batch sending to Ana"
        assert ben_statuses == [200]
        assert contact_consent_status(ben) == ConsentStatus.OPTED_OUT and number_is_suppressed(ben.phone)

        ana_thread, ana_answered, ana_statuses = _stop_in_thread(ana.phone, "wamid.ANA")
        _until(lambda: _sessions_waiting_for_a_lock() >= 1)  # Ana's STOP is waiting for the batch
        assert not ana_answered.is_set()
        assert contact_consent_status(ana) == ConsentStatus.OPTED_IN  # the batch's check still holds

        # Ana's waiting STOP holds nothing others need: Cleo's goes through, audit and ledger included.
        cleo_thread, cleo_answered, cleo_statuses = _stop_in_thread(cleo.phone, "wamid.CLEO")
        assert cleo_answered.wait(HANG_GUARD_SECONDS), "Cleo's STOP waited behind Ana's"
        assert cleo_statuses == [200]
        assert contact_consent_status(cleo) == ConsentStatus.OPTED_OUT
        assert not ana_answered.is_set()

    # The batch's calls have returned: Ana's STOP goes ahead.
    assert ana_answered.wait(HANG_GUARD_SECONDS)
    assert ana_statuses == [200]
    assert contact_consent_status(ana) == ConsentStatus.OPTED_OUT and number_is_suppressed(ana.phone)
    for thread in (ben_thread, ana_thread, cleo_thread):
        thread.join()
