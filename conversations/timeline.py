"""One person's history for support: consent events, web opt-in requests, messages, replies and clicks in time order.

Each source is read newest first through its per-contact index and cut at the page size, then
the sources are merged: a page costs the same few queries for a person with ten rows or with a
hundred thousand. Older pages continue from a time cursor (``before``), without counting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from campaigns.models import Click, Message
from consent.models import ConsentEvent, Contact
from conversations.models import InboundMessage, OptInConfirmation

PAGE_SIZE = 50


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # consent, optin_request, message, inbound or click
    item: Any


@dataclass
class TimelinePage:
    entries: list[TimelineEntry]
    older: datetime | None  # cursor of the next (older) page, None on the last page


def contact_timeline(
    contact: Contact, *, before: datetime | None = None, limit: int = PAGE_SIZE, with_messages: bool = True
) -> TimelinePage:
    """The newest ``limit`` entries before ``before``; messages and clicks only ``with_messages``."""

    def newest(queryset: Any, time_field: str) -> list:
        if before is not None:
            queryset = queryset.filter(**{f"{time_field}__lt": before})
        return list(queryset.order_by(f"-{time_field}", "-pk")[: limit + 1])

    entries = [
        TimelineEntry(event.occurred_at, "consent", event)
        for event in newest(ConsentEvent.objects.filter(contact=contact).select_related("purpose", "recorded_by"), "occurred_at")
    ]
    # Web opt-ins waiting for (or never given) the person's confirmation: support sees why they get nothing.
    entries += [
        TimelineEntry(request.requested_at, "optin_request", request)
        for request in newest(OptInConfirmation.objects.filter(contact=contact).select_related("form"), "requested_at")
    ]
    entries += [TimelineEntry(m.sent_at, "inbound", m) for m in newest(InboundMessage.objects.filter(contact=contact), "sent_at")]
    if with_messages:
        entries += [
            TimelineEntry(m.created_at, "message", m)
            for m in newest(Message.objects.filter(contact=contact).select_related("campaign"), "created_at")
        ]
        entries += [
            TimelineEntry(c.at, "click", c)
            for c in newest(Click.objects.filter(message__contact=contact).select_related("message__campaign"), "at")
        ]
    entries.sort(key=lambda entry: entry.at, reverse=True)
    older = entries[limit - 1].at if len(entries) > limit else None
    return TimelinePage(entries=entries[:limit], older=older)
