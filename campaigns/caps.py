"""Frequency caps and quiet hours, counted in each contact's own time zone.

Days are local calendar days: the daily cap counts marketing messages dispatched since the contact's
local midnight, the 7-day cap those since local midnight six days ago. Quiet hours are a local time
range that may wrap past midnight (21:00-09:00).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Q

from campaigns.models import Campaign, FrequencyCapPolicy, MessageStatus

WEEK_DAYS = 7

# A dispatched message counts toward the caps unless we know it never left: a failure answered
# by the API before acceptance carries no wamid.
CAP_COUNTED_Q = Q(
    status__in=[
        MessageStatus.SENDING,
        MessageStatus.UNKNOWN,
        MessageStatus.ACCEPTED,
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.READ,
    ]
) | Q(status=MessageStatus.FAILED, wamid__isnull=False)


@dataclass(frozen=True)
class CapLimits:
    max_per_day: int
    max_per_week: int
    quiet_start: time
    quiet_end: time

    @property
    def has_quiet_hours(self) -> bool:
        return self.quiet_start != self.quiet_end


def cap_limits(*, campaign: Campaign | None = None, policy: FrequencyCapPolicy | None = None) -> CapLimits:
    """The global policy, narrowed by the campaign's own (stricter) caps."""
    policy = policy or FrequencyCapPolicy.current()
    per_day, per_week = policy.max_per_day, policy.max_per_week
    if campaign is not None:
        if campaign.max_per_day is not None:
            per_day = min(per_day, campaign.max_per_day)
        if campaign.max_per_week is not None:
            per_week = min(per_week, campaign.max_per_week)
    return CapLimits(per_day, per_week, policy.quiet_hours_start, policy.quiet_hours_end)


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The time zone called ``name``; UTC for an empty or unknown name (never fails a send)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_midnight(zone_name: str, day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=zone(zone_name))


def cap_windows(zone_name: str, now: datetime) -> tuple[datetime, datetime]:
    """Start of the contact's local today and of the 7-day window (today and the 6 days before)."""
    today = now.astimezone(zone(zone_name)).date()
    return local_midnight(zone_name, today), local_midnight(zone_name, today - timedelta(days=WEEK_DAYS - 1))


def cap_release_time(zone_name: str, now: datetime, limits: CapLimits, dispatched: list[datetime]) -> datetime | None:
    """When the caps allow the next message, given this contact's dispatch times; None if allowed now."""
    local_zone = zone(zone_name)
    today = now.astimezone(local_zone).date()
    days = sorted((moment.astimezone(local_zone).date() for moment in dispatched), reverse=True)
    release: date | None = None
    if sum(1 for day in days if day == today) >= limits.max_per_day:
        release = today + timedelta(days=1)
    in_week = [day for day in days if day > today - timedelta(days=WEEK_DAYS)]
    if len(in_week) >= limits.max_per_week:
        # The window drops the limit-th newest day once it lies 7 days back.
        week_release = in_week[limits.max_per_week - 1] + timedelta(days=WEEK_DAYS)
        release = max(release, week_release) if release else week_release
    return local_midnight(zone_name, release) if release else None


def in_quiet_hours(zone_name: str, now: datetime, limits: CapLimits) -> bool:
    if not limits.has_quiet_hours:
        return False
    local = now.astimezone(zone(zone_name)).time()
    if limits.quiet_start < limits.quiet_end:
        return limits.quiet_start <= local < limits.quiet_end
    return local >= limits.quiet_start or local < limits.quiet_end


def quiet_hours_end(zone_name: str, now: datetime, limits: CapLimits) -> datetime | None:
    """The next local time sending is allowed again, or None when ``now`` is outside quiet hours."""
    if not in_quiet_hours(zone_name, now, limits):
        return None
    local_now = now.astimezone(zone(zone_name))
    day = local_now.date()
    if local_now.time() >= limits.quiet_end:  # evening part of a range that wraps past midnight
        day += timedelta(days=1)
    return datetime.combine(day, limits.quiet_end, tzinfo=zone(zone_name))


def next_local_time(zone_name: str, start: datetime, at: time) -> datetime:
    """The first moment on or after ``start`` when it is ``at`` o'clock in ``zone_name``."""
    local_start = start.astimezone(zone(zone_name))
    candidate = datetime.combine(local_start.date(), at, tzinfo=zone(zone_name))
    if candidate < start:
        candidate = datetime.combine(local_start.date() + timedelta(days=1), at, tzinfo=zone(zone_name))
    return candidate
