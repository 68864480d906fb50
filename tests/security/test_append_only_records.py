"""The consent ledger and the audit log cannot be rewritten quietly: not by SQL, not by the ORM, not in the admin.

Erasure is the one way to change them, and it may only blank a person's personal evidence.
"""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from consent.models import ConsentEvent
from consent.rights import contact_erase
from consent.services import Evidence, consent_grant, contact_upsert
from core.append_only import AppendOnlyError, erasure_scope
from core.audit import Actor
from core.models import AuditEntry
from tests.factories import NOTICE_TEXT

pytestmark = pytest.mark.django_db

TABLES = {ConsentEvent: "consent_consentevent", AuditEntry: "consent_auditentry"}


@pytest.fixture
def opted_in():
    contact, _ = contact_upsert(phone="+4915123456789", name="Ana")
    event = consent_grant(
        contact=contact, source="web_form",
        evidence=Evidence(notice_text=NOTICE_TEXT, ip_address="198.51.100.7", user_agent="Firefox", page_url="https://acme.example/"),
    )  # fmt: skip
    return event


def _sql(statement: str, params: list | None = None) -> None:
    with transaction.atomic(), connection.cursor() as cursor:  # a savepoint: the test goes on after the refusal
        cursor.execute(statement, params)


@pytest.mark.postgres
@pytest.mark.parametrize("model", [ConsentEvent, AuditEntry])
def test_raw_sql_cannot_update_or_delete_a_row(opted_in, model):
    row = model.objects.latest("id")
    table = TABLES[model]

    with pytest.raises(DatabaseError, match=f"{table} is append-only: UPDATE refused"):
        _sql(f"UPDATE {table} SET previous_hash = %s WHERE id = %s", ["f" * 64, row.pk])
    with pytest.raises(DatabaseError, match=f"{table} is append-only: DELETE refused"):
        _sql(f"DELETE FROM {table} WHERE id = %s", [row.pk])

    assert model.objects.get(pk=row.pk).previous_hash == row.previous_hash


@pytest.mark.postgres
@pytest.mark.parametrize("model", [ConsentEvent, AuditEntry])
def test_raw_sql_cannot_truncate_the_table_outside_the_test_suites_flush(opted_in, model):
    with pytest.raises(DatabaseError, match=f"{TABLES[model]} is append-only: TRUNCATE refused"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL retarget.allow_truncate = 'off'")  # as on every production connection
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's own inserts are checked first
            cursor.execute(f"TRUNCATE {TABLES[model]} CASCADE")

    assert model.objects.exists()


@pytest.mark.parametrize("model", [ConsentEvent, AuditEntry])
def test_queryset_update_delete_and_bulk_update_are_refused(opted_in, model):
    rows = model.objects.all()
    row = rows.latest("id")

    with pytest.raises(AppendOnlyError, match="append-only: they cannot be changed"):
        rows.update(previous_hash="f" * 64)
    with pytest.raises(AppendOnlyError, match="append-only: they cannot be deleted"):
        rows.delete()
    with pytest.raises(AppendOnlyError):
        model.objects.bulk_update([row], ["previous_hash"])
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()

    assert model.objects.get(pk=row.pk).previous_hash == row.previous_hash


@pytest.mark.parametrize("model", [ConsentEvent, AuditEntry])
def test_the_admin_offers_no_change_or_delete_and_refuses_them(opted_in, model, superuser, admin_client_for):
    row = model.objects.latest("id")
    admin = admin_client_for(superuser)
    base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"

    assert admin.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    changed = admin.post(f"{base}{row.pk}/change/", {"note": "edited", "details": "{}"})
    bulk = admin.post(base, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"})

    assert changed.status_code == 403
    assert "delete_selected" not in admin.get(base).content.decode() and bulk.status_code in (200, 302)
    assert model.objects.get(pk=row.pk).entry_hash == row.entry_hash


def test_the_erasure_path_is_closed_outside_an_erasure(opted_in):
    events = ConsentEvent.objects.filter(pk=opted_in.pk)

    with pytest.raises(AppendOnlyError, match="only be scrubbed by an erasure"):
        events.erasure_update(note="")


def test_an_erasure_may_blank_evidence_but_never_the_action_source_or_hashes(opted_in):
    events = ConsentEvent.objects.filter(pk=opted_in.pk)

    with transaction.atomic(), erasure_scope(opted_in.contact_id):
        with pytest.raises(AppendOnlyError, match="may not change action, source"):
            events.erasure_update(action="opt_out", source="support", note="")
        with pytest.raises(AppendOnlyError, match="may not change entry_hash"):
            AuditEntry.objects.filter(object_id=str(opted_in.contact_id)).erasure_update(entry_hash="f" * 64)

    assert ConsentEvent.objects.get(pk=opted_in.pk).action == "opt_in"


@pytest.mark.postgres
def test_inside_an_erasure_raw_sql_still_cannot_change_the_action_or_another_persons_events(opted_in):
    other, _ = contact_upsert(phone="+447911123456")
    others_event = consent_grant(contact=other, source="checkout", evidence=Evidence(notice_text=NOTICE_TEXT, note="call first"))

    with transaction.atomic(), erasure_scope(opted_in.contact_id):
        with pytest.raises(DatabaseError, match="UPDATE refused"):
            _sql("UPDATE consent_consentevent SET action = 'opt_out' WHERE id = %s", [opted_in.pk])
        with pytest.raises(DatabaseError, match="UPDATE refused"):
            _sql("UPDATE consent_consentevent SET note = '', evidence_erased_at = now() WHERE id = %s", [others_event.pk])
        with pytest.raises(DatabaseError, match="UPDATE refused"):
            _sql("UPDATE consent_auditentry SET action = 'consent.opt_out' WHERE object_id = %s", [str(opted_in.contact_id)])
        with pytest.raises(DatabaseError, match="DELETE refused"):
            _sql("DELETE FROM consent_consentevent WHERE id = %s", [opted_in.pk])

    assert ConsentEvent.objects.get(pk=others_event.pk).note == "call first"


@pytest.mark.postgres
def test_the_erasure_setting_ends_with_the_erasure(opted_in):
    with transaction.atomic():
        with erasure_scope(opted_in.contact_id):
            pass
        with pytest.raises(DatabaseError, match="UPDATE refused"):
            _sql("UPDATE consent_consentevent SET page_url = '', ip_address = NULL, user_agent = '', note = '', "
                 "evidence_erased_at = now() WHERE id = %s", [opted_in.pk])  # fmt: skip


def test_erasure_blanks_the_evidence_through_the_one_path(opted_in, django_user_model):
    support = django_user_model.objects.create_user(username="sue")

    report = contact_erase(contact=opted_in.contact, actor=Actor(user=support))

    event = ConsentEvent.objects.get(pk=opted_in.pk)
    assert (event.action, event.source, event.entry_hash) == ("opt_in", "web_form", opted_in.entry_hash)
    assert (event.page_url, event.ip_address, event.user_agent, event.evidence_erased_at) == ("", None, "", report.erased_at)
    assert report.counts["consent_events_evidence"] == 2  # the opt-in and the erasure's own opt-out
