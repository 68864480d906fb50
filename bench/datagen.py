"""Synthetic data for drills and benchmarks, written set-based (COPY), fast enough for millions of rows.

Needs Django set up in the calling process against the stack's database (``os.environ.update(stack.env)``
then ``django.setup()``). What it writes is what the application itself would have written for the same
facts: opted-in contacts have a marketing ConsentState resting on an opt-in ConsentEvent, and the events
are appended to the hash chain (``manage.py verify_consent_ledger`` stays green). Audit entries of the
synthetic opt-ins are not written: nothing on the send path reads them. The ``*_bulk`` generators at
the end trade the chain for speed (millions of rows in set-based SQL); see their docstrings.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, time
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import DatabaseError, connection, transaction
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
            yield (contact_id, e164, suppression_hash(e164), e164[1:], f"Person {n}", "", time_zone, country, "{}", now, now, "", "", "")

    _copy(
        "consent_contact",
        ["id", "phone", "phone_hash", "wa_id", "name", "language", "time_zone", "country", "attributes", "created_at", "updated_at",
         "bsuid_hash", "parent_bsuid", "username"],  # fmt: skip
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


# --- set-based generators for millions of rows (audience and segment benchmarks) -----------------

# phone(n) in SQL (n is the generate_series column).
_PHONE_SQL = "'+49151' || lpad((20000000 + n * 10 + 1)::text, 8, '0')"


@contextmanager
def _bulk_session(*tables: str) -> Iterator[object]:
    """One transaction with foreign-key triggers off (the rows are built consistent) and big sorts.

    The plain indexes of ``tables`` are dropped first and built again (same definitions) at the end:
    one sort per index instead of millions of single-row index inserts.
    """
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
        cursor.execute("BEGIN")
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        try:
            cursor.execute("SET LOCAL session_replication_role = replica")
        except DatabaseError:  # not a superuser: the deferred foreign-key checks run at commit instead
            cursor.execute("ROLLBACK")
            cursor.execute("BEGIN")
        cursor.execute(
            """
            SELECT index.indexname, index.indexdef FROM pg_indexes AS index
            WHERE index.tablename = ANY(%s) AND NOT EXISTS (
                SELECT 1 FROM pg_constraint WHERE pg_constraint.conname = index.indexname)
            """,
            [list(tables)],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        try:
            yield cursor
            for _, definition in indexes:
                cursor.execute(definition)
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")


def opted_in_contacts_bulk(*, count: int, start: int = 0, time_zone: str = "Europe/Berlin") -> tuple[int, int]:
    """Contacts ``phone(start)`` .. ``phone(start + count - 1)`` with an active opt-in, in set-based SQL.

    For millions (1,000,000 in about 25 s, against about a minute for ``opted_in_contacts``): the
    opt-in events are written outside the hash chain (``verify_consent_ledger`` would flag them), so
    use it only where the ledger is not under test. Phone hashes are the real HMAC (pgcrypto), so
    suppressions match as in production. Returns the (first, last) contact id.
    """
    with _bulk_session("consent_contact", "consent_consentevent", "consent_consentstate") as cursor:
        cursor.execute("SELECT id FROM consent_purpose WHERE code = 'marketing'")
        (purpose_id,) = cursor.fetchone()
        cursor.execute(
            f"""
            WITH created AS (
            INSERT INTO consent_contact (phone, phone_hash, wa_id, name, language, time_zone, country, attributes,
                                         created_at, updated_at)
            SELECT {_PHONE_SQL}, encode(hmac({_PHONE_SQL}, %(key)s, 'sha256'), 'hex'), substr({_PHONE_SQL}, 2),
                   'Person ' || n, 'en_US', %(zone)s, 'DE',
                   jsonb_build_object('first_name', 'Person ' || n, 'tier', CASE WHEN n %% 10 = 0 THEN 'gold' ELSE 'basic' END),
                   now(), now()
            FROM generate_series(%(start)s, %(stop)s) AS n
            RETURNING id
            ) SELECT min(id), max(id) FROM created
            """,
            {"key": settings.SUPPRESSION_HASH_KEY, "zone": time_zone, "start": start, "stop": start + count - 1},
        )
        first, last = cursor.fetchone()
        cursor.execute(
            """
            INSERT INTO consent_consentevent (contact_id, purpose_id, action, source, occurred_at, recorded_at,
                recorded_via, notice_text, notice_version, page_url, user_agent, note, personal_digest, previous_hash,
                entry_hash)
            SELECT id, %(purpose)s, 'opt_in', 'web_form', now() - interval '30 days', now(), 'benchmark data',
                   %(notice)s, 'v1', '', '', '', repeat('0', 64), repeat('0', 64),
                   encode(sha256(('bench-optin:' || id)::bytea), 'hex')
            FROM consent_contact WHERE id BETWEEN %(first)s AND %(last)s
            """,
            {"purpose": purpose_id, "notice": NOTICE_TEXT, "first": first, "last": last},
        )
        cursor.execute(
            """
            INSERT INTO consent_consentstate (contact_id, purpose_id, status, since, last_event_id)
            SELECT contact_id, purpose_id, 'opted_in', occurred_at, id FROM consent_consentevent
            WHERE purpose_id = %(purpose)s AND contact_id BETWEEN %(first)s AND %(last)s
            """,
            {"purpose": purpose_id, "first": first, "last": last},
        )
    _analyze("consent_contact", "consent_consentevent", "consent_consentstate")
    return first, last


def events_bulk(*, count: int, first_contact: int, last_contact: int, days: int = 30, seed: float = 0.42) -> None:
    """``count`` behaviour events over the contacts, over the last ``days`` days.

    Per event: 60% product_viewed (sku SKU-0..SKU-49), 25% page_viewed, 15% purchase (same skus).
    """
    contacts = last_contact - first_contact + 1
    with _bulk_session("campaigns_event") as cursor:
        cursor.execute("SELECT setseed(%s)", [seed])
        cursor.execute(
            """
            INSERT INTO campaigns_event (contact_id, name, properties, occurred_at, received_at)
            SELECT %(first)s + (hashint %% %(contacts)s),
                   CASE WHEN kind < 0.60 THEN 'product_viewed' WHEN kind < 0.85 THEN 'page_viewed' ELSE 'purchase' END,
                   jsonb_build_object('sku', 'SKU-' || sku),
                   now() - random() * make_interval(days => %(days)s),
                   now()
            FROM (SELECT (random() * 2147483647)::bigint AS hashint, random() AS kind, floor(random() * 50)::int AS sku
                  FROM generate_series(1, %(count)s)) AS draw
            """,
            {"first": first_contact, "contacts": contacts, "count": count, "days": days},
        )
    _analyze("campaigns_event")


def _analyze(*tables: str) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {table}")
