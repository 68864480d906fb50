"""What a campaign earned: conversions and revenue per A/B group, and the lift over the hold-out.

Definitions (the report, the API and the tests all use these):

- A **group** is what a person was assigned at materialisation (``Message.variant``): a variant A-D,
  ``control`` (the hold-out, never messaged), or "" when the campaign has no A/B test.
- A **recipient** of a group is a campaign message row assigned to it, sent or not (intent to treat:
  the hold-out is never checked at send time, so the messaged groups count their skipped rows too).
- A **conversion** is a behaviour event named ``campaign.conversion_event`` that a recipient did within
  ``campaign.conversion_window_days`` days (inclusive) after their **touch**: for a messaged group the
  first of the message's read and its first click (nothing before either counts); for the hold-out the
  time its row was made, when it would have been sent.
- **converted**: recipients with at least one conversion; **conversions**: those events, all counted;
  **revenue**: the sum of their ``campaign.conversion_value_property`` values (JSON numbers, or strings
  holding a decimal number; anything else adds nothing).
- **conversion rate** = converted / recipients (None without recipients).
- **lift** of a messaged group over the hold-out = (its conversion rate - the hold-out's conversion
  rate) / the hold-out's conversion rate: 0.5 means half as many converted again as without a message.
  None without a hold-out or when nobody in it converted. ``messaged`` is all messaged groups together.

Each figure is one grouped query over the campaign's rows (the (campaign, status) index; events through
their (name, contact, occurred_at) index), never a query per person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, Least

from campaigns.analytics import SENT_STATUSES, campaign_opt_outs, campaign_replies
from campaigns.models import Campaign, Click, Message
from campaigns.variants import CONTROL, LABELS

# A value property counts when it reads as a decimal number.
_DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
MESSAGED = "messaged"
TABLE_ROWS = (
    ("recipients", "People"), ("sent", "Sent"), ("read", "Read"), ("clicked", "Clicked"), ("replied", "Replied"),
    ("opted_out", "Opted out"), ("converted", "Converted"), ("conversions", "Conversions"), ("revenue", "Revenue"),
    ("conversion_rate", "Conversion rate"), ("lift", "Lift over the hold-out"),
)  # fmt: skip


@dataclass
class GroupFigures:
    """One A/B group's outcome (see the module docstring for each figure)."""

    group: str
    recipients: int = 0
    sent: int = 0
    read: int = 0
    clicked: int = 0
    replied: int = 0
    opted_out: int = 0
    converted: int = 0
    conversions: int = 0
    revenue: Decimal = Decimal(0)
    lift: float | None = None

    @property
    def label(self) -> str:
        if self.group == CONTROL:
            return "Control (hold-out)"
        if self.group == MESSAGED:
            return "All messaged"
        return f"Variant {self.group}" if self.group else "Everyone messaged"

    @property
    def conversion_rate(self) -> float | None:
        return self.converted / self.recipients if self.recipients else None

    @property
    def conversion_rate_text(self) -> str:
        rate = self.conversion_rate
        return "–" if rate is None else f"{100 * rate:.1f}%"

    @property
    def lift_text(self) -> str:
        return "–" if self.lift is None else f"{100 * self.lift:+.1f}%"

    @property
    def is_control(self) -> bool:
        return self.group == CONTROL

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group, "label": self.label, "recipients": self.recipients, "sent": self.sent,
            "read": self.read, "clicked": self.clicked, "replied": self.replied, "opted_out": self.opted_out,
            "converted": self.converted, "conversions": self.conversions, "revenue": str(self.revenue),
            "conversion_rate": self.conversion_rate, "lift": self.lift,
        }  # fmt: skip


@dataclass
class CampaignEarnings:
    event: str
    value_property: str
    window_days: int
    groups: list[GroupFigures]  # variants in order (or the one messaged group), then the control group
    messaged: GroupFigures  # every messaged group together
    control: GroupFigures | None

    @property
    def revenue(self) -> Decimal:
        return self.messaged.revenue

    @property
    def has_groups(self) -> bool:
        return len(self.groups) > 1

    @property
    def columns(self) -> list[GroupFigures]:
        """The groups as the results page shows them side by side (all messaged together last)."""
        return [*self.groups, self.messaged] if self.has_groups else self.groups

    def table(self) -> list[tuple[str, str, list[str]]]:
        """(figure, label, one text per column) for the results page."""
        rows = []
        for name, label in TABLE_ROWS:
            texts = []
            for group in self.columns:
                if name == "conversion_rate":
                    texts.append(group.conversion_rate_text)
                elif name == "lift":
                    texts.append("–" if group.is_control else group.lift_text)
                else:
                    texts.append(str(getattr(group, name)))
            if name != "lift" or self.control is not None:
                rows.append((name, label, texts))
        return rows

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversion": {"event": self.event, "value_property": self.value_property, "window_days": self.window_days},
            "revenue": str(self.revenue),
            "lift": self.messaged.lift,
            "messaged": self.messaged.as_dict(),
            "control": self.control.as_dict() if self.control else None,
            "groups": [group.as_dict() for group in self.groups],
        }


def _touch_since() -> Case:
    """When a row's attribution window opens: its first read or click; for the hold-out, its creation."""
    first_click = Subquery(
        Click.objects.filter(message_id=OuterRef("pk")).order_by().values("message_id").annotate(at=Min("at")).values("at")[:1],
        output_field=DateTimeField(),
    )
    # Least of two possibly-NULL times: NULL only when both are (SQLite's least is NULL if one is).
    first_touch = Least(Coalesce("read_at", first_click), Coalesce(first_click, "read_at"))
    return Case(When(variant=CONTROL, then=F("created_at")), default=first_touch, output_field=DateTimeField())


def conversions_by_group(campaign: Campaign) -> dict[str, tuple[int, int, Decimal]]:
    """{group: (converted, conversions, revenue)}: one query joining the campaign's rows to the events."""
    rows = Message.objects.filter(campaign=campaign, kind=Message.Kind.CAMPAIGN).annotate(since=_touch_since())
    until = ExpressionWrapper(F("since") + Value(timedelta(days=campaign.conversion_window_days)), output_field=DateTimeField())
    # One filter() call: the conditions hold for the same event. No window opens before the campaign
    # existed: that bound lets the event index skip the person's whole earlier history.
    matched = rows.filter(
        Q(contact__events__occurred_at__gte=campaign.created_at),
        since__isnull=False,
        contact__events__name=campaign.conversion_event,
        contact__events__occurred_at__gte=F("since"),
        contact__events__occurred_at__lte=until,
    )
    revenue: Any = Value(Decimal(0))
    if campaign.conversion_value_property:
        value_text = KeyTextTransform(campaign.conversion_value_property, "contact__events__properties")
        matched = matched.annotate(value_text=value_text)
        revenue = Sum(
            Case(
                When(value_text__regex=_DECIMAL_PATTERN, then=Cast("value_text", DecimalField(max_digits=20, decimal_places=6))),
                default=Value(Decimal(0)),
                output_field=DecimalField(max_digits=20, decimal_places=6),
            )
        )
    found = matched.order_by().values("variant").annotate(
        converted=Count("pk", distinct=True), conversions=Count("contact__events"), revenue=revenue
    )
    return {row["variant"]: (row["converted"], row["conversions"], _plain(Decimal(row["revenue"] or 0))) for row in found}


def _plain(amount: Decimal) -> Decimal:
    """Without trailing zeros, never in exponent form (59.800000 -> 59.8, 100.000000 -> 100)."""
    return amount.quantize(Decimal(1)) if amount == amount.to_integral_value() else amount.normalize()


def _delivery_by_group(campaign: Campaign) -> dict[str, dict[str, int]]:
    """{group: recipients, sent, read, clicked}: one grouped count (whether clicked: an EXISTS per row)."""
    rows = (
        Message.objects.filter(campaign=campaign, kind=Message.Kind.CAMPAIGN)
        .annotate(has_click=Exists(Click.objects.filter(message_id=OuterRef("pk"))))
        .order_by()
        .values("variant")
        .annotate(
            recipients=Count("pk"),
            sent=Count("pk", filter=Q(status__in=SENT_STATUSES)),
            read=Count("pk", filter=Q(read_at__isnull=False)),
            clicked=Count("pk", filter=Q(has_click=True)),
        )
    )
    return {
        row["variant"]: {"recipients": row["recipients"], "sent": row["sent"], "read": row["read"], "clicked": row["clicked"]}
        for row in rows
    }


def _lift(rate: float | None, control_rate: float | None) -> float | None:
    if rate is None or not control_rate:
        return None
    return (rate - control_rate) / control_rate


def campaign_earnings(campaign: Campaign) -> CampaignEarnings:
    """Reads, clicks, replies, opt-outs, conversions, revenue and lift of each A/B group and the hold-out."""
    delivery = _delivery_by_group(campaign)
    converted = conversions_by_group(campaign)
    order = {label: i for i, label in enumerate(("", *LABELS))}
    names = sorted((set(delivery) | set(converted)) - {CONTROL}, key=lambda g: order.get(g, len(order)))
    has_control = CONTROL in delivery or campaign.control_percent > 0
    groups: list[GroupFigures] = []
    by_variant = bool(campaign.variants) or has_control
    for name in [*names, *([CONTROL] if has_control else [])]:
        counts = delivery.get(name, {})
        people, events, revenue = converted.get(name, (0, 0, Decimal(0)))
        groups.append(
            GroupFigures(
                group=name, recipients=counts.get("recipients", 0), sent=counts.get("sent", 0), read=counts.get("read", 0),
                clicked=counts.get("clicked", 0),
                replied=campaign_replies(campaign, name) if by_variant else campaign_replies(campaign),
                opted_out=campaign_opt_outs(campaign, name) if by_variant else campaign_opt_outs(campaign),
                converted=people, conversions=events, revenue=revenue,
            )
        )  # fmt: skip
    control = next((group for group in groups if group.is_control), None)
    messaged_groups = [group for group in groups if not group.is_control]
    messaged = GroupFigures(group=MESSAGED)
    for group in messaged_groups:
        for name in ("recipients", "sent", "read", "clicked", "replied", "opted_out", "converted", "conversions", "revenue"):
            setattr(messaged, name, getattr(messaged, name) + getattr(group, name))
    control_rate = control.conversion_rate if control else None
    for group in [*messaged_groups, messaged]:
        group.lift = _lift(group.conversion_rate, control_rate)
    return CampaignEarnings(
        event=campaign.conversion_event,
        value_property=campaign.conversion_value_property,
        window_days=campaign.conversion_window_days,
        groups=groups,
        messaged=messaged,
        control=control,
    )
