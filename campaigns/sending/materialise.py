"""Materialise: one queued row per (campaign, contact), set-based, from the audience query.

The audience is the segment, or for a follow-up its parent's recipients who met its condition by now.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import connection
from django.utils import timezone

from campaigns.caps import next_local_time
from campaigns.models import Campaign, Message, MessageStatus
from campaigns.segments import campaign_audience

logger = logging.getLogger(__name__)

# New message ids in the UUIDv7 layout (48 bits of Unix milliseconds, version 7, random bits): a
# million rows inserted at once land at the right edge of the primary key's index instead of at
# random places all over it (1,000,000 rows: 19 s -> 12 s).
_TIME_ORDERED_UUID_SQL = (
    "(lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7'"
    " || substr(replace(gen_random_uuid()::text, '-', ''), 14))::uuid"
)


def messages_materialise(*, campaign: Campaign, start: datetime) -> int:
    """Create the campaign's queued messages from its audience, set-based; returns how many were new.

    With a local send time, each message waits for that time in its recipient's time zone.
    """
    audience = campaign_audience(campaign).order_by().values("id")
    marketing = campaign.is_marketing
    if connection.vendor == "postgresql":
        select_sql, params = audience.query.get_compiler(connection=connection).as_sql()
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {Message._meta.db_table}
                    (id, kind, campaign_id, contact_id, status, skip_reason, decision, body, attempts,
                     error_title, error_detail, created_at, is_marketing)
                SELECT {_TIME_ORDERED_UUID_SQL}, %s, %s, audience.id, %s, '', '{{}}'::jsonb, '', 0, '', '', %s, %s
                FROM ({select_sql}) AS audience
                ON CONFLICT DO NOTHING
                """,
                [Message.Kind.CAMPAIGN, campaign.pk, MessageStatus.QUEUED, timezone.now(), marketing, *params],
            )
            created = cursor.rowcount
    else:  # SQLite (development): the same rows, in chunks
        before = Message.objects.filter(campaign=campaign).count()
        chunk: list[Message] = []
        for contact_id in audience.values_list("id", flat=True).iterator(chunk_size=2000):
            chunk.append(Message(campaign=campaign, contact_id=contact_id, is_marketing=marketing))
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
