import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command, execute_from_command_line
from django.db import connection
from django.utils import timezone

from consent.models import ConsentEvent
from consent.services import Evidence, consent_grant, consent_revoke, contact_upsert
from tests.factories import NOTICE

BERLIN_SUMMER = datetime.timezone(datetime.timedelta(hours=2))


def _verify() -> str:
    out = StringIO()
    call_command("verify_consent_ledger", stdout=out)
    return out.getvalue()


@pytest.fixture
def three_events(db) -> list[ConsentEvent]:
    ana, _ = contact_upsert(phone="+4915123456789")
    ben, _ = contact_upsert(phone="+447911123456")
    evidence = Evidence(notice_text=NOTICE.notice_text, ip_address="2001:DB8::1", user_agent="Firefox", page_url="https://acme.example/")
    return [
        # A local time and an uncompressed IPv6 address: stored as UTC and compressed, still verifiable.
        consent_grant(contact=ana, source="web_form", evidence=evidence, occurred_at=datetime.datetime(2026, 6, 1, 10, tzinfo=BERLIN_SUMMER)),
        consent_revoke(contact=ana, source="support", evidence=Evidence(note="asked by phone")),
        consent_grant(contact=ben, source="checkout", evidence=NOTICE),
    ]


def test_an_untouched_ledger_is_reported_intact(three_events):
    assert _verify().strip() == "ledger intact: 3 events"


def test_an_empty_ledger_is_intact(db):
    assert _verify().strip() == "ledger intact: 0 events"


def test_a_notice_edited_with_a_queryset_update_is_caught(three_events):
    edited = three_events[0]
    ConsentEvent.objects.filter(pk=edited.pk).update(notice_text="Yes, send me anything, as often as you like.")

    with pytest.raises(CommandError, match=rf"ledger broken at event {edited.pk}: its contents no longer match entry_hash"):
        _verify()


def test_an_ip_address_edited_with_raw_sql_is_caught(three_events):
    edited = three_events[0]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE consent_consentevent SET ip_address = %s WHERE id = %s", ["192.0.2.77", edited.pk])

    with pytest.raises(CommandError, match=rf"at event {edited.pk}: the page URL, IP address, user agent or note"):
        _verify()


def test_a_deleted_event_is_caught_at_the_event_after_it(three_events):
    removed, following = three_events[0], three_events[1]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM consent_consentevent WHERE id = %s", [removed.pk])

    with pytest.raises(CommandError, match=rf"at event {following.pk}: previous_hash does not match"):
        _verify()


def test_an_event_removed_from_the_end_is_caught(three_events):
    ana = three_events[0].contact
    # An opt-out from last year arrives late: it is the newest event but not the current state, so
    # nothing references it and the database lets it be deleted.
    late = consent_revoke(contact=ana, source="import", occurred_at=timezone.now() - datetime.timedelta(days=365))
    ConsentEvent.objects.filter(pk=late.pk)._raw_delete(connection.alias)

    with pytest.raises(CommandError, match="ledger broken at its end: the ledger head does not match"):
        _verify()


def test_erased_evidence_keeps_the_chain_intact_but_cannot_hide_an_edit(three_events):
    erased = three_events[0]
    ConsentEvent.objects.filter(pk=erased.pk).update(
        page_url="", ip_address=None, user_agent="", note="", evidence_erased_at=timezone.now()
    )
    assert _verify().strip() == "ledger intact: 3 events"

    ConsentEvent.objects.filter(pk=erased.pk).update(ip_address="192.0.2.77")
    with pytest.raises(CommandError, match=f"at event {erased.pk}: the evidence is marked erased but still holds"):
        _verify()


@pytest.mark.django_db
def test_the_command_line_exits_non_zero_when_the_ledger_is_broken(capsys):
    contact, _ = contact_upsert(phone="+4915123456789")
    event = consent_grant(contact=contact, source="web_form", evidence=NOTICE)
    ConsentEvent.objects.filter(pk=event.pk).update(source="support")

    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "verify_consent_ledger"])

    assert exit_info.value.code == 1
    assert f"ledger broken at event {event.pk}" in capsys.readouterr().err
