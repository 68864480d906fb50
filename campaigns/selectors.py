"""Reads of the campaigns domain shared by the API and the admin."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import CharField, Count, F, Min, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from campaigns import eligibility
from campaigns.caps import cap_limits, next_local_time
from campaigns.models import Campaign, Message, MessageStatus, Segment
from campaigns.parameters import parameter_fields, parameter_values, template_render_body
from campaigns.pricing import RateCard, RateCardError, cost_actual, cost_estimate, rate_card_current
from campaigns.segments import campaign_audience, segment_contacts
from campaigns.variants import CONTROL, group_case_sql, group_of
from consent.models import Contact
from whatsapp.account import messaging_limit_current
from whatsapp.numbers import number_get

SAMPLE_SIZE = 5

SENT_STATUSES = (MessageStatus.ACCEPTED, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
# Meta charges a message once it is delivered ("read" may come without "delivered").
CHARGED_STATUSES = (MessageStatus.DELIVERED, MessageStatus.READ)

# Report buckets: every message status falls in exactly one.
REPORT_BUCKETS = {
    MessageStatus.QUEUED: "queued",
    MessageStatus.SENDING: "queued",
    MessageStatus.ACCEPTED: "sent",
    MessageStatus.SENT: "sent",
    MessageStatus.DELIVERED: "delivered",
    MessageStatus.READ: "read",
    MessageStatus.FAILED: "failed",
    MessageStatus.SKIPPED: "skipped",
    MessageStatus.UNKNOWN: "unknown",
}


def segment_count(segment: Segment) -> int:
    """How many contacts match the segment now: one query."""
    return segment_contacts(segment.rules).count()


def segment_sample(segment: Segment, *, size: int = SAMPLE_SIZE) -> list[Contact]:
    return list(segment_contacts(segment.rules).order_by("pk")[:size])


def follow_up_audience_count(campaign: Campaign) -> int:
    """How many people a follow-up would reach if it started now (its audience is read again at launch)."""
    return campaign_audience(campaign).count()


def follow_up_audience_sample(campaign: Campaign, *, size: int = SAMPLE_SIZE) -> list[Contact]:
    return list(campaign_audience(campaign).order_by("pk")[:size])


def campaign_report(campaign: Campaign) -> dict[str, Any]:
    """Counts by outcome (``queued`` includes deferred and in-flight), skip reasons and error codes."""
    counts = dict.fromkeys(["queued", "sent", "delivered", "read", "failed", "skipped", "unknown"], 0)
    messages = Message.objects.filter(campaign=campaign)
    for status, n in messages.order_by().values_list("status").annotate(n=Count("pk")):
        counts[REPORT_BUCKETS[status]] += n
    skipped = dict(
        messages.filter(status=MessageStatus.SKIPPED).order_by().values_list("skip_reason").annotate(n=Count("pk"))
    )
    failed = {
        str(code) if code is not None else "none": n
        for code, n in messages.filter(status=MessageStatus.FAILED).order_by().values_list("error_code").annotate(n=Count("pk"))
    }
    held_back = messages.filter(status=MessageStatus.QUEUED, decision__has_key="held_back", send_after__isnull=False)
    held = held_back.aggregate(n=Count("pk"), first=Min("send_after"))
    by_pricing = dict(
        messages.filter(status__in=SENT_STATUSES).exclude(pricing_category="").order_by()
        .values_list("pricing_category").annotate(n=Count("pk"))
    )  # fmt: skip
    return {
        "status": campaign.status,
        "status_reason": campaign.status_reason,
        "counts": counts,
        "skipped_by_reason": skipped,
        "failed_by_code": failed,
        # 131049: waiting for their one retry (the earliest retry time shown).
        "held_back": {"count": held["n"], "retry_on": held["first"].isoformat() if held["first"] else None},
        "sent_by_pricing_category": by_pricing,
    }


def campaign_cost(campaign: Campaign) -> dict[str, Any]:
    """The delivered messages priced with the rate card by the category and type their statuses report.

    Apart from ``campaign_report``: its join with the contacts (their countries) is the costliest
    figure, so the live page's progress poll, which reads the report, does without it.
    """
    card, cost_error = _rate_card()
    cost = None
    if card is not None:
        priced = (
            Message.objects.filter(campaign=campaign, status__in=CHARGED_STATUSES).exclude(pricing_category="").order_by()
            .values_list("contact__country", "pricing_category", "pricing_type", "pricing_billable").annotate(n=Count("pk"))
        )  # fmt: skip
        cost = cost_actual(card, priced).as_dict()
    return {"cost": cost, "cost_error": cost_error}


def _rate_card() -> tuple[RateCard | None, str]:
    """The rate card, or why there is none (a file broken since start-up): figures show the error, never fail."""
    try:
        return rate_card_current(), ""
    except RateCardError as exc:
        return None, f"Cost not computed: {exc}"


def messaging_limit_used(now: datetime) -> int:
    """Campaign messages dispatched today (UTC): what the sender counts against the messaging limit."""
    day_start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return Message.objects.filter(kind=Message.Kind.CAMPAIGN, dispatched_at__gte=day_start).count()


@dataclass
class DryRun:
    audience: int
    eligible: int
    exclusions: dict[str, int]
    held_out: int = 0  # the hold-out's share of those who would otherwise be messaged: never sent, never charged
    samples: list[dict[str, Any]] = field(default_factory=list)
    estimated_duration_seconds: float = 0.0
    send_rate_per_second: float = 0.0
    messaging_limit: int = 0
    warnings: list[str] = field(default_factory=list)
    messaging_tier: str = ""
    days_needed: int = 1  # the messaging limit spreads a larger audience over this many days
    messaging_headroom: int | None = None  # people the limit still allows today; None: no limit
    estimated_cost: dict[str, Any] | None = None  # pricing.Cost.as_dict() of the people who would get it

    def as_dict(self) -> dict[str, Any]:
        return {
            "audience": self.audience,
            "eligible": self.eligible,
            "exclusions": self.exclusions,
            "held_out": self.held_out,
            "samples": self.samples,
            "estimated_duration_seconds": round(self.estimated_duration_seconds, 1),
            "send_rate_per_second": self.send_rate_per_second,
            "messaging_limit": self.messaging_limit,
            "messaging_tier": self.messaging_tier,
            "days_needed": self.days_needed,
            "messaging_headroom": self.messaging_headroom,
            "estimated_cost": self.estimated_cost,
            "warnings": self.warnings,
        }


def messaging_limit_daily() -> tuple[int, str]:
    """The account's messaging limit (people per 24 hours) and tier: what Meta last said, the
    WHATSAPP_MESSAGING_LIMIT setting until it said anything."""
    reported = messaging_limit_current()
    if reported is None:
        return settings.WHATSAPP_MESSAGING_LIMIT, ""
    return reported.daily_limit or 0, reported.tier


def _held_out_by_verdict(sendable: QuerySet[Any], campaign: Campaign) -> list[tuple[str, str, int]]:
    """(verdict, country, people) of the hold-out among ``sendable``: placed as materialisation places them."""
    if campaign.control_percent <= 0:
        return []
    if connection.vendor == "postgresql":
        group_sql, params = group_case_sql(campaign, f'"{Contact._meta.db_table}"."id"')
        held = sendable.annotate(group=RawSQL(group_sql, params, output_field=CharField())).filter(group=CONTROL)
        return list(held.values_list("verdict", "country").annotate(n=Count("pk")).order_by())
    held_out: Counter[tuple[str, str]] = Counter(
        (verdict, country) for pk, verdict, country in sendable.values_list("pk", "verdict", "country") if group_of(campaign, pk) == CONTROL
    )  # SQLite (development) has no md5(): placed in Python, as its materialisation does
    return [(verdict, country, n) for (verdict, country), n in held_out.items()]


def campaign_dry_run(campaign: Campaign) -> DryRun:
    """What sending now would do, with the same checks the sender makes, counted in SQL.

    ``quiet_hours_deferral`` and ``frequency_cap`` recipients are deferred, not dropped: they are
    messaged once allowed (unless the campaign ends first). The hold-out is never messaged: its
    people are counted in ``held_out``, not among the eligible, the deferred or the cost.
    """
    now = timezone.now()
    template = campaign.template_chosen()
    audience_qs = campaign_audience(campaign).order_by()
    zones = list(audience_qs.values_list("time_zone", flat=True).distinct())
    annotated = eligibility.eligibility_annotate(
        audience_qs, campaign=campaign, limits=cap_limits(campaign=campaign), now=now, zones=zones
    )
    by_reason: Counter[str] = Counter()
    sendable_by_country: Counter[str] = Counter()  # the eligible and the deferred: all will be messaged
    for verdict, country, n in annotated.values_list("verdict", "country").annotate(n=Count("pk")):
        by_reason[verdict] += n
        if verdict == eligibility.ELIGIBLE or verdict in eligibility.DEFER_REASONS:
            sendable_by_country[country] += n
    held_out = 0
    sendable_verdicts = [eligibility.ELIGIBLE, *eligibility.DEFER_REASONS]
    for verdict, country, n in _held_out_by_verdict(annotated.filter(verdict__in=sendable_verdicts), campaign):
        by_reason[verdict] -= n
        sendable_by_country[country] -= n
        held_out += n
    exclusions = {reason: by_reason.get(reason, 0) for reason in eligibility.EXCLUSION_REASONS}
    eligible = by_reason.get(eligibility.ELIGIBLE, 0)
    audience = sum(by_reason.values()) + held_out
    value_fields = parameter_fields(campaign.parameters)
    samples = [
        {
            "contact": row["pk"],
            "body": template_render_body(template, parameter_values(campaign.parameters, row)),
        }
        for row in annotated.filter(verdict__in=[eligibility.ELIGIBLE, *eligibility.DEFER_REASONS])
        .order_by("pk")
        .values("pk", *value_fields)[:SAMPLE_SIZE]
    ]
    number = number_get(campaign.phone_number_id)  # each number sends at its own throughput
    rate = number.throughput if number is not None and number.throughput > 0 else float(settings.CAMPAIGN_SEND_RATE)
    sendable = eligible + exclusions[eligibility.QUIET_HOURS] + exclusions[eligibility.FREQUENCY_CAP]
    warnings = []
    if not template.is_sendable:
        warnings.append(f"Template {template} is {template.get_status_display().lower()}: nothing can be sent.")
    if number is None:
        warnings.append(f"The sending number {campaign.phone_number_id} is not one of ours (any more): nothing can be sent.")
    limit, tier = messaging_limit_daily()  # one limit for all our numbers: Meta sets it per business portfolio
    days_needed = -(-sendable // limit) if limit and sendable else 1
    headroom = max(limit - messaging_limit_used(now), 0) if limit else None
    if days_needed > 1:
        warnings.append(
            f"{sendable} recipients exceed the account's messaging limit of {limit} people per 24 hours, shared by all its numbers"
            f"{f' ({tier})' if tier else ''}: the campaign is spread over {days_needed} days, "
            "the messages beyond each day's limit waiting for the next day."
        )
    card, cost_error = _rate_card()
    estimated_cost = None
    if card is None:
        warnings.append(cost_error)
    else:
        cost = cost_estimate(card, people_by_country=sendable_by_country, category=template.category)
        estimated_cost = cost.as_dict()
        if cost.unpriced:
            warnings.append(f"{cost.unpriced} recipients are in countries the rate card ({card.source}) has no rate for: the estimated cost leaves them out.")
    return DryRun(
        audience=audience,
        eligible=eligible,
        exclusions=exclusions,
        held_out=held_out,
        samples=samples,
        estimated_duration_seconds=eligible / rate,
        send_rate_per_second=rate,
        messaging_limit=limit,
        messaging_tier=tier,
        days_needed=days_needed,
        messaging_headroom=headroom,
        estimated_cost=estimated_cost,
        warnings=warnings,
    )


# Why people of a segment are not messaged, as the pre-submit warning names them.
_NOT_MESSAGED = {
    eligibility.NO_CONSENT: "never opted in", eligibility.OPTED_OUT: "opted out",
    eligibility.SUPPRESSED: "on the do-not-message list", eligibility.INVALID_NUMBER: "without a valid number",
    eligibility.US_MARKETING_BLOCKED: "US numbers (no marketing templates there)",
    eligibility.MISSING_PARAMETER: "missing a template value that has no fallback",
}  # fmt: skip


def campaign_submit_warnings(campaign: Campaign) -> list[str]:
    """What the marketer should know before submitting: nobody would get it, the account's messaging
    limit spreads it over days, or frequency caps hold part of the audience back. Empty when nothing
    stands out (or the campaign has no template or segment yet)."""
    if campaign.template is None or campaign.segment is None:
        return []
    dry_run = campaign_dry_run(campaign)
    reachable = dry_run.eligible + sum(dry_run.exclusions[reason] for reason in eligibility.DEFER_REASONS)
    warnings = []
    if dry_run.audience == 0:
        warnings.append("No one is in this segment now: the campaign would send nothing.")
    elif reachable == 0:
        reasons = ", ".join(f"{n} {_NOT_MESSAGED[reason]}" for reason, n in dry_run.exclusions.items() if n and reason in _NOT_MESSAGED)
        warnings.append(f"None of the segment's {dry_run.audience} people can receive it now ({reasons}): the campaign would send nothing.")
    warnings += dry_run.warnings
    capped = dry_run.exclusions[eligibility.FREQUENCY_CAP]
    if capped:
        warnings.append(
            f"{capped} of them already had as many messages as the frequency caps allow: they get this one only "
            "once their cap allows it" + (", or not at all if the campaign gives up first." if campaign.expires_at else ".")
        )
    return warnings


ON_THE_SCHEDULE = (
    Campaign.Status.PENDING_APPROVAL, Campaign.Status.APPROVED, Campaign.Status.SCHEDULED,
    Campaign.Status.SENDING, Campaign.Status.PAUSED,
)  # fmt: skip


@dataclass
class ScheduleEntry:
    """A campaign on the schedule: when it starts and, with a local time, when that time comes in the
    first and the last of its recipients' time zones (the window in which it sends)."""

    campaign: Campaign
    starts_at: datetime | None  # None: as soon as it is approved
    window_start: datetime | None = None
    window_end: datetime | None = None
    first_zone: str = ""
    last_zone: str = ""
    zone_count: int = 0


def _local_time_window(campaign: Campaign, start: datetime) -> tuple[datetime, datetime, str, str, int] | None:
    """When the campaign's local time comes in each of its recipients' zones, earliest and latest."""
    assert campaign.local_time is not None
    if campaign.status in (Campaign.Status.SENDING, Campaign.Status.PAUSED):
        # Launched: each message already holds its moment.
        waiting = Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED, send_after__isnull=False)
        zone_names = list(waiting.values_list("contact__time_zone", flat=True).distinct())
    elif campaign.segment is not None:
        zone_names = list(segment_contacts(campaign.segment.rules).order_by().values_list("time_zone", flat=True).distinct())
    else:
        zone_names = []
    moments = sorted((next_local_time(name, start, campaign.local_time), name or "UTC") for name in set(zone_names))
    if not moments:
        return None
    return moments[0][0], moments[-1][0], moments[0][1], moments[-1][1], len(moments)


def campaign_schedule(*, now: datetime | None = None) -> list[ScheduleEntry]:
    """Campaigns waiting for approval, scheduled, sending or paused, in the order they start (those
    starting as soon as they are approved first); drafts with a start time too."""
    now = now or timezone.now()
    campaigns = (
        Campaign.objects.filter(Q(status__in=ON_THE_SCHEDULE) | Q(status=Campaign.Status.DRAFT, send_at__isnull=False))
        .select_related("template", "segment", "created_by")
        .order_by(F("send_at").asc(nulls_first=True), "pk")
    )
    entries = []
    for campaign in campaigns:
        starts_at = campaign.send_at or campaign.launched_at
        entry = ScheduleEntry(campaign=campaign, starts_at=starts_at)
        if campaign.local_time is not None:
            # Launched: the moment materialise counted from; not yet: its start, or now when that has passed.
            window = _local_time_window(campaign, campaign.launched_at or max(campaign.send_at or now, now))
            if window is not None:
                entry.window_start, entry.window_end, entry.first_zone, entry.last_zone, entry.zone_count = window
        entries.append(entry)
    return entries


def contact_messages(contact: Contact) -> QuerySet[Message]:
    """A person's messages, newest first, with the campaign and the decision behind each."""
    return Message.objects.filter(contact=contact).select_related("campaign").order_by("-created_at")
