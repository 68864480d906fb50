"""The send-time check of a batch: consent, suppression, caps, quiet hours, parameters, in one query."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from campaigns import eligibility
from campaigns.caps import CAP_COUNTED_Q, CapLimits, cap_limits, cap_release_time, quiet_hours_end
from campaigns.models import Campaign, Message, MessageStatus
from campaigns.parameters import parameter_fields
from campaigns.variants import campaign_views_by_label

logger = logging.getLogger(__name__)

@dataclass
class Verdict:
    message: Message
    reason: str  # eligibility.ELIGIBLE or a reason
    row: dict[str, Any]
    send_after: datetime | None = None


def decisions(campaign: Campaign, messages: list[Message], limits: CapLimits, now: datetime) -> list[Verdict]:
    """The send-time check of a whole batch, in one query (plus one for capped contacts)."""
    by_contact = {m.contact_id: m for m in messages}
    zones = sorted({m.contact.time_zone for m in messages})
    fields = ("pk", "verdict", "consent_status", "consent_event_id", "day_count", "week_count", "time_zone",
              *parameter_fields(campaign.parameters))  # fmt: skip
    # The SQL is compiled once per campaign shape and reused with the next batch's ids (see eligibility_rows).
    rows = {
        row["pk"]: row
        for row in eligibility.eligibility_rows(
            list(by_contact), campaign=campaign, limits=limits, now=now, zones=zones, fields=fields
        )
    }
    capped = [cid for cid, row in rows.items() if row["verdict"] == eligibility.FREQUENCY_CAP]
    dispatched: dict[int, list[datetime]] = {}
    if capped:
        since = now - timedelta(days=8)
        for contact_id, moment in Message.objects.filter(
            CAP_COUNTED_Q, contact_id__in=capped, is_marketing=True, dispatched_at__gte=since
        ).values_list("contact_id", "dispatched_at"):
            if moment is not None:  # always: filtered on it
                dispatched.setdefault(contact_id, []).append(moment)
    verdicts = []
    for contact_id, message in by_contact.items():
        row = rows.get(contact_id) or {"verdict": eligibility.INVALID_NUMBER, "time_zone": "UTC"}
        verdict = Verdict(message=message, reason=row["verdict"], row=row)
        if verdict.reason == eligibility.FREQUENCY_CAP:
            verdict.send_after = cap_release_time(row["time_zone"], now, limits, dispatched.get(contact_id, []))
            if verdict.send_after is None:  # counted differently a moment ago; check again shortly
                verdict.send_after = now + timedelta(seconds=5)
        elif verdict.reason == eligibility.QUIET_HOURS:
            verdict.send_after = quiet_hours_end(row["time_zone"], now, limits) or now + timedelta(minutes=1)
        verdicts.append(verdict)
    return verdicts


def decision_record(campaign: Campaign, verdict: Verdict, limits: CapLimits, now: datetime, values: list[str | None]) -> dict:
    row = verdict.row
    template = campaign.template_chosen()
    record = {
        "checked_at": now.isoformat(),
        "outcome": "send" if verdict.reason == eligibility.ELIGIBLE else ("defer" if verdict.send_after else "skip"),
        "reason": verdict.reason,
        "template": {"name": template.name, "language": template.language, "category": template.category, "status": template.status},
        "marketing_consent": row.get("consent_status"),
        "consent_event": row.get("consent_event_id"),
        "caps": {"today": row.get("day_count"), "last_7_days": row.get("week_count"),
                 "max_per_day": limits.max_per_day, "max_per_week": limits.max_per_week},  # fmt: skip
        "time_zone": row.get("time_zone"),
    }
    if verdict.send_after:
        record["deferred_until"] = verdict.send_after.isoformat()
    if verdict.reason == eligibility.ELIGIBLE:
        record["parameters"] = values
    return record


def queued_forecast(messages: list[Message], now: datetime) -> dict[Any, Verdict]:
    """What the send-time check would decide ``now`` for queued campaign messages, by message id.

    The same check the sender runs (one query per campaign), so support sees "will be skipped:
    opted out" before the worker gets there. Messages need ``contact`` and ``campaign`` loaded.
    """
    by_group: dict[tuple[int, str], tuple[Campaign, list[Message]]] = {}
    for message in messages:
        if message.campaign is not None and message.status == MessageStatus.QUEUED:
            views = campaign_views_by_label(message.campaign)  # an A/B variant checks its own template and values
            view = views.get(message.variant) or next(iter(views.values()))
            by_group.setdefault((message.campaign.pk, message.variant), (view, []))[1].append(message)
    forecast: dict[Any, Verdict] = {}
    for campaign, batch in by_group.values():
        for verdict in decisions(campaign, batch, cap_limits(campaign=campaign), now):
            forecast[verdict.message.pk] = verdict
    return forecast
