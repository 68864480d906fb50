"""Who may receive a campaign's message right now, and why not: one SQL query for many contacts.

The dry run (whole audience, counted by reason) and the send-time check (one batch, under the
per-contact locks) use the same query, so what the dry run predicts is what the send does.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from campaigns.caps import CAP_COUNTED_Q, CapLimits, cap_windows, in_quiet_hours
from campaigns.models import Campaign, Message
from campaigns.parameters import parameter_expressions
from consent.models import ConsentState, ConsentStatus, Contact, Purpose
from consent.selectors import suppressed_q

if TYPE_CHECKING:  # django-stubs' helper, needed for type checking only
    from django_stubs_ext import WithAnnotations


class VerdictAnnotation(TypedDict):
    verdict: str  # ELIGIBLE or the reason

ELIGIBLE = "eligible"
INVALID_NUMBER = "invalid_number"
OPTED_OUT = "opted_out"
SUPPRESSED = "suppressed"
NO_CONSENT = "no_consent"
MISSING_PARAMETER = "missing_parameter"
FREQUENCY_CAP = "frequency_cap"
QUIET_HOURS = "quiet_hours_deferral"
# Meta does not deliver marketing templates to US numbers (+1 with a US area code) since 1 April 2025
# (https://www.twilio.com/docs/api/errors/63049, https://help.zoho.com/portal/en/kb/marketing-automation-2-0/faqs/marketing-campaigns/whatsapp/articles/what-is-the-pause-on-whatsapp-marketing-messages-for-us-numbers).
US_MARKETING_BLOCKED = "us_marketing_blocked"
# Set by the sender, not by this query: today's messaging limit is used up (waits for the next day),
# and a held-back message whose one retry came too late.
MESSAGING_LIMIT = "messaging_limit"
HELD_BACK_TOO_LATE = "held_back"

# Final reasons: the message is skipped. Deferrals wait until sending is allowed.
SKIP_REASONS = (INVALID_NUMBER, OPTED_OUT, SUPPRESSED, NO_CONSENT, US_MARKETING_BLOCKED, MISSING_PARAMETER)
DEFER_REASONS = (FREQUENCY_CAP, QUIET_HOURS)
EXCLUSION_REASONS = SKIP_REASONS + DEFER_REASONS

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"


def _per_zone(zones: list[str], values: dict[str, Any], output_field: Any) -> Case:
    """A value chosen by the contact's time zone; ``values[""]`` for any zone not listed."""
    return Case(
        *[When(time_zone=name, then=Value(values[name])) for name in zones],
        default=Value(values[""]),
        output_field=output_field,
    )


def _dispatched_since(ref: str) -> Coalesce:
    """How many marketing messages this contact was dispatched since the outer annotation ``ref``."""
    counted = (
        Message.objects.filter(CAP_COUNTED_Q, contact_id=OuterRef("pk"), is_marketing=True, dispatched_at__gte=OuterRef(ref))
        .order_by()
        .values("contact_id")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def eligibility_annotate(
    contacts: QuerySet[Contact], *, campaign: Campaign, limits: CapLimits, now: datetime, zones: list[str]
) -> QuerySet[WithAnnotations[Contact, VerdictAnnotation]]:
    """``contacts`` with ``verdict`` (ELIGIBLE or a reason), the consent event relied on, the cap counts
    and the parameter values (``param_<i>``). ``zones`` lists the time zones of these contacts.

    Whether marketing consent is needed follows the campaign's template category as stored now
    (a ``template_category_update`` changes it mid-campaign), never what it was at approval.
    """
    marketing = campaign.is_marketing
    states = ConsentState.objects.filter(contact_id=OuterRef("pk"), purpose__code=Purpose.MARKETING)
    zones = sorted(set(zones)) or ["UTC"]
    windows = {name: cap_windows(name, now) for name in zones}
    windows[""] = cap_windows("UTC", now)
    quiet_zones = [name for name in zones if in_quiet_hours(name, now, limits)]
    expressions = parameter_expressions(campaign.parameters or [])

    contacts = contacts.annotate(
        consent_status=Coalesce(Subquery(states.values("status")[:1]), Value(ConsentStatus.NONE)),
        consent_event_id=Subquery(states.values("last_event_id")[:1]),
        is_suppressed=suppressed_q(),
        day_start=_per_zone(zones, {k: v[0] for k, v in windows.items()}, DateTimeField()),
        week_start=_per_zone(zones, {k: v[1] for k, v in windows.items()}, DateTimeField()),
        **expressions,
    ).annotate(day_count=_dispatched_since("day_start"), week_count=_dispatched_since("week_start"))

    # Reachable by a valid number, or without one by a business-scoped user id (sent as ``recipient``).
    unreachable = Q(phone__isnull=True, bsuid__isnull=True) | (Q(phone__isnull=False) & ~Q(phone__regex=E164_PATTERN))
    rules: list[When] = [When(unreachable | Q(erased_at__isnull=False), then=Value(INVALID_NUMBER))]
    if marketing:
        rules.append(When(consent_status=ConsentStatus.OPTED_OUT, then=Value(OPTED_OUT)))
    rules.append(When(is_suppressed=True, then=Value(SUPPRESSED)))
    if marketing:
        rules.append(When(~Q(consent_status=ConsentStatus.OPTED_IN), then=Value(NO_CONSENT)))
        rules.append(When(country="US", then=Value(US_MARKETING_BLOCKED)))
    if expressions:
        missing = Q()
        for name in expressions:
            missing |= Q(**{f"{name}__isnull": True})
        rules.append(When(missing, then=Value(MISSING_PARAMETER)))
    if marketing:
        rules.append(When(Q(day_count__gte=limits.max_per_day) | Q(week_count__gte=limits.max_per_week), then=Value(FREQUENCY_CAP)))
        if quiet_zones:
            rules.append(When(time_zone__in=quiet_zones, then=Value(QUIET_HOURS)))
    return contacts.annotate(verdict=Case(*rules, default=Value(ELIGIBLE), output_field=CharField()))
