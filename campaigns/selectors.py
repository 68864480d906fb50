"""Reads of the campaigns domain shared by the API and the admin."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from campaigns import eligibility
from campaigns.caps import cap_limits
from campaigns.models import Campaign, Message, MessageStatus, Segment
from campaigns.parameters import parameter_fields, parameter_values, template_render_body
from campaigns.segments import segment_contacts
from consent.models import Contact
from whatsapp.account import messaging_limit_current
from whatsapp.numbers import number_get

SAMPLE_SIZE = 5

SENT_STATUSES = (MessageStatus.ACCEPTED, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)

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


@dataclass
class DryRun:
    audience: int
    eligible: int
    exclusions: dict[str, int]
    samples: list[dict[str, Any]] = field(default_factory=list)
    estimated_duration_seconds: float = 0.0
    send_rate_per_second: float = 0.0
    messaging_limit: int = 0
    warnings: list[str] = field(default_factory=list)
    messaging_tier: str = ""
    days_needed: int = 1  # the messaging limit spreads a larger audience over this many days

    def as_dict(self) -> dict[str, Any]:
        return {
            "audience": self.audience,
            "eligible": self.eligible,
            "exclusions": self.exclusions,
            "samples": self.samples,
            "estimated_duration_seconds": round(self.estimated_duration_seconds, 1),
            "send_rate_per_second": self.send_rate_per_second,
            "messaging_limit": self.messaging_limit,
            "messaging_tier": self.messaging_tier,
            "days_needed": self.days_needed,
            "warnings": self.warnings,
        }


def campaign_dry_run(campaign: Campaign) -> DryRun:
    """What sending now would do, with the same checks the sender makes, counted in SQL.

    ``quiet_hours_deferral`` and ``frequency_cap`` recipients are deferred, not dropped: they are
    messaged once allowed (unless the campaign ends first).
    """
    now = timezone.now()
    template = campaign.template_chosen()
    audience_qs = segment_contacts(campaign.segment_chosen().rules).order_by()
    zones = list(audience_qs.values_list("time_zone", flat=True).distinct())
    annotated = eligibility.eligibility_annotate(
        audience_qs, campaign=campaign, limits=cap_limits(campaign=campaign), now=now, zones=zones
    )
    by_reason = dict(annotated.values_list("verdict").annotate(n=Count("pk")))
    exclusions = {reason: by_reason.get(reason, 0) for reason in eligibility.EXCLUSION_REASONS}
    eligible = by_reason.get(eligibility.ELIGIBLE, 0)
    audience = sum(by_reason.values())
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
    # One limit for all our numbers: Meta sets it per business portfolio (whatsapp.account).
    reported = messaging_limit_current()  # what Meta last said; the setting until it said anything
    tier = reported.tier if reported else ""
    limit = (reported.daily_limit or 0) if reported else settings.WHATSAPP_MESSAGING_LIMIT
    days_needed = -(-sendable // limit) if limit and sendable else 1
    if days_needed > 1:
        warnings.append(
            f"{sendable} recipients exceed the account's messaging limit of {limit} people per 24 hours, shared by all its numbers"
            f"{f' ({tier})' if tier else ''}: the campaign is spread over {days_needed} days, "
            "the messages beyond each day's limit waiting for the next day."
        )
    return DryRun(
        audience=audience,
        eligible=eligible,
        exclusions=exclusions,
        samples=samples,
        estimated_duration_seconds=eligible / rate,
        send_rate_per_second=rate,
        messaging_limit=limit,
        messaging_tier=tier,
        days_needed=days_needed,
        warnings=warnings,
    )


def contact_messages(contact: Contact) -> QuerySet[Message]:
    """A person's messages, newest first, with the campaign and the decision behind each."""
    return Message.objects.filter(contact=contact).select_related("campaign").order_by("-created_at")
