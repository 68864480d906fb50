import csv
import datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from consent.imports import contacts_import
from consent.ledger import ledger_verify
from consent.models import ConsentEvent, Contact
from consent.selectors import contact_consent_status, contacts_marketable
from consent.services import consent_grant, consent_revoke, contact_upsert, number_is_suppressed
from core.audit import SYSTEM
from core.models import AuditEntry
from tests.factories import NOTICE, NOTICE_TEXT

pytestmark = pytest.mark.django_db

HEADER = ["phone", "name", "language", "tags", "city", "consent_source", "consent_opted_in_at", "consent_notice_version", "consent_notice_text", "consent_evidence"]
ANA = ["+49 151 23456789", "Ana", "de", "vip; Runner", "Berlin", "checkout", "2026-03-01T12:00:00+01:00", "v3", NOTICE_TEXT, "order 1001"]
BEN = ["+44 7911 123456", "Ben", "en_GB", "", "London", "", "", "", "", ""]
CLEO = ["0033 6 12 34 56 78", "Cléo", "fr", "vip", "", "", "2026-02-01", "v3", NOTICE_TEXT, ""]


def _write(tmp_path: Path, rows: list[list[str]], header: list[str] = HEADER, name: str = "contacts.csv", delimiter: str = ",") -> Path:
    path = tmp_path / name
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _import(path: Path, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_contacts", str(path), *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue().strip()


def test_good_rows_are_imported_and_bad_rows_reported_by_number(tmp_path):
    path = _write(tmp_path, [ANA, ["+1 555 12", "Bad", "", "", "", "", "", "", "", ""], BEN, CLEO, ["+4915123456700", "Dan", "", "", "", "", "31/12/2025", "v3", NOTICE_TEXT, ""]])

    summary, problems = _import(path)

    assert summary == "imported 3, updated 0, unchanged 0, rejected 2"
    assert problems.splitlines() == [
        "row 3: '+1 555 12' is not a valid phone number: it is too short.",
        "row 6: consent_opted_in_at '31/12/2025' is not a date or time: write it like 2025-12-31 or 2025-12-31T14:30:00+01:00.",
    ]
    ana = Contact.objects.get(phone="+4915123456789")
    assert (ana.name, ana.language, ana.attributes) == ("Ana", "de", {"city": "Berlin"})
    assert sorted(ana.tags.values_list("name", flat=True)) == ["runner", "vip"]
    assert Contact.objects.get(phone="+33612345678").name == "Cléo"
    event = ConsentEvent.objects.get(contact=ana)
    assert (event.source, event.notice_text, event.notice_version, event.note) == ("checkout", NOTICE_TEXT, "v3", "order 1001")
    assert event.occurred_at == datetime.datetime(2026, 3, 1, 11, 0, tzinfo=datetime.UTC)
    assert sorted(c.name for c in contacts_marketable()) == ["Ana", "Cléo"]
    assert contact_consent_status(Contact.objects.get(name="Ben")) == "none"
    assert ledger_verify().intact


def test_importing_the_same_file_again_changes_nothing(tmp_path):
    path = _write(tmp_path, [ANA, BEN, CLEO])
    _import(path)
    contacts_before = list(Contact.objects.order_by("pk").values())
    events_before = ConsentEvent.objects.count()

    summary, problems = _import(path)

    assert summary == "imported 0, updated 0, unchanged 3, rejected 0"
    assert problems == ""
    assert ConsentEvent.objects.count() == events_before == 2
    assert list(Contact.objects.order_by("pk").values()) == contacts_before
    assert ledger_verify().intact


def test_changed_rows_update_the_contact_and_new_tags_are_added(tmp_path):
    _import(_write(tmp_path, [ANA, BEN]))
    ben_moved = ["447911123456", "Ben", "", "newsletter", "Leeds", "", "", "", "", ""]

    summary, _ = _import(_write(tmp_path, [ANA, ben_moved], name="second.csv"))

    assert summary == "imported 0, updated 1, unchanged 1, rejected 0"
    ben = Contact.objects.get(name="Ben")
    assert ben.attributes == {"city": "Leeds"}
    assert ben.language == "en_GB", "an empty cell does not wipe what is known"
    assert list(ben.tags.values_list("name", flat=True)) == ["newsletter"]


def test_an_import_never_opts_in_a_number_that_opted_out(tmp_path):
    ana, _ = contact_upsert(phone="+4915123456789", name="Ana")
    consent_grant(contact=ana, source="web_form", evidence=NOTICE)
    consent_revoke(contact=ana, source="inbound_keyword")
    ana_details_only = ["+4915123456789", "Ana B.", "", "", "Potsdam", "", "", "", "", ""]

    summary, problems = _import(_write(tmp_path, [ANA, ana_details_only]))

    assert summary == "imported 0, updated 1, unchanged 0, rejected 1"
    assert problems == "row 2: this number opted out earlier; an import cannot opt it in again (only the person can). Row skipped."
    assert number_is_suppressed("+4915123456789")
    assert contact_consent_status(ana) == "opted_out"
    assert list(contacts_marketable()) == []
    assert Contact.objects.get(pk=ana.pk).name == "Ana B."


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (["+4915123456789", "", "", "", "", "", "2026-01-01", "v1", "", ""], "consent_notice_text is empty: an opt-in needs the exact wording"),
        (["+4915123456789", "", "", "", "", "web_form", "", "v1", NOTICE_TEXT, ""], "consent_opted_in_at is empty"),
        (["+4915123456789", "", "", "", "", "fax", "2026-01-01", "v1", NOTICE_TEXT, ""], "consent_source 'fax' is not one of"),
        (["+4915123456789", "", "", "", "", "", "2999-01-01", "v1", NOTICE_TEXT, ""], "consent_opted_in_at '2999-01-01' lies in the future"),
        (["+4915123456789", "", "", "two words", "", "", "", "", "", ""], "tag 'two words' may only hold letters"),
        (["+4915123456789", "", "", "", "", "", "", "", "", "", "surplus"], "it has 11 fields but the header has 10"),
        (["", "Nobody", "", "", "", "", "", "", "", ""], "A phone number is required."),
    ],
)
def test_each_kind_of_bad_row_is_explained_and_nothing_of_it_is_kept(tmp_path, row, reason):
    summary, problems = _import(_write(tmp_path, [row]))

    assert summary == "imported 0, updated 0, unchanged 0, rejected 1"
    assert problems.startswith("row 2: ") and reason in problems
    assert not Contact.objects.exists() and not ConsentEvent.objects.exists()


def test_a_number_twice_in_one_file_makes_one_contact(tmp_path):
    summary, _ = _import(_write(tmp_path, [ANA, ["4915123456789", "Ana", "", "", "", "", "", "", "", ""], ANA]))

    assert summary == "imported 1, updated 0, unchanged 2, rejected 0"
    assert Contact.objects.count() == 1 and ConsentEvent.objects.count() == 1


@override_settings(PHONE_DEFAULT_REGION="DE")
def test_a_spreadsheet_export_with_semicolons_and_national_numbers_is_read(tmp_path):
    path = _write(tmp_path, [["0151 23456789", "Ana", "de"]], header=["Phone", "Name", "Language"], delimiter=";")

    summary, _ = _import(path)

    assert summary == "imported 1, updated 0, unchanged 0, rejected 0"
    assert Contact.objects.get().phone == "+4915123456789"


def test_the_import_is_recorded_under_the_user_who_ran_it(tmp_path, marketer):
    _import(_write(tmp_path, [ANA]), "--user", "mara")

    event = ConsentEvent.objects.get()
    assert (event.recorded_by, event.recorded_via) == (marketer, "import_contacts by mara")
    audit = AuditEntry.objects.get(action="contacts.import")
    assert audit.actor == marketer and audit.object_id == "contacts.csv"
    assert audit.details["imported"] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"mobile,name\n+4915123456789,Ana\n", "has no 'phone' column; its columns are: mobile, name"),
        (b"phone,consent_opted_at\n+4915123456789,2026-01-01\n", "Unknown consent column consent_opted_at"),
        (b"phone,name,Name\n", "These columns appear more than once: name"),
        ("phone,name\n+4915123456789,Jos\xe9\n".encode("latin-1"), "not UTF-8 text"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_with_the_reason(tmp_path, content, message):
    path = tmp_path / "broken.csv"
    path.write_bytes(content)

    with pytest.raises(CommandError, match=message):
        _import(path)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read .*missing.csv: No such file or directory"):
        _import(tmp_path / "missing.csv")


def test_a_large_file_imports_in_batches(tmp_path):
    """5,000 rows with an opt-in each, across several batches; bench-size files (100,000) are timed in the report."""
    rows = [[f"+4915123{i:06d}", f"Person {i}", "de", "bulk", f"City {i % 50}", "checkout", "2026-01-01T10:00:00Z", "v3", NOTICE_TEXT, ""] for i in range(5000)]
    path = _write(tmp_path, rows)

    assert _import(path)[0] == "imported 5000, updated 0, unchanged 0, rejected 0"
    assert ConsentEvent.objects.count() == 5000 and contacts_marketable().count() == 5000
    assert _import(path)[0] == "imported 0, updated 0, unchanged 5000, rejected 0"
    assert ConsentEvent.objects.count() == 5000
    assert ledger_verify().intact


def test_the_file_is_read_as_it_is_written_never_whole():
    """Each line is read only after the rows more than one batch before it are in the database."""
    batch = 50

    def lines():
        yield "phone,name\n"
        for i in range(400):
            written = Contact.objects.count()
            assert i - written <= batch, f"line {i} read while only {written} contacts were written"
            yield f"+4915123{i:06d},Person {i}\n"

    report = contacts_import(file=lines(), actor=SYSTEM, chunk_rows=batch)

    assert report.summary == "imported 400, updated 0, unchanged 0, rejected 0"


@pytest.mark.postgres
def test_a_large_import_leaves_fresh_planner_statistics_for_the_campaign_launched_next(tmp_path):
    from django.db import connection

    from consent.models import ConsentState

    rows = [[f"+49151{30000000 + n}", f"P{n}", "de", "", "", "checkout", "2026-03-01T12:00:00+01:00", "v3", NOTICE_TEXT, ""] for n in range(40)]
    with _write(tmp_path, rows).open(encoding="utf-8") as file:
        report = contacts_import(file=file, actor=SYSTEM, analyze_after_rows=30)

    assert report.imported == 40
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [ConsentState._meta.db_table])
        (estimated_rows,) = cursor.fetchone()
    assert estimated_rows == ConsentState.objects.count()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_opt_out_is_recorded_at_once_while_a_dry_run_import_reads_on():
    """A dry run writes and rolls back chunk by chunk: it never holds the ledger while reading on."""
    import threading

    from django.db import connection

    from tests.factories import contacts_create

    [ana] = contacts_create(1, start=900)
    batch = 20
    stop_result: list[str] = []

    def opt_out_meanwhile() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '5s'")
            consent_revoke(contact=Contact.objects.get(pk=ana.pk), source="inbound_keyword")
            stop_result.append("recorded")
        except Exception as exc:  # a lock timeout: the dry run held what every opt-out needs
            stop_result.append(f"{exc.__class__.__name__}: {exc}")
        finally:
            connection.close()

    def lines():
        yield ",".join(HEADER) + "\n"
        for i in range(2 * batch):
            if i == batch:  # the first chunk (with its opt-ins) has been written: an opt-out comes in
                other = threading.Thread(target=opt_out_meanwhile)
                other.start()
                other.join(timeout=30)
            row = StringIO()
            csv.writer(row).writerow([f"+4915123{i:06d}", f"P{i}", "de", "", "", "checkout", "2026-03-01T12:00:00+01:00", "v3", NOTICE_TEXT, ""])
            yield row.getvalue()

    report = contacts_import(file=lines(), actor=SYSTEM, chunk_rows=batch, dry_run=True)

    assert stop_result == ["recorded"]
    assert report.summary == f"imported {2 * batch}, updated 0, unchanged 0, rejected 0" and report.dry_run
    assert contact_consent_status(ana) == "opted_out"
    assert not Contact.objects.filter(phone__startswith="+4915123").exists()
    assert not AuditEntry.objects.filter(action="contacts.import").exists()
