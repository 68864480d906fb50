"""Figures for the admin pages: a campaign's progress while it sends, its funnel and time series,
and the dashboard. Reads only.

Every query is bounded by an index, so the pages stay fast with a million contacts and campaigns of
100,000 recipients:

- a campaign's messages through the (campaign, status) index, counted by status;
- rows attributed to a campaign (opt-outs, replies) from the other side: the ledger and the inbox
  rows recorded in the campaign's period, found by primary-key range (``first_id_since``), each
  matched to the campaign's message through the one-message-per-(campaign, contact) index;
- time series grouped in the database, never loaded row by row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.core.cache import cache
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    Min,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Trunc, TruncDate
from django.utils import timezone

from campaigns.caps import cap_limits
from campaigns.models import Campaign, Click, Message, MessageStatus
from campaigns.variants import CONTROL
from consent.models import ConsentAction, ConsentEvent, ConsentState, ConsentStatus, Purpose
from whatsapp.models import MessageTemplate

# An opt-out or a reply this soon after a campaign's message counts toward that campaign.
ATTRIBUTION_WINDOW = timedelta(hours=72)
# The live rate is measured over this many seconds of progress samples.
RATE_WINDOW_SECONDS = 30

# Plain words for why a person was skipped or deferred (campaigns.eligibility's reasons, and the sender's).
REASON_LABELS = {
    "eligible": "Eligible",
    "invalid_number": "Number missing or not valid",
    "opted_out": "Opted out",
    "suppressed": "Number on the do-not-message list",
    "no_consent": "Never opted in",
    "missing_parameter": "A template value is empty and has no fallback",
    "frequency_cap": "Frequency cap reached (waits)",
    "quiet_hours_deferral": "Quiet hours where they live (waits)",
    "cancelled": "Campaign cancelled",
    "expired": "Still waiting when the campaign ended",
    "us_marketing_blocked": "US number: WhatsApp delivers no marketing templates to the US",
    "messaging_limit": "The account's daily messaging limit is used up (waits for the next day)",
    "held_back": "Held back by WhatsApp; its one retry came too late",
    "control group": "Hold-out (control group): never messaged, for comparison",
}
# A 131049 waiting for its one retry, on the results page.
HELD_BACK_LABEL = "Held back by WhatsApp, retrying on {date}"

SENT_STATUSES = (MessageStatus.ACCEPTED, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
WAITING_STATUSES = (MessageStatus.QUEUED, MessageStatus.SENDING)


def first_id_since(model: type[Model], time_field: str, moment: datetime) -> int | None:
    """The smallest id of a row recorded at or after ``moment``; None if there is none.

    For append-only tables whose ids grow with their recording time (the consent ledger, the
    inbox, clicks) but that have no index on that time: a binary search of primary-key lookups,
    about log2(rows) of them, instead of a scan of the whole table. The answer is kept in the
    cache and checked again with two lookups, so a page shown again costs the same for any size.
    """
    key = f"retarget:first-id:{model._meta.db_table}:{time_field}:{moment.timestamp()}"
    cached = cache.get(key)
    if cached is not None and _is_first_since(model, time_field, moment, cached):
        return cached
    bounds = model._default_manager.aggregate(lo=Min("pk"), hi=Max("pk"))
    lo, hi = bounds["lo"], bounds["hi"]
    if lo is None or model._default_manager.filter(pk=hi).values_list(time_field, flat=True)[0] < moment:
        return None  # nothing recorded since (e.g. a moment still to come)
    found = None
    while lo <= hi:
        mid = (lo + hi) // 2
        row = model._default_manager.filter(pk__gte=mid, pk__lte=hi).order_by("pk").values_list("pk", time_field).first()
        if row is None:
            hi = mid - 1
        elif row[1] >= moment:
            found, hi = row[0], mid - 1
        else:
            lo = row[0] + 1
    cache.set(key, found, timeout=24 * 3600)
    return found


def _is_first_since(model: type[Model], time_field: str, moment: datetime, pk: int) -> bool:
    at = model._default_manager.filter(pk=pk).values_list(time_field, flat=True).first()
    before = model._default_manager.filter(pk__lt=pk).order_by("-pk").values_list(time_field, flat=True).first()
    return at is not None and at >= moment and (before is None or before < moment)


def _recorded_between(model: type[Model], time_field: str, start: datetime, end: datetime) -> Q | None:
    """A primary-key range condition for rows recorded in [start, end); None when there are none."""
    first = first_id_since(model, time_field, start)
    if first is None:
        return None
    after = first_id_since(model, time_field, end)
    return Q(pk__gte=first) & (Q(pk__lt=after) if after is not None else Q())


def _status_counts(campaign: Campaign) -> dict[str, int]:
    rows = Message.objects.filter(campaign=campaign).order_by().values_list("status").annotate(n=Count("pk"))
    return {status: n for status, n in rows}


# --- progress while sending -----------------------------------------------------------------------


@dataclass(frozen=True)
class Deferral:
    """Queued messages that wait for a time, grouped by why: quiet hours, caps, the daily limit, a hold-back."""

    reason: str
    count: int
    first_at: datetime  # the earliest of them may go then
    last_at: datetime
    text: str


def _local(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%d %b %H:%M %Z}"


def campaign_deferrals(campaign: Campaign, now: datetime | None = None) -> list[Deferral]:
    """Why the campaign's waiting messages wait: one grouped query over its queued, deferred messages."""
    now = now or timezone.now()
    rows = (
        Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED, send_after__gt=now)
        .annotate(
            why=Case(
                When(decision__has_key="held_back", then=Value("held_back")),
                default=KT("decision__reason"),
                output_field=CharField(),
            )
        )
        .order_by()
        .values("why")
        .annotate(n=Count("pk"), first=Min("send_after"), last=Max("send_after"))
    )
    found = sorted(rows, key=lambda row: (-row["n"], row["why"] or ""))
    if not found:
        return []
    quiet_end = cap_limits(campaign=campaign).quiet_end
    deferrals = []
    for row in found:
        n, why = row["n"], row["why"] or ""
        if why == "quiet_hours_deferral":
            text = f"{n} waiting for quiet hours to end at {quiet_end:%H:%M} in the recipient's time zone"
        elif why == "frequency_cap":
            text = f"{n} waiting for the frequency cap to allow another message (the first from {_local(row['first'])})"
        elif why == "messaging_limit":
            text = f"{n} waiting for tomorrow: the account's daily messaging limit is used up (from {_local(row['first'])})"
        elif why == "held_back":
            text = f"{n} held back by WhatsApp, retrying from {_local(row['first'])}"
        else:
            text = f"{n} waiting until {_local(row['first'])}"
        deferrals.append(Deferral(why, n, row["first"], row["last"], text))
    return deferrals


@dataclass
class Progress:
    status: str
    status_label: str
    status_reason: str
    total: int
    sent: int
    skipped: int
    failed: int
    unknown: int
    waiting: int
    rate_per_second: float | None
    eta_seconds: int | None
    deferrals: list[Deferral] = field(default_factory=list)

    @property
    def deferred(self) -> int:
        return sum(d.count for d in self.deferrals)

    @property
    def done(self) -> int:
        return self.total - self.waiting

    @property
    def eta_text(self) -> str:
        return duration_text(self.eta_seconds)

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else (100 if self.status == Campaign.Status.COMPLETED else 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status, "status_label": self.status_label, "status_reason": self.status_reason,
            "total": self.total, "done": self.done, "sent": self.sent, "skipped": self.skipped, "failed": self.failed,
            "unknown": self.unknown, "waiting": self.waiting, "percent": self.percent,
            "rate_per_second": self.rate_per_second, "eta_seconds": self.eta_seconds, "eta_text": self.eta_text,
            "deferred": self.deferred, "ready": self.waiting - self.deferred,
            "deferrals": [
                {"reason": d.reason, "count": d.count, "first_at": d.first_at.isoformat(), "last_at": d.last_at.isoformat(), "text": d.text}
                for d in self.deferrals
            ],
        }  # fmt: skip


def duration_text(seconds: int | None) -> str:
    """A time left in words a person reads at a glance: 45 s, 12 min, 2.5 h."""
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _live_rate(campaign: Campaign, done: int) -> float | None:
    """Messages handled per second over the last RATE_WINDOW_SECONDS, from samples every viewer adds.

    The samples live in the shared cache, so the rate costs no query; before there are two
    samples a few seconds apart, the average since launch stands in.
    """
    now = time.time()
    launched = campaign.launched_at.timestamp() if campaign.launched_at else 0
    key = f"retarget:campaign-progress:{campaign.pk}:{launched}"
    samples = [s for s in cache.get(key) or [] if now - s[0] <= RATE_WINDOW_SECONDS]
    samples.append((now, done))
    cache.set(key, samples[-60:], timeout=RATE_WINDOW_SECONDS * 4)
    first_time, first_done = samples[0]
    if now - first_time >= 1.5:
        return max(done - first_done, 0) / (now - first_time)
    if campaign.launched_at:
        elapsed = (timezone.now() - campaign.launched_at).total_seconds()
        return done / elapsed if elapsed >= 1 else None
    return None


def campaign_progress(campaign: Campaign) -> Progress:
    """Where a campaign stands: one grouped count over its (campaign, status) index."""
    counts = _status_counts(campaign)
    total = sum(counts.values())
    waiting = sum(counts.get(s, 0) for s in WAITING_STATUSES)
    now = timezone.now()
    deferrals = campaign_deferrals(campaign, now) if counts.get(MessageStatus.QUEUED) else []
    # Deferred messages go at their time, whatever the rate: the rate sends the rest, and the time
    # left is whichever ends later.
    ready = waiting - sum(d.count for d in deferrals)
    rate = None
    if campaign.status == Campaign.Status.SENDING:
        rate = _live_rate(campaign, total - waiting)
    eta = int(ready / rate) if rate and ready else None
    if deferrals:
        until_last = int((max(d.last_at for d in deferrals) - now).total_seconds())
        eta = max(eta or 0, until_last)
    return Progress(
        status=campaign.status,
        status_label=campaign.get_status_display(),
        status_reason=campaign.status_reason,
        total=total,
        sent=sum(counts.get(s, 0) for s in SENT_STATUSES),
        skipped=counts.get(MessageStatus.SKIPPED, 0),
        failed=counts.get(MessageStatus.FAILED, 0),
        unknown=counts.get(MessageStatus.UNKNOWN, 0),
        waiting=waiting,
        rate_per_second=round(rate, 1) if rate is not None else None,
        eta_seconds=eta,
        deferrals=deferrals,
    )


# --- results: the funnel ---------------------------------------------------------------------------


@dataclass
class Funnel:
    targeted: int
    waiting: int
    skipped: dict[str, int]
    sent: int
    delivered: int
    read: int
    clicked: int
    clicks: int
    replied: int
    opted_out: int
    failed: dict[str, int]
    unknown: int

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())

    def steps(self) -> list[tuple[str, int, int]]:
        """(label, count, percent of targeted) for the funnel's main line."""
        rows = [
            ("Targeted", self.targeted), ("Sent", self.sent), ("Delivered", self.delivered), ("Read", self.read),
            ("Clicked", self.clicked), ("Replied", self.replied), ("Opted out", self.opted_out),
        ]  # fmt: skip
        return [(label, n, round(100 * n / self.targeted) if self.targeted else 0) for label, n in rows]


def campaign_clicks(campaign: Campaign) -> dict[str, int]:
    """Total clicks on the campaign's tracked link, and unique ones (messages clicked at least once)."""
    return Click.objects.filter(message__campaign=campaign).aggregate(total=Count("pk"), unique=Count("message", distinct=True))


def _period(campaign: Campaign) -> tuple[datetime, datetime] | None:
    if campaign.launched_at is None:
        return None
    return campaign.launched_at, (campaign.completed_at or timezone.now()) + ATTRIBUTION_WINDOW


def _answered_message(campaign: Campaign, moment_ref: str, variant: str | None = None) -> Exists:
    """The campaign sent the person (OuterRef ``contact_id``) a message in the window before ``moment_ref``.

    With ``variant``, only that A/B group's messages; the hold-out (``control``), never sent, counts
    from when its row was made, the moment it would have been sent.
    """
    since = "created_at" if variant == CONTROL else "accepted_at"
    messages = Message.objects.filter(
        campaign=campaign, kind=Message.Kind.CAMPAIGN, contact_id=OuterRef("contact_id"),
        **{f"{since}__lte": OuterRef(moment_ref), f"{since}__gte": OuterRef(moment_ref) - ATTRIBUTION_WINDOW},
    )  # fmt: skip
    return Exists(messages.filter(variant=variant) if variant is not None else messages)


def people_answering(campaign: Campaign, rows: QuerySet, *, recorded_field: str, moment_field: str, variant: str | None = None) -> int:
    """People with one of ``rows`` (a queryset with a ``contact``) within ATTRIBUTION_WINDOW after the
    campaign messaged them (only those of one A/B group with ``variant``). ``recorded_field`` is when we
    stored the row (ids grow with it, see ``first_id_since``); ``moment_field`` is when the person acted.
    """
    period = _period(campaign)
    recorded = period and _recorded_between(rows.model, recorded_field, *period)
    if not recorded:
        return 0
    return rows.filter(recorded).filter(_answered_message(campaign, moment_field, variant)).values("contact_id").distinct().count()


def campaign_opt_outs(campaign: Campaign, variant: str | None = None) -> int:
    """People who opted out of marketing within ATTRIBUTION_WINDOW after the campaign messaged them."""
    events = ConsentEvent.objects.filter(action=ConsentAction.OPT_OUT, purpose__code=Purpose.MARKETING)
    return people_answering(campaign, events, recorded_field="recorded_at", moment_field="recorded_at", variant=variant)


# Replies are the conversations app's rows, a layer above this one: it registers how to count them
# (conversations/apps.py). With no app recording what people write, nobody replied.
_reply_counter: Callable[[Campaign, str | None], int] | None = None


def reply_counter_register(counter: Callable[[Campaign, str | None], int]) -> None:
    """Set how the people who replied to a campaign (or one of its A/B groups) are counted (see ``campaign_replies``)."""
    global _reply_counter
    _reply_counter = counter


def campaign_replies(campaign: Campaign, variant: str | None = None) -> int:
    """People who wrote back (anything but an opt-out keyword) within ATTRIBUTION_WINDOW of the message."""
    return _reply_counter(campaign, variant) if _reply_counter is not None else 0


def campaign_funnel(campaign: Campaign) -> Funnel:
    """Targeted, skipped by reason, sent, delivered, read, clicked, replied, opted out, failed by reason."""
    counts = _status_counts(campaign)
    messages = Message.objects.filter(campaign=campaign).order_by()
    skipped = dict(
        messages.filter(status=MessageStatus.SKIPPED).values_list("skip_reason").annotate(n=Count("pk")).order_by("-n")
    )
    failed: dict[str, int] = {}
    for code, title, n in (
        messages.filter(status=MessageStatus.FAILED).values_list("error_code", "error_title").annotate(n=Count("pk")).order_by("-n")
    ):
        label = f"{code}: {title}" if code is not None else (title or "no error code")
        failed[label] = failed.get(label, 0) + n
    clicks = campaign_clicks(campaign)
    return Funnel(
        targeted=sum(counts.values()),
        waiting=sum(counts.get(s, 0) for s in WAITING_STATUSES),
        skipped=skipped,
        sent=sum(counts.get(s, 0) for s in SENT_STATUSES),
        delivered=counts.get(MessageStatus.DELIVERED, 0) + counts.get(MessageStatus.READ, 0),
        read=counts.get(MessageStatus.READ, 0),
        clicked=clicks["unique"],
        clicks=clicks["total"],
        replied=campaign_replies(campaign),
        opted_out=campaign_opt_outs(campaign),
        failed=failed,
        unknown=counts.get(MessageStatus.UNKNOWN, 0),
    )


# --- results: sends and reads over time ------------------------------------------------------------


@dataclass
class TimeSeries:
    """Counts per time bucket, one list per series, on a common list of bucket starts."""

    unit: str  # minute, hour or day
    buckets: list[datetime]
    series: dict[str, list[int]] = field(default_factory=dict)


_UNITS = (("minute", timedelta(minutes=1), timedelta(hours=3)), ("hour", timedelta(hours=1), timedelta(days=7)))


def _unit_for(span: timedelta) -> tuple[str, timedelta]:
    for unit, step, up_to in _UNITS:
        if span <= up_to:
            return unit, step
    return "day", timedelta(days=1)


def _truncate(moment: datetime, unit: str) -> datetime:
    moment = moment.astimezone(timezone.get_current_timezone()).replace(second=0, microsecond=0)
    if unit in ("hour", "day"):
        moment = moment.replace(minute=0)
    if unit == "day":
        moment = moment.replace(hour=0)
    return moment


def campaign_time_series(campaign: Campaign) -> TimeSeries:
    """Messages sent and read per minute, hour or day (whichever suits the campaign's length)."""
    messages = Message.objects.filter(campaign=campaign).order_by()
    start = campaign.launched_at
    if start is None:
        return TimeSeries(unit="minute", buckets=[])
    end = max(campaign.completed_at or timezone.now(), start)
    unit, step = _unit_for(end - start)
    by_series: dict[str, dict[datetime, int]] = {}
    for name, time_field in (("sent", "dispatched_at"), ("read", "read_at")):
        rows = (
            messages.filter(**{f"{time_field}__isnull": False})
            .annotate(bucket=Trunc(time_field, unit))
            .values_list("bucket")
            .annotate(n=Count("pk"))
        )
        by_series[name] = {_truncate(bucket, unit): n for bucket, n in rows}
    moments = [m for counts in by_series.values() for m in counts]
    first = min([_truncate(start, unit), *moments])
    last = max([_truncate(end, unit), *moments])
    buckets: list[datetime] = []
    moment = first
    while moment <= last and len(buckets) < 500:
        buckets.append(moment)
        moment += step
    return TimeSeries(unit=unit, buckets=buckets, series={name: [counts.get(b, 0) for b in buckets] for name, counts in by_series.items()})


# --- per-recipient export ----------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "contact_id", "phone", "name", "variant", "status", "skip_reason", "error_code", "error_title",
    "dispatched_at", "accepted_at", "delivered_at", "read_at", "failed_at", "clicks",
)  # fmt: skip


def campaign_export_rows(campaign: Campaign, *, chunk_size: int = 2000):
    """Every recipient's outcome in EXPORT_COLUMNS order, streamed from the database in chunks
    (never all in memory), ordered by the one-message-per-(campaign, contact) index."""
    clicks = Click.objects.filter(message_id=OuterRef("pk")).order_by().values("message_id").annotate(n=Count("pk")).values("n")
    rows = (
        Message.objects.filter(campaign=campaign, kind=Message.Kind.CAMPAIGN)
        .order_by("contact_id")
        .annotate(
            export_phone=F("contact__phone"),
            export_name=F("contact__name"),
            export_clicks=Coalesce(Subquery(clicks, output_field=IntegerField()), 0),
        )
        .values_list(*[f"export_{c}" if c in ("phone", "name", "clicks") else c for c in EXPORT_COLUMNS])
    )
    yield from rows.iterator(chunk_size=chunk_size)


# --- the dashboard ---------------------------------------------------------------------------------

DASHBOARD_DAYS = 90
STATUS_DAYS = 30
RECENT_CAMPAIGNS = 10


@dataclass
class CampaignOptOutRate:
    campaign: Campaign
    sent: int
    opted_out: int

    @property
    def rate(self) -> float:
        return 100 * self.opted_out / self.sent if self.sent else 0.0


@dataclass
class Dashboard:
    opted_in_now: int
    opted_in_days: list[date]
    opted_in_series: list[int]
    opt_ins_per_day: list[int]
    opt_outs_per_day: list[int]
    campaign_opt_outs: list[CampaignOptOutRate]
    status_days: list[date]
    status_series: dict[str, list[int]]
    templates_by_status: list[tuple[str, int]]
    templates: list[MessageTemplate]
    computed_at: datetime


def _consent_per_day(days: list[date]) -> tuple[list[int], list[int]]:
    """Opt-ins and opt-outs of marketing recorded each day (ledger rows found by id range)."""
    start = timezone.make_aware(datetime.combine(days[0], datetime.min.time()))
    since = first_id_since(ConsentEvent, "recorded_at", start)
    per_day: dict[tuple[date, str], int] = {}
    if since is not None:
        rows = (
            ConsentEvent.objects.filter(pk__gte=since, purpose__code=Purpose.MARKETING)
            .annotate(day=TruncDate("recorded_at"))
            .order_by()
            .values_list("day", "action")
            .annotate(n=Count("pk"))
        )
        per_day = {(day, action): n for day, action, n in rows}
    return [per_day.get((d, ConsentAction.OPT_IN), 0) for d in days], [per_day.get((d, ConsentAction.OPT_OUT), 0) for d in days]


def _campaign_statuses_per_day(days: list[date]) -> dict[str, list[int]]:
    """Campaign messages by outcome, on the day their campaign started: counted per campaign by index."""
    start = timezone.make_aware(datetime.combine(days[0], datetime.min.time()))
    campaigns = dict(Campaign.objects.filter(launched_at__gte=start).values_list("pk", "launched_at"))
    series = {name: [0] * len(days) for name in ("sent", "delivered", "read", "failed", "skipped", "waiting")}
    bucket_of = {
        **{s: "sent" for s in (MessageStatus.ACCEPTED, MessageStatus.SENT, MessageStatus.UNKNOWN)},
        MessageStatus.DELIVERED: "delivered", MessageStatus.READ: "read", MessageStatus.FAILED: "failed",
        MessageStatus.SKIPPED: "skipped", MessageStatus.QUEUED: "waiting", MessageStatus.SENDING: "waiting",
    }  # fmt: skip
    index = {d: i for i, d in enumerate(days)}
    rows = (
        Message.objects.filter(campaign_id__in=list(campaigns)).order_by().values_list("campaign_id", "status").annotate(n=Count("pk"))
    )
    for campaign_id, status, n in rows:
        day = timezone.localdate(campaigns[campaign_id])
        if day in index:
            series[bucket_of[status]][index[day]] += n
    return series


def _dashboard_compute() -> Dashboard:
    today = timezone.localdate()
    days = [today - timedelta(days=n) for n in range(DASHBOARD_DAYS - 1, -1, -1)]
    opted_in_now = ConsentState.objects.filter(purpose__code=Purpose.MARKETING, status=ConsentStatus.OPTED_IN).count()
    opt_ins, opt_outs = _consent_per_day(days)
    # End-of-day totals, walked back from today's exact figure by each day's recorded changes.
    series = [0] * len(days)
    level = opted_in_now
    for i in range(len(days) - 1, -1, -1):
        series[i] = max(level, 0)
        level -= opt_ins[i] - opt_outs[i]
    recent = list(
        Campaign.objects.filter(launched_at__isnull=False).select_related("template").order_by("-launched_at")[:RECENT_CAMPAIGNS]
    )
    sent = dict(
        Message.objects.filter(campaign__in=recent, status__in=SENT_STATUSES).order_by().values_list("campaign_id").annotate(n=Count("pk"))
    )
    rates = [CampaignOptOutRate(campaign, sent.get(campaign.pk, 0), campaign_opt_outs(campaign)) for campaign in recent]
    status_days = days[-STATUS_DAYS:]
    return Dashboard(
        opted_in_now=opted_in_now,
        opted_in_days=days,
        opted_in_series=series,
        opt_ins_per_day=opt_ins,
        opt_outs_per_day=opt_outs,
        campaign_opt_outs=rates,
        status_days=status_days,
        status_series=_campaign_statuses_per_day(status_days),
        templates_by_status=list(
            MessageTemplate.objects.order_by().values_list("status").annotate(n=Count("pk")).order_by("-n", "status")
        ),
        templates=list(MessageTemplate.objects.order_by("status", "name", "language")[:50]),
        computed_at=timezone.now(),
    )


def dashboard() -> Dashboard:
    """The dashboard's figures, computed at most every DASHBOARD_CACHE_SECONDS (0: every time)."""
    seconds = settings.DASHBOARD_CACHE_SECONDS
    if not seconds:
        return _dashboard_compute()
    return cast(Dashboard, cache.get_or_set("retarget:dashboard", _dashboard_compute, timeout=seconds))
