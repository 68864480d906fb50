"""Materialise: one queued row per (campaign, contact), set-based, from the audience query.

The audience is the segment, or for a follow-up its parent's recipients who met its condition by now.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min, QuerySet
from django.utils import timezone

from campaigns.caps import next_local_time
from campaigns.models import Campaign, Message, MessageStatus
from campaigns.segments import campaign_audience
from campaigns.variants import CONTROL, CONTROL_SKIP_REASON, group_case_sql, group_of
from consent.models import Contact

logger = logging.getLogger(__name__)

# New message ids in the UUIDv7 layout (48 bits of Unix milliseconds, version 7, random bits): a
# million rows inserted at once land at the right edge of the primary key's index instead of at
# random places all over it (1,000,000 rows: 19 s -> 12 s).
_TIME_ORDERED_UUID_SQL = (
    "(lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7'"
    " || substr(replace(gen_random_uuid()::text, '-', ''), 14))::uuid"
)


def messages_materialise(*, campaign: Campaign, start: datetime, side_by_side: bool = True) -> int:
    """Create the campaign's queued messages from its audience, set-based; returns how many were new.

    With a local send time, each message waits for that time in its recipient's time zone. Each row
    records its A/B variant; the hold-out's rows are skipped at once (``control group``) and never sent.

    A first materialisation over many contacts (``CAMPAIGN_MATERIALISE_PARALLEL_FROM``) runs side by
    side on ``CAMPAIGN_MATERIALISE_CONNECTIONS`` connections of its own, one range of contact ids
    each, each committing its rows itself, before the caller's transaction does: see campaign_launch
    for what a launch failing half-way leaves. ``side_by_side=False`` keeps every row in the caller's
    transaction.
    """
    audience = campaign_audience(campaign).order_by().values("id")
    if connection.vendor == "postgresql":
        fresh = not Message.objects.filter(campaign=campaign, kind=Message.Kind.CAMPAIGN).exists()
        ranges = _contact_id_ranges() if fresh and side_by_side else []
        if ranges:
            created = _ranges_insert_side_by_side(campaign, ranges)
        else:
            created = _audience_insert(campaign, audience, fresh=fresh)
    else:  # SQLite (development): the same rows, in chunks
        marketing = campaign.is_marketing
        before = Message.objects.filter(campaign=campaign).count()
        chunk: list[Message] = []
        for contact_id in audience.values_list("id", flat=True).iterator(chunk_size=2000):
            group = group_of(campaign, contact_id)
            held_out = group == CONTROL
            chunk.append(
                Message(
                    campaign=campaign, contact_id=contact_id, is_marketing=marketing, variant=group,
                    status=MessageStatus.SKIPPED if held_out else MessageStatus.QUEUED,
                    skip_reason=CONTROL_SKIP_REASON if held_out else "",
                )
            )  # fmt: skip
            if len(chunk) >= 2000:
                Message.objects.bulk_create(chunk, ignore_conflicts=True)
                chunk = []
        Message.objects.bulk_create(chunk, ignore_conflicts=True)
        created = Message.objects.filter(campaign=campaign).count() - before
    if campaign.local_time is not None:
        pending = Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED)
        for zone_name in pending.values_list("contact__time_zone", flat=True).distinct():
            pending.filter(contact__time_zone=zone_name).update(send_after=next_local_time(zone_name, start, campaign.local_time))
    return created


def _audience_insert(campaign: Campaign, audience: QuerySet[Any], *, fresh: bool) -> int:
    """One INSERT ... SELECT of the audience's rows on this thread's connection; how many were new."""
    select_sql, params = audience.query.get_compiler(connection=connection).as_sql()
    group_sql, group_params = group_case_sql(campaign, "audience.id")
    # A first launch (the usual case) inserts plainly: the audience names each contact once (a
    # Contact query filtered by EXISTS), so nothing can clash, and a speculative insertion per row
    # (a probe of every unique index and a confirming WAL record) would buy nothing (200,000 rows:
    # 1.41 M -> 1.21 M WAL records, 3.1 M -> 1.9 M buffer hits). A second materialisation racing
    # this one would fail on the unique constraint, never write a second row. A campaign with rows
    # already adds only the people it lacks.
    on_conflict = "" if fresh else "ON CONFLICT (campaign_id, contact_id) WHERE kind = 'campaign' DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Message._meta.db_table}
                (id, kind, campaign_id, contact_id, status, skip_reason, decision, body, attempts,
                 error_title, error_detail, created_at, is_marketing, variant)
            SELECT {_TIME_ORDERED_UUID_SQL}, %s, %s, audience.id,
                   CASE WHEN grouped.variant = %s THEN %s ELSE %s END,
                   CASE WHEN grouped.variant = %s THEN %s ELSE '' END,
                   '{{}}'::jsonb, '', 0, '', '', %s, %s, grouped.variant
            FROM ({select_sql}) AS audience
            CROSS JOIN LATERAL (SELECT {group_sql} AS variant) AS grouped
            {on_conflict}
            """,
            [
                Message.Kind.CAMPAIGN, campaign.pk, CONTROL, MessageStatus.SKIPPED, MessageStatus.QUEUED,
                CONTROL, CONTROL_SKIP_REASON, timezone.now(), campaign.is_marketing, *params, *group_params,
            ],
        )  # fmt: skip
        return cursor.rowcount


def _contact_id_ranges() -> list[tuple[int, int | None]]:
    """Contiguous ranges of contact ids, one per connection (the last one open-ended), or none when
    the contacts are too few for a second connection to pay."""
    parts = settings.CAMPAIGN_MATERIALISE_CONNECTIONS
    bounds = Contact.objects.aggregate(low=Min("pk"), high=Max("pk"))
    if parts < 2 or bounds["low"] is None or bounds["high"] - bounds["low"] + 1 < settings.CAMPAIGN_MATERIALISE_PARALLEL_FROM:
        return []
    step = math.ceil((bounds["high"] + 1 - bounds["low"]) / parts)
    lows = [bounds["low"] + part * step for part in range(parts)]
    return [(low, high) for low, high in zip(lows, [*lows[1:], None], strict=True)]


def _ranges_insert_side_by_side(campaign: Campaign, ranges: list[tuple[int, int | None]]) -> int:
    """Each range's rows on a connection of its own, at once: the heap, index and foreign-key work
    of a million rows is CPU-bound in one PostgreSQL backend, and these run on separate cores.

    Each range commits on its own. The foreign-key check of each row takes a KEY SHARE lock on the
    campaign row, which waits for a FOR UPDATE lock of another transaction (campaign_launch holds
    FOR NO KEY UPDATE, which lets it through); the lock timeout turns any other holder into an error
    instead of a wait for a caller who waits for us.
    """

    def range_insert(low: int, high: int | None) -> int:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL lock_timeout = '{int(settings.CAMPAIGN_LOCK_TIMEOUT_SECONDS)}s'")
                audience = campaign_audience(campaign).filter(pk__gte=low)
                if high is not None:
                    audience = audience.filter(pk__lt=high)
                return _audience_insert(campaign, audience.order_by().values("id"), fresh=True)
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=len(ranges), thread_name_prefix="materialise") as pool:
        futures = [pool.submit(range_insert, low, high) for low, high in ranges]
        created = [future.result() for future in futures]
    logger.info("campaign %s: %s new messages written on %s connections (%s)", campaign.pk, sum(created), len(ranges), created)
    return sum(created)
