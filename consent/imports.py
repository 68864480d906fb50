"""CSV import of contacts and their opt-ins: streamed row by row, written in batches.

Columns: ``phone`` (required), ``name``, ``language``, ``tags`` (separated by ``;``), the consent
columns below, and any other column, stored as a contact attribute under its own name. Row numbers
count the header as row 1, like a spreadsheet. A bad row is reported and skipped; the others are
imported. Importing the same file again changes nothing.

A file with other headers is imported through a column mapping (its header -> one of the columns
above, ATTRIBUTE or IGNORE). A dry run does the whole import in a transaction that is rolled back,
so its report (what would be imported, what rejected and why) is exactly what the import would do.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from django.db import connection, transaction
from django.db.models import CharField, Model
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from consent.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentState,
    Contact,
    Purpose,
    Suppression,
    Tag,
    TagNameError,
    tag_name_normalised,
)
from consent.phones import InvalidPhoneNumber, phone_normalize
from consent.services import (
    ConsentChange,
    ConsentRefused,
    Evidence,
    consent_record_many,
    contact_phone_fields,
    suppression_hash,
)
from core.audit import Actor, audit_record

CONTACT_COLUMNS = ("phone", "name", "language", "tags")
CONSENT_COLUMNS = (
    "consent_source",
    "consent_opted_in_at",
    "consent_notice_version",
    "consent_notice_text",
    "consent_evidence",
)
IMPORT_SOURCES = sorted(set(ConsentSource.values) - {ConsentSource.ERASURE})
CHUNK_ROWS = 1000
KEPT_PROBLEMS = 1000
# After this many new or changed contacts, refresh the planner's statistics at once (see _statistics_refresh).
ANALYZE_AFTER_ROWS = 10_000

KEPT_ACCEPTED = 200  # accepted rows listed in a report (the dry run's preview)
# Column mapping targets besides CONTACT_COLUMNS and CONSENT_COLUMNS.
ATTRIBUTE = "attribute"  # kept as a contact attribute under the file's own header
IGNORE = "ignore"
MAPPING_TARGETS = (*CONTACT_COLUMNS, *CONSENT_COLUMNS, ATTRIBUTE, IGNORE)
_IGNORED_PREFIX = "__ignored_column_"
SAMPLE_CSV = (
    "phone,name,language,tags,city,consent_source,consent_opted_in_at,consent_notice_version,consent_notice_text,consent_evidence\n"
    '+4915123456789,Ana Example,de,vip;newsletter,Berlin,web_form,2026-01-05T10:30:00+01:00,v3,'
    '"Yes, Acme may send me offers on WhatsApp, up to 4 a month.",checkout page screenshot 2026-01-05\n'
    "+447911123456,Ben Example,en_GB,,London,,,,,\n"
)


def _max_length(model: type[Model], name: str) -> int:
    field = model._meta.get_field(name)
    assert isinstance(field, CharField) and field.max_length is not None, f"{model.__name__}.{name} has a max_length"
    return field.max_length


_NAME_MAX = _max_length(Contact, "name")
_LANGUAGE_MAX = _max_length(Contact, "language")
_VERSION_MAX = _max_length(ConsentEvent, "notice_version")


class ImportFileError(ValueError):
    """The file as a whole cannot be read (no phone column, not UTF-8 CSV...); nothing after it was imported."""


@dataclass(frozen=True)
class RowProblem:
    row: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


@dataclass(frozen=True)
class AcceptedRow:
    row: int
    phone: str
    name: str
    outcome: str  # imported, updated or unchanged
    tags: tuple[str, ...]
    opt_in: bool


@dataclass
class ImportReport:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    accepted: list[AcceptedRow] = field(default_factory=list)  # the first KEPT_ACCEPTED
    file_error: str = ""
    dry_run: bool = False

    @property
    def summary(self) -> str:
        return f"imported {self.imported}, updated {self.updated}, unchanged {self.unchanged}, rejected {self.rejected}"


@dataclass(frozen=True)
class _OptIn:
    source: str
    occurred_at: datetime
    notice_text: str
    notice_version: str
    note: str


@dataclass(frozen=True)
class _Row:
    number: int
    e164: str
    name: str
    language: str
    tags: tuple[str, ...]
    attributes: dict[str, str]
    opt_in: _OptIn | None


class _RowError(ValueError):
    pass


def _header_split(first_line: str) -> tuple[str, list[str]]:
    """The delimiter (``,`` or, as spreadsheets in many locales write, ``;``) and the headers as written."""
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    return delimiter, [name.strip() for name in next(csv.reader([first_line], delimiter=delimiter), [])]


def file_headers(first_line: str) -> list[str]:
    """The file's column headers, for the mapping step."""
    return _header_split(first_line)[1]


def mapping_guess(headers: list[str]) -> dict[str, str]:
    """A known column by its (case-insensitive) name, anything else an attribute."""
    known = CONTACT_COLUMNS + CONSENT_COLUMNS
    return {name: name.lower() if name.lower() in known else ATTRIBUTE for name in headers}


def _header_mapped(first_line: str, mapping: dict[str, str]) -> str:
    """The header line with each column renamed to what it is mapped to."""
    delimiter, headers = _header_split(first_line)
    renamed = []
    for index, name in enumerate(headers):
        target = mapping.get(name, ATTRIBUTE)
        if target not in MAPPING_TARGETS:
            raise ImportFileError(f"Column {name!r} is mapped to {target!r}, which is not one of: {', '.join(MAPPING_TARGETS)}.")
        renamed.append(f"{_IGNORED_PREFIX}{index}" if target == IGNORE else name if target == ATTRIBUTE else target)
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerow(renamed)
    return out.getvalue()


def _header_read(first_line: str) -> tuple[str, list[str]]:
    """The delimiter and the column names, checked."""
    delimiter, header = _header_split(first_line)
    for index, name in enumerate(header, start=1):
        if _NUL in name:
            raise ImportFileError(f"Column {index}'s name holds a NUL character (\\0); is this a text CSV file?")
    lowered = [name.lower() for name in header]
    if "phone" not in lowered:
        raise ImportFileError(f"The file has no 'phone' column; its columns are: {', '.join(header) or 'none'}.")
    for index, name in enumerate(header, start=1):
        if not name:
            raise ImportFileError(f"Column {index} has no name; give every column a header.")
    duplicates = sorted({name for name in lowered if lowered.count(name) > 1})
    if duplicates:
        raise ImportFileError(f"These columns appear more than once: {', '.join(duplicates)}.")
    unknown = [name for name in lowered if name.startswith("consent_") and name not in CONSENT_COLUMNS]
    if unknown:
        raise ImportFileError(f"Unknown consent column {', '.join(unknown)}; the consent columns are: {', '.join(CONSENT_COLUMNS)}.")
    # Known columns by their lower-case name; any other keeps its header as the attribute name.
    return delimiter, [name.lower() if name.lower() in CONTACT_COLUMNS + CONSENT_COLUMNS else name for name in header]


def _opted_in_at(text: str) -> datetime:
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise _RowError(
                f"consent_opted_in_at {text!r} is not a date or time: write it like 2025-12-31 or 2025-12-31T14:30:00+01:00."
            )
        moment = datetime(day.year, day.month, day.day)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    moment = moment.astimezone(UTC)
    if moment > timezone.now():
        raise _RowError(f"consent_opted_in_at {text!r} lies in the future.")
    return moment


def _opt_in_parse(cells: dict[str, str]) -> _OptIn | None:
    if not any(cells.get(column) for column in CONSENT_COLUMNS):
        return None
    source = cells.get("consent_source") or ConsentSource.IMPORT
    if source not in IMPORT_SOURCES:
        raise _RowError(f"consent_source {source!r} is not one of: {', '.join(IMPORT_SOURCES)}.")
    if not cells.get("consent_opted_in_at"):
        raise _RowError("consent_opted_in_at is empty: say when the person opted in.")
    occurred_at = _opted_in_at(cells["consent_opted_in_at"])
    if not cells.get("consent_notice_text"):
        raise _RowError("consent_notice_text is empty: an opt-in needs the exact wording the person agreed to.")
    version = cells.get("consent_notice_version", "")
    if len(version) > _VERSION_MAX:
        raise _RowError(f"consent_notice_version is longer than {_VERSION_MAX} characters.")
    return _OptIn(
        source=source,
        occurred_at=occurred_at,
        notice_text=cells["consent_notice_text"],
        notice_version=version,
        note=cells.get("consent_evidence", ""),
    )


def _row_parse(number: int, header: list[str], values: list[str]) -> _Row:
    if len(values) > len(header) and any(v.strip() for v in values[len(header):]):
        raise _RowError(f"it has {len(values)} fields but the header has {len(header)}; is a value missing its quotes?")
    cells = {name: value.strip() for name, value in zip(header, values, strict=False)}
    with_nul = [name for name, value in cells.items() if _NUL in value]
    if with_nul:
        # PostgreSQL text cannot hold NUL: refused here, the rest of the chunk still imports.
        raise _RowError(f"{', '.join(with_nul)} holds a NUL character (\\0); remove it and import the row again.")
    try:
        e164 = phone_normalize(cells["phone"])
    except InvalidPhoneNumber as exc:
        raise _RowError(str(exc)) from None
    name, language = cells.get("name", ""), cells.get("language", "")
    if len(name) > _NAME_MAX:
        raise _RowError(f"name is longer than {_NAME_MAX} characters.")
    if len(language) > _LANGUAGE_MAX:
        raise _RowError(f"language {language!r} is longer than {_LANGUAGE_MAX} characters; use a code like en_US or de.")
    try:
        tags = tuple(dict.fromkeys(tag_name_normalised(t) for t in cells.get("tags", "").split(";") if t.strip()))
    except TagNameError as exc:
        raise _RowError(str(exc)) from exc
    attributes = {
        column: value
        for column, value in cells.items()
        if value and column not in CONTACT_COLUMNS + CONSENT_COLUMNS and not column.startswith(_IGNORED_PREFIX)
    }
    return _Row(number, e164, name, language, tags, attributes, _opt_in_parse(cells))


def contacts_import(
    *,
    file: TextIO,
    actor: Actor,
    file_name: str = "",
    on_problem: Callable[[RowProblem], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    analyze_after_rows: int = ANALYZE_AFTER_ROWS,
    mapping: dict[str, str] | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Import contacts and opt-ins from a CSV text stream; never reads more than a chunk into memory.

    ``mapping`` renames the file's columns (see ``_header_mapped``). ``dry_run`` reports what the
    import would do and writes nothing: the same import, each chunk rolled back as soon as it is
    counted. Not the whole file in one transaction: recording opt-ins locks the consent ledger's
    head, and every opt-out in the business waits for it; a real import commits per chunk too. So a
    number repeated in the file in different chunks counts as new in each of them in a dry run.

    Opt-ins are recorded with ``can_lift_suppression=False``: a row opting in a number that opted out
    is rejected, because only the person can opt in again. An opt-in already in the ledger (same
    contact, source, time and notice version) is not recorded twice.
    """
    report = ImportReport(dry_run=dry_run)

    def problem(number: int, reason: str) -> None:
        report.rejected += 1
        found = RowProblem(number, reason)
        if len(report.problems) < KEPT_PROBLEMS:
            report.problems.append(found)
        if on_problem is not None:
            on_problem(found)

    lines = iter(file)
    try:
        first_line = next(lines, "")
        if mapping is not None:
            first_line = _header_mapped(first_line, mapping)
        delimiter, header = _header_read(first_line)
    except UnicodeDecodeError:
        raise ImportFileError(_NOT_UTF8) from None
    reader = csv.reader(itertools.chain([first_line], lines), delimiter=delimiter)
    next(reader)
    number = 1
    try:
        for chunk in _chunks(reader, chunk_rows):
            parsed = []
            for values in chunk:
                number += 1
                if not any(v.strip() for v in values):
                    continue
                try:
                    parsed.append(_row_parse(number, header, values))
                except _RowError as exc:
                    problem(number, str(exc))
            with transaction.atomic():
                _chunk_write(parsed, actor=actor, report=report, problem=problem)
                transaction.set_rollback(dry_run)
    except UnicodeDecodeError:
        report.file_error = f"after row {number}: {_NOT_UTF8}"
    except csv.Error as exc:
        report.file_error = f"after row {number}: the file is not valid CSV ({exc})."
    if dry_run:
        return report
    if report.imported + report.updated >= analyze_after_rows:
        _statistics_refresh()
    audit_record(
        actor=actor,
        action="contacts.import",
        object_type="file",
        object_id=file_name[:64],
        details={
            "imported": report.imported,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "rejected": report.rejected,
            "file_error": report.file_error,
        },
    )
    return report


def _statistics_refresh() -> None:
    """ANALYZE the tables a large import filled.

    Autovacuum would, a minute or so later; a campaign launched before then plans its send-time
    consent checks without statistics for the new rows and reads every consent state per batch.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in (Contact, ConsentState, ConsentEvent):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


_NUL = "\x00"
_NOT_UTF8 = "the file is not UTF-8 text: save it as 'CSV UTF-8' and import it again."


def _chunks(reader: Iterable[list[str]], size: int) -> Iterator[list[list[str]]]:
    iterator = iter(reader)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _chunk_write(rows: list[_Row], *, actor: Actor, report: ImportReport, problem: Callable[[int, str], None]) -> None:
    """Write one chunk of valid rows: contacts, tags, then opt-ins, each in a few bulk statements."""
    if not rows:
        return
    suppressed = _suppressed_numbers([row.e164 for row in rows if row.opt_in])
    accepted = []
    for row in rows:
        if row.opt_in and row.e164 in suppressed:
            problem(row.number, "this number opted out earlier; an import cannot opt it in again (only the person can). Row skipped.")
        else:
            accepted.append(row)
    if not accepted:
        return

    # Locked in id order so two imports touching the same contacts cannot deadlock.
    contacts: dict[str, Contact] = {
        c.phone: c
        for c in Contact.objects.select_for_update().filter(phone__in={r.e164 for r in accepted}).order_by("pk")
        if c.phone  # every one: they were found by their number
    }
    existing_tags = _tags_of(c.pk for c in contacts.values())
    new_contacts: dict[str, Contact] = {}
    changed_contacts: dict[str, Contact] = {}
    outcome: dict[int, str] = {}  # row number -> imported / updated / unchanged
    tag_links: set[tuple[str, str]] = set()

    for row in accepted:
        contact = contacts.get(row.e164)
        if contact is None:
            contact = contacts[row.e164] = new_contacts[row.e164] = Contact(
                phone=row.e164, name=row.name, language=row.language, attributes=dict(row.attributes), **contact_phone_fields(row.e164)
            )
            outcome[row.number] = "imported"
        else:
            changed = _contact_merge(contact, row)
            if changed and row.e164 not in new_contacts:
                changed_contacts[row.e164] = contact
            outcome[row.number] = "updated" if changed else "unchanged"
        for tag in row.tags:
            if (row.e164, tag) not in tag_links and tag not in existing_tags.get(contact.pk, ()):
                tag_links.add((row.e164, tag))
                if outcome[row.number] == "unchanged":
                    outcome[row.number] = "updated"

    now = timezone.now()
    if new_contacts:
        # A contact created meanwhile (API, opt-in page) is matched, not duplicated; its id comes back.
        Contact.objects.bulk_create(
            new_contacts.values(), batch_size=CHUNK_ROWS, update_conflicts=True, unique_fields=["phone"], update_fields=["phone"]
        )
    for contact in changed_contacts.values():
        contact.updated_at = now
    Contact.objects.bulk_update(changed_contacts.values(), ["name", "language", "attributes", "updated_at"], batch_size=CHUNK_ROWS)
    _tags_link(tag_links, contacts)

    for number, refused in _opt_ins_record(accepted, contacts, actor=actor, outcome=outcome):
        outcome[number] = "rejected"
        problem(number, f"the opt-in was refused: {refused} The contact details were saved.")
    for state in outcome.values():
        if state != "rejected":
            setattr(report, state, getattr(report, state) + 1)
    for row in accepted:
        if outcome[row.number] != "rejected" and len(report.accepted) < KEPT_ACCEPTED:
            report.accepted.append(AcceptedRow(row.number, row.e164, row.name, outcome[row.number], row.tags, bool(row.opt_in)))


def _suppressed_numbers(numbers: list[str]) -> set[str]:
    by_hash = {suppression_hash(n): n for n in numbers}
    hashes = Suppression.objects.filter(number_hash__in=by_hash, lifted_at__isnull=True).values_list("number_hash", flat=True)
    return {by_hash[h] for h in hashes}


def _tags_of(contact_ids: Iterable[int]) -> dict[int, set[str]]:
    links = Contact.tags.through.objects.filter(contact_id__in=list(contact_ids)).values_list("contact_id", "tag__name")
    tags: dict[int, set[str]] = {}
    for contact_id, name in links:
        tags.setdefault(contact_id, set()).add(name)
    return tags


def _contact_merge(contact: Contact, row: _Row) -> bool:
    """Apply a row to a known contact like contact_upsert does: non-empty values win, attributes merge."""
    changed = False
    for attr in ("name", "language"):
        value = getattr(row, attr)
        if value and getattr(contact, attr) != value:
            setattr(contact, attr, value)
            changed = True
    merged = {**contact.attributes, **row.attributes}
    if merged != contact.attributes:
        contact.attributes = merged
        changed = True
    return changed


def _tags_link(links: set[tuple[str, str]], contacts: dict[str, Contact]) -> None:
    if not links:
        return
    names = {tag for _, tag in links}
    Tag.objects.bulk_create([Tag(name=name) for name in names], ignore_conflicts=True)
    tag_ids = dict(Tag.objects.filter(name__in=names).values_list("name", "pk"))
    Through = Contact.tags.through
    Through.objects.bulk_create(
        [Through(contact_id=contacts[e164].pk, tag_id=tag_ids[tag]) for e164, tag in links], ignore_conflicts=True
    )


def _opt_ins_record(
    rows: list[_Row], contacts: dict[str, Contact], *, actor: Actor, outcome: dict[int, str]
) -> list[tuple[int, ConsentRefused]]:
    """Record the chunk's opt-ins not already in the ledger; returns the rows whose opt-in was refused."""
    with_opt_in = [row for row in rows if row.opt_in]
    if not with_opt_in:
        return []
    recorded: set[tuple[Any, ...]] = set(
        ConsentEvent.objects.filter(
            contact_id__in={contacts[row.e164].pk for row in with_opt_in},
            purpose__code=Purpose.MARKETING,
            action=ConsentAction.OPT_IN,
        ).values_list("contact_id", "source", "occurred_at", "notice_version")
    )
    changes, numbers = [], []
    for row in with_opt_in:
        opt_in = row.opt_in
        assert opt_in is not None
        contact = contacts[row.e164]
        key = (contact.pk, opt_in.source, opt_in.occurred_at, opt_in.notice_version)
        if key in recorded:
            continue
        recorded.add(key)
        evidence = Evidence(notice_text=opt_in.notice_text, notice_version=opt_in.notice_version, note=opt_in.note)
        changes.append(
            ConsentChange(contact=contact, action=ConsentAction.OPT_IN, source=opt_in.source, evidence=evidence, occurred_at=opt_in.occurred_at)
        )
        numbers.append(row.number)
        if outcome[row.number] == "unchanged":
            outcome[row.number] = "updated"
    results = consent_record_many(changes=changes, actor=actor, can_lift_suppression=False)
    return [(number, result) for number, result in zip(numbers, results, strict=True) if isinstance(result, ConsentRefused)]
