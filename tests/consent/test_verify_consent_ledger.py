"""``manage.py verify_records`` (alias ``verify_consent_ledger``) finds a ledger, an audit log or a consent state rewritten behind the application's back."""

import datetime
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command, execute_from_command_line
from django.db import connection
from django.utils import timezone

from consent.models import ConsentEvent, ConsentState
from consent.rights import contact_erase
from consent.services import Evidence, consent_grant, consent_revoke, contact_upsert
from core.audit import SYSTEM, Actor, audit_record
from core.models import AuditEntry
from tests.factories import NOTICE
from tests.tampering import tamper, tamper_delete

BERLIN_SUMMER = datetime.timezone(datetime.timedelta(hours=2))
pytestmark = pytest.mark.postgres  # tampering goes around the PostgreSQL triggers


def _verify(command: str = "verify_records") -> str:
    out = StringIO()
    call_command(command, stdout=out)
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


def test_untouched_records_are_reported_intact_with_their_heads(three_events):
    lines = _verify().splitlines()

    assert [line.split(", head")[0] for line in lines] == [
        "ledger intact: 3 events", "audit log intact: 3 entries", "consent states intact: 2 states"
    ]  # fmt: skip
    assert lines[0].endswith(three_events[-1].entry_hash)


def test_the_old_command_name_checks_the_same(three_events):
    assert _verify("verify_consent_ledger") == _verify()


def test_empty_records_are_intact(db):
    assert _verify().splitlines()[:2] == [
        "ledger intact: 0 events, head " + "0" * 64, "audit log intact: 0 entries, head " + "0" * 64
    ]  # fmt: skip


def test_a_notice_edited_around_the_guards_is_caught(three_events):
    edited = three_events[0]
    tamper(ConsentEvent, edited.pk, notice_text="Yes, send me anything, as often as you like.")

    with pytest.raises(CommandError, match=rf"ledger broken at event {edited.pk}: its contents no longer match entry_hash"):
        _verify()


def test_an_ip_address_edited_around_the_guards_is_caught(three_events):
    edited = three_events[0]
    tamper(ConsentEvent, edited.pk, ip_address="192.0.2.77")

    with pytest.raises(CommandError, match=rf"at event {edited.pk}: the page URL, IP address, user agent or note"):
        _verify()


def test_a_deleted_event_is_caught_at_the_event_after_it(three_events):
    removed, following = three_events[0], three_events[1]
    ConsentState.objects.filter(last_event=removed).delete()  # its state goes too, or the database refuses
    tamper_delete(ConsentEvent, removed.pk)

    with pytest.raises(CommandError, match=rf"at event {following.pk}: previous_hash does not match"):
        _verify()


def test_an_event_removed_from_the_end_is_caught(three_events):
    ana = three_events[0].contact
    # An opt-out from last year arrives late: it is the newest event but not the current state, so
    # nothing references it and the database lets it be deleted.
    late = consent_revoke(contact=ana, source="import", occurred_at=timezone.now() - datetime.timedelta(days=365))
    tamper_delete(ConsentEvent, late.pk)

    with pytest.raises(CommandError, match="ledger broken at its end: the ledger head does not match"):
        _verify()


def test_erased_evidence_keeps_the_chain_intact_but_cannot_hide_an_edit(three_events):
    erased = three_events[0]
    tamper(ConsentEvent, erased.pk, page_url="", ip_address=None, user_agent="", note="", evidence_erased_at=timezone.now())
    assert _verify().startswith("ledger intact: 3 events")

    tamper(ConsentEvent, erased.pk, ip_address="192.0.2.77")
    with pytest.raises(CommandError, match=f"at event {erased.pk}: the evidence is marked erased but still holds"):
        _verify()


def test_an_audit_entry_edited_around_the_guards_is_caught_by_its_id(three_events):
    entry = AuditEntry.objects.get(action="consent.opt_out")
    tamper(AuditEntry, entry.pk, details={**entry.details, "source": "inbound_keyword"})

    with pytest.raises(CommandError) as error:
        _verify()

    assert str(error.value).startswith(
        f"audit log broken at entry {entry.pk}: its details, object id, actor label or IP address no longer match content_digest"
    )


def test_an_audit_entry_whose_action_or_time_changed_is_caught(three_events):
    entry = AuditEntry.objects.get(action="consent.opt_out")
    tamper(AuditEntry, entry.pk, action="consent.opt_in", at=entry.at - datetime.timedelta(days=1))

    with pytest.raises(CommandError, match=rf"audit log broken at entry {entry.pk}: its contents no longer match entry_hash"):
        _verify()


def test_a_deleted_audit_entry_is_caught_at_the_entry_after_it(three_events):
    removed, following = AuditEntry.objects.order_by("id")[:2]
    tamper_delete(AuditEntry, removed.pk)

    with pytest.raises(CommandError, match=rf"audit log broken at entry {following.pk}: previous_hash does not match"):
        _verify()


def test_a_consent_state_that_does_not_match_its_events_is_caught(three_events):
    ana = three_events[0].contact
    state = ConsentState.objects.get(contact=ana)  # opted out by the second event
    ConsentState.objects.filter(pk=state.pk).update(status="opted_in")

    with pytest.raises(CommandError) as error:
        _verify()

    assert f"consent states broken: consent state {state.pk} (contact {ana.pk}, purpose {state.purpose_id}) says opted_in" in str(error.value)
    assert f"but its newest event {three_events[1].pk} means opted_out" in str(error.value)


def test_an_erasure_keeps_every_record_verifiable_and_an_edit_of_a_scrubbed_entry_is_caught(three_events, django_user_model):
    support = django_user_model.objects.create_user(username="sue")
    ana = three_events[0].contact
    audit_record(actor=SYSTEM, action="whatsapp.reply", object_type="message", object_id="7", details={"to": ana.phone, "wamid": "wamid.X"})

    contact_erase(contact=ana, actor=Actor(user=support))
    assert "audit log intact" in _verify()

    scrubbed = AuditEntry.objects.get(action="whatsapp.reply")
    assert scrubbed.details == {"to": "[erased]", "wamid": "wamid.X"} and scrubbed.scrubbed_at is not None
    tamper(AuditEntry, scrubbed.pk, details={"to": "[erased]", "wamid": "wamid.Y"})
    with pytest.raises(CommandError, match=rf"audit log broken at entry {scrubbed.pk}: .* edited after an erasure scrubbed them"):
        _verify()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_audit_entries_appended_by_many_workers_at_once_form_one_chain():
    def worker(number: int) -> None:
        try:
            for step in range(5):
                audit_record(actor=SYSTEM, action="test.append", object_id=f"{number}-{step}")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert AuditEntry.objects.filter(action="test.append").count() == 20
    # Every entry is in the one chain (the flush's role grants may have added audit entries of their own).
    assert f"audit log intact: {AuditEntry.objects.count()} entries" in _verify()


@pytest.mark.django_db
def test_the_command_line_exits_non_zero_when_the_ledger_is_broken(capsys):
    contact, _ = contact_upsert(phone="+4915123456789")
    event = consent_grant(contact=contact, source="web_form", evidence=NOTICE)
    tamper(ConsentEvent, event.pk, source="support")

    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "verify_records"])

    assert exit_info.value.code == 1
    assert f"ledger broken at event {event.pk}" in capsys.readouterr().err
