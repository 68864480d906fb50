"""Synthetic data for drills and benchmarks, written set-based (COPY), fast enough for millions of rows.

Needs Django set up in the calling process against the stack's database (``os.environ.update(stack.env)``
then ``django.setup()``). What it writes is what the application itself would have written for the same
facts: opted-in contacts have a marketing ConsentState resting on an opt-in ConsentEvent, and the events
are appended to the hash chain (``manage.py verify_consent_ledger`` stays green). Audit entries of the
synthetic opt-ins are not written: nothing on the send path reads them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import datetime, time
from typing import Any

from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from campaigns.models import FrequencyCapPolicy, Segment
from consent.models import ConsentAction, ConsentEvent, ConsentSource, Contact, LedgerHead, Purpose
from consent.services import ConsentChange, consent_record_many, contact_phone_fields, purpose_get, suppression_hash

NOTICE_TEXT = "Yes, Acme may send me offers on WhatsApp, up to 4 a month."
NOTICE_VERSION = "synthetic-v1"
_MAX_NUMBERS = 8_000_000  # phone(n) has 8 digits after +49151


def phone(n: int) -> str:
    """A valid German mobile number, distinct for each n < 8,000,000.

    Every number ends in 1, so none matches the sandbox's default failure and reply rules
    (numbers ending 0000, 0050, 0099).
    """
    if not 0 <= n < _MAX_NUMBERS:
        raise ValueError(f"n must be between 0 and {_MAX_NUMBERS - 1}")
    return f"+49151{20000000 + n * 10 + 1:08d}"


def _copy_value(value: Any) -> str:
    """One field of PostgreSQL's COPY text format."""
    if value is None:
        return r"\N"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, chunk_rows: int = 100_000) -> None:
    """COPY ``rows`` into ``table`` on Django's connection, in chunks (bounded memory)."""
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    buffer = io.StringIO()
    pending = 0
    with connection.cursor() as cursor:
        for row in rows:
            buffer.write("\t".join(_copy_value(v) for v in row))
            buffer.write("\n")
            pending += 1
            if pending >= chunk_rows:
                buffer.seek(0)
                cursor.cursor.copy_expert(statement, buffer)
                buffer, pending = io.StringIO(), 0
        if pending:
            buffer.seek(0)
            cursor.cursor.copy_expert(statement, buffer)


def _reserve_ids(table: str, count: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)", [count])
        return sorted(row[0] for row in cursor.fetchall())


def _contacts_copy(*, count: int, start: int, now: datetime) -> list[int]:
    """COPY contacts ``phone(start)`` .. ``phone(start + count - 1)``; their ids in number order."""
    # All numbers share one prefix: the country and time zone (Europe/Berlin) are looked up once.
    first_fields = contact_phone_fields(phone(start))
    country, time_zone = first_fields["country"], first_fields["time_zone"]
    contact_ids = _reserve_ids("consent_contact", count)

    def contact_rows() -> Iterable[tuple]:
        for contact_id, n in zip(contact_ids, range(start, start + count), strict=True):
            e164 = phone(n)
            yield (contact_id, e164, suppression_hash(e164), e164[1:], f"Person {n}", "", time_zone, country, "{}", now, now)

    _copy(
        "consent_contact",
        ["id", "phone", "phone_hash", "wa_id", "name", "language", "time_zone", "country", "attributes", "created_at", "updated_at"],
        contact_rows(),
    )
    return contact_ids


@transaction.atomic
def opted_in_contacts(*, count: int, start: int = 0) -> list[int]:
    """Create contacts ``phone(start)`` .. ``phone(start + count - 1)``, each opted in to marketing.

    Returns the new contact ids in number order.
    """
    if count <= 0:
        return []
    now = timezone.now()
    contact_ids = _contacts_copy(count=count, start=start, now=now)
    _opt_ins_append(contact_ids, now=now)
    return contact_ids


@transaction.atomic
def contacts_without_consent(*, count: int, start: int = 0) -> list[int]:
    """Contacts who never opted in (e.g. known from events only): a campaign must skip them."""
    return _contacts_copy(count=count, start=start, now=timezone.now()) if count > 0 else []


@transaction.atomic
def opted_out_contacts(*, count: int, start: int = 0) -> list[int]:
    """Contacts who opted in and later out, the second through the consent service (suppressed too)."""
    contact_ids = opted_in_contacts(count=count, start=start)
    contacts = Contact.objects.filter(pk__in=contact_ids).order_by("pk")
    consent_record_many(changes=[ConsentChange(contact=c, action=ConsentAction.OPT_OUT, source=ConsentSource.SUPPORT) for c in contacts])
    return contact_ids


def _opt_ins_append(contact_ids: list[int], *, now: datetime) -> None:
    """Append one opt-in event per contact to the ledger (under its head lock) and set the states."""
    purpose = purpose_get(Purpose.MARKETING)
    head, _ = LedgerHead.objects.select_for_update().get_or_create(pk=1)
    event_ids = _reserve_ids("consent_consentevent", len(contact_ids))
    # One unsaved event, re-pointed per contact: compute_hash is the model's own, so the chain verifies.
    event = ConsentEvent(
        purpose_id=purpose.pk,
        action=ConsentAction.OPT_IN,
        source=ConsentSource.WEB_FORM,
        occurred_at=now,
        recorded_at=now,
        recorded_via="synthetic data",
        notice_text=NOTICE_TEXT,
        notice_version=NOTICE_VERSION,
    )
    event.personal_digest = event.compute_personal_digest()
    last_hash = head.last_hash

    def event_rows() -> Iterable[tuple]:
        nonlocal last_hash
        for event_id, contact_id in zip(event_ids, contact_ids, strict=True):
            event.contact_id, event.previous_hash = contact_id, last_hash
            last_hash = event.compute_hash()
            yield (
                event_id, contact_id, purpose.pk, event.action, event.source, now, now, None, event.recorded_via,
                NOTICE_TEXT, NOTICE_VERSION, "", None, "", "", event.personal_digest, event.previous_hash, last_hash, None,
            )  # fmt: skip

    _copy(
        "consent_consentevent",
        [
            "id", "contact_id", "purpose_id", "action", "source", "occurred_at", "recorded_at", "recorded_by_id",
            "recorded_via", "notice_text", "notice_version", "page_url", "ip_address", "user_agent", "note",
            "personal_digest", "previous_hash", "entry_hash", "evidence_erased_at",
        ],
        event_rows(),
    )  # fmt: skip
    _copy(
        "consent_consentstate",
        ["contact_id", "purpose_id", "status", "since", "last_event_id"],
        ((contact_id, purpose.pk, "opted_in", now, event_id) for event_id, contact_id in zip(event_ids, contact_ids, strict=True)),
    )
    head.last_hash = last_hash
    head.save(update_fields=["last_hash"])


def quiet_hours_off(*, max_per_day: int = 1, max_per_week: int = 3) -> FrequencyCapPolicy:
    """The global cap policy without quiet hours, so what is sent does not depend on the hour of the run."""
    policy, _ = FrequencyCapPolicy.objects.update_or_create(
        pk=1,
        defaults={"quiet_hours_start": time(0), "quiet_hours_end": time(0), "max_per_day": max_per_day, "max_per_week": max_per_week},
    )
    return policy


def segment_everyone(name: str = "everyone") -> Segment:
    """A segment matching every contact (the eligibility check still filters by consent at send time)."""
    segment, _ = Segment.objects.get_or_create(name=name, defaults={"rules": {"all": []}})
    return segment


def staff_token(username: str, *groups: str) -> str:
    """An API token of a staff user in ``groups`` (Marketer, Approver, Support), created if needed."""
    user, _ = User.objects.get_or_create(username=username, defaults={"is_staff": True})
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return Token.objects.get_or_create(user=user)[0].key
