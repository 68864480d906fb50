"""Behaviour events, segments, campaigns, their per-recipient messages, clicks and the frequency cap policy."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from consent.models import Contact
from whatsapp.models import MessageTemplate


class Event(models.Model):
    """Something a contact did, pushed by an integrator (``POST /api/v1/events``): segments query these."""

    # Indexed through the composite indexes below, which lead with it.
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="events", db_index=False)
    name = models.CharField(max_length=100)
    properties = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            # "did <name> in the last N days": by name first, then the contact the subquery correlates on.
            models.Index(fields=["name", "contact", "occurred_at"], name="event_name_contact_time"),
            # "the latest <name> of this contact" (event parameters, a person's history).
            models.Index(fields=["contact", "name", "-occurred_at"], name="event_contact_name_latest"),
            # Retention deletes events past their period; the admin lists them newest first.
            models.Index(fields=["occurred_at"], name="event_occurred"),
        ]

    def __str__(self) -> str:
        return f"{self.name} by contact #{self.contact_id} at {self.occurred_at:%Y-%m-%d %H:%M}"


class Segment(models.Model):
    """A saved audience: a JSON rule tree (see campaigns.segments) compiled to one SQL query."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    rules = models.JSONField(
        default=dict,
        help_text='A rule tree, e.g. {"all": [{"event": "product_viewed", "within_days": 7}, '
        '{"not": {"event": "purchase", "within_days": 7}}]}',
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from campaigns.segments import SegmentRuleError, segment_rules_validate

        try:
            segment_rules_validate(self.rules)
        except SegmentRuleError as exc:
            raise ValidationError({"rules": str(exc)}) from exc


class Click(models.Model):
    """One click on a campaign message's tracked link (recorded by the click-tracking redirect)."""

    message = models.ForeignKey("campaigns.Message", on_delete=models.CASCADE, related_name="clicks")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["message", "at"])]

    def __str__(self) -> str:
        return f"click on message {self.message_id} at {self.at:%Y-%m-%d %H:%M}"


class FrequencyCapPolicy(models.Model):
    """The one global limit on marketing messages per person, and the quiet hours (contact's local time).

    A campaign may set stricter caps for itself, never looser ones.
    """

    max_per_day = models.PositiveSmallIntegerField(default=1, help_text="Marketing messages per contact per local calendar day")
    max_per_week = models.PositiveSmallIntegerField(
        default=3, help_text="Marketing messages per contact in 7 local calendar days (today and the 6 before)"
    )
    quiet_hours_start = models.TimeField(default=time(21, 0), help_text="No marketing sends from this local time...")
    quiet_hours_end = models.TimeField(default=time(9, 0), help_text="...until this local time (may wrap past midnight)")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "frequency cap policy"
        verbose_name_plural = "frequency cap policy"

    def __str__(self) -> str:
        return (
            f"at most {self.max_per_day}/day and {self.max_per_week}/7 days; "
            f"quiet {self.quiet_hours_start:%H:%M}-{self.quiet_hours_end:%H:%M}"
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = 1  # a singleton: there is one policy
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any):
        raise ValidationError("The frequency cap policy cannot be deleted; change its values instead.")

    @classmethod
    def current(cls) -> FrequencyCapPolicy:
        policy, _ = cls.objects.get_or_create(pk=1)
        return policy


class FollowUpCondition(models.TextChoices):
    """Whom a follow-up reaches among the people its parent campaign's message reached."""

    NOT_READ = "not_read", "did not read it"
    NOT_CLICKED = "not_clicked", "did not click its link"
    NOT_REPLIED = "not_replied", "did not reply"


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        APPROVED = "approved", "Approved"
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    name = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True)
    status_reason = models.CharField(
        max_length=500, blank=True, help_text="Why the campaign is paused, went back to draft or was rejected"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    template = models.ForeignKey(
        "whatsapp.MessageTemplate", null=True, on_delete=models.PROTECT, related_name="campaigns"
    )
    # Blank for a follow-up, whose audience comes from its parent campaign's messages.
    segment = models.ForeignKey(Segment, null=True, blank=True, on_delete=models.PROTECT, related_name="campaigns")
    parameters = models.JSONField(
        default=list,
        blank=True,
        help_text='One entry per template body parameter, in order: {"field": "name", "fallback": "there"}, '
        '{"attribute": "first_name"}, {"event": "product_viewed", "property": "sku"} or {"value": "20%"}',
    )
    tracked_url = models.URLField(max_length=500, blank=True, help_text="Destination of the template's tracked link button")
    send_at = models.DateTimeField(null=True, blank=True, help_text="Empty: send as soon as approved")
    local_time = models.TimeField(
        null=True, blank=True, help_text="Send at this time of day in each recipient's own time zone (on or after send_at)"
    )
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Messages still deferred (caps, quiet hours) at this time are skipped"
    )
    max_per_day = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Stricter daily cap for this campaign")
    max_per_week = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Stricter 7-day cap for this campaign")
    # One of whatsapp.numbers (its phone number id); empty: the default number of the settings.
    phone_number_id = models.CharField(
        max_length=64, blank=True, db_default="", default="", help_text="The business number it is sent from; empty: the default number"
    )
    # A/B test (campaigns.variants): empty sends the campaign's own template and parameters to everyone.
    variants = models.JSONField(
        default=list,
        blank=True,
        help_text='Up to 4 variants, labelled A-D in order, whose shares of the messaged part sum to 100: '
        '{"share": 50} sends the campaign\'s template, {"share": 50, "template": "spring_sale_b", '
        '"language": "en_US", "parameters": [...]} another one',
    )
    control_percent = models.PositiveSmallIntegerField(
        default=0, help_text="Hold-out: this percentage of the audience is never messaged (the control group)"
    )
    # Conversion attribution (campaigns.attribution): what counts as the campaign having earned something.
    conversion_event = models.CharField(max_length=100, default="purchase", help_text="Behaviour event counted as a conversion")
    conversion_value_property = models.CharField(
        max_length=100, default="value", blank=True, help_text="The event's property holding its revenue"
    )
    conversion_window_days = models.PositiveSmallIntegerField(
        default=7, help_text="A conversion counts within this many days after a read or a click"
    )

    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    # Snapshot of what was approved (template, rules, mapping, schedule): a mismatch voids the approval.
    approval_hash = models.CharField(max_length=64, blank=True)
    rejected_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rejection_comment = models.TextField(blank=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    # A follow-up is sent to the people its parent reached who did not react (``follow_up_condition``)
    # within ``follow_up_delay_days`` of the parent's launch; its audience is read at its own launch.
    follow_up_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="follow_ups",
        help_text="The campaign whose recipients this one follows up",
    )  # fmt: skip
    follow_up_condition = models.CharField(max_length=20, blank=True, db_default="", choices=FollowUpCondition.choices)
    follow_up_delay_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Days after the parent's launch, at the earliest"
    )

    class Meta:
        permissions = [("approve_campaign", "Can approve or reject campaigns (four-eyes)")]
        constraints = [
            # A follow-up has its parent, its condition and its delay; any other campaign has none of them.
            models.CheckConstraint(
                condition=(
                    models.Q(follow_up_of__isnull=True, follow_up_condition="", follow_up_delay_days__isnull=True)
                    | (
                        models.Q(follow_up_of__isnull=False, follow_up_delay_days__isnull=False)
                        & ~models.Q(follow_up_condition="")
                    )
                ),
                name="campaign_follow_up_complete",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_marketing(self) -> bool:
        return self.template is None or self.template.needs_marketing_consent

    # A draft may lack its template or segment; campaign_validate requires both before it is
    # submitted, and PROTECT keeps them while the campaign exists.
    def template_chosen(self) -> MessageTemplate:
        if self.template is None:
            raise ValueError(f"Campaign {self.pk} has no template yet.")
        return self.template

    @property
    def is_follow_up(self) -> bool:
        return self.follow_up_of_id is not None

    @property
    def has_audience(self) -> bool:
        """A segment chosen, or a follow-up (whose audience is its parent's recipients)."""
        return self.segment_id is not None or self.follow_up_of_id is not None

    def follow_up_earliest(self) -> datetime | None:
        """When a follow-up may start at the earliest: its parent's launch plus the delay (None: not yet known)."""
        parent = self.follow_up_of
        if parent is None or parent.launched_at is None or self.follow_up_delay_days is None:
            return None
        # Up to the whole minute: the schedule's form fields show minutes, and may not land before it.
        earliest = parent.launched_at + timedelta(days=self.follow_up_delay_days)
        whole_minute = earliest.replace(second=0, microsecond=0)
        return whole_minute if whole_minute == earliest else whole_minute + timedelta(minutes=1)

    def follow_up_description(self) -> str:
        """E.g. "people who did not read it within 3 days"."""
        if not self.is_follow_up:
            return ""
        days = self.follow_up_delay_days
        return f"people who {self.get_follow_up_condition_display()} within {days} day{'s' if days != 1 else ''}"

    def segment_chosen(self) -> Segment:
        if self.segment is None:
            raise ValueError(f"Campaign {self.pk} has no segment yet.")
        return self.segment


class CampaignEdit(models.Model):
    """Who changed a campaign, when and what: the four-eyes rule keeps every editor from approving it.

    An approval covers the edits made before it (``approved_at``); the editors of the edits not yet
    covered may not approve the campaign, superusers included.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="edits")
    editor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    editor_label = models.CharField(max_length=200, help_text="Who, as the audit log names them")
    fields = models.JSONField(default=list, help_text="The fields changed (all of them when created)")
    campaign_status = models.CharField(max_length=20, help_text="The campaign's status when it was changed")
    edited_at = models.DateTimeField(default=timezone.now)
    approved_at = models.DateTimeField(null=True, blank=True, help_text="When an approval covered this edit")

    class Meta:
        ordering = ["edited_at", "id"]

    def __str__(self) -> str:
        return f"{self.editor_label} changed {', '.join(self.fields)}"


class MessageStatus(models.TextChoices):
    """Where one outgoing message stands. Progress only moves forward (see ``STATUS_RANK``)."""

    QUEUED = "queued", "Queued"
    SKIPPED = "skipped", "Skipped"
    SENDING = "sending", "Sending"
    UNKNOWN = "unknown", "Unknown (send interrupted)"
    ACCEPTED = "accepted", "Accepted by WhatsApp"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed"


# Order of progress reported by WhatsApp; a status of lower rank never replaces a higher one.
STATUS_RANK: dict[str, int] = {
    MessageStatus.ACCEPTED: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
}


class Message(models.Model):
    """One outgoing WhatsApp message, of every kind: the one outbox (sent by campaigns.sending)."""

    class Kind(models.TextChoices):
        CAMPAIGN = "campaign", "Campaign"
        REPLY = "reply", "Free-form reply"
        TEST = "test", "Test send"
        CONFIRMATION = "confirmation", "Opt-in confirmation"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CAMPAIGN)
    # No single-column indexes on the two keys: the composite indexes below lead with them. Each index
    # costs every insert and every status change, and a campaign makes several per recipient.
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="messages", db_index=False)
    status = models.CharField(max_length=12, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    skip_reason = models.CharField(max_length=40, blank=True)
    decision = models.JSONField(default=dict, blank=True, help_text="The eligibility checks behind the send or skip")
    body = models.TextField(blank=True, help_text="Text of a free-form reply")
    content = models.JSONField(
        null=True, blank=True, help_text="What a service message sends when it is a template: name, language, components"
    )
    # NULL, not "", until WhatsApp accepts the message: unique once set (see Meta; NULLs never clash).
    wamid = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    attempts = models.PositiveSmallIntegerField(default=0)
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=300, blank=True)
    error_detail = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    send_after = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # A dispatcher's claim: other dispatchers skip the row until the lease expires.
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # When the HTTP call was started (committed before the call): counts toward frequency caps.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    is_marketing = models.BooleanField(default=False, help_text="Counts toward the marketing frequency caps")
    accepted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    # What WhatsApp charges for the message, from its status webhooks' ``pricing`` object.
    pricing_category = models.CharField(max_length=40, blank=True, db_default="", help_text="e.g. marketing, utility, marketing_lite, service")
    pricing_type = models.CharField(max_length=40, blank=True, db_default="", help_text="regular, free_customer_service or free_entry_point")
    pricing_model = models.CharField(max_length=20, blank=True, db_default="", help_text="e.g. PMP (per message)")
    pricing_billable = models.BooleanField(null=True, blank=True, help_text="Meta's deprecated flag, when it still sends it")
    # Which of our numbers sends a service message (a reply goes from the number the person wrote
    # to); empty: the default number. Campaign messages go from their campaign's number.
    phone_number_id = models.CharField(max_length=64, blank=True, db_default="", default="")
    # The A/B variant (A-D) or "control" (hold-out: skipped, never sent), decided at materialisation.
    variant = models.CharField(max_length=10, blank=True, db_default="", help_text="A-D, or control for the hold-out")

    class Meta:
        constraints = [
            # Invariant: one campaign never messages one person twice.
            models.UniqueConstraint(
                fields=["campaign", "contact"], condition=models.Q(kind="campaign"), name="one_message_per_campaign_contact"
            ),
            # Status webhooks find their message by wamid. Partial (sent rows only): a launch's queued
            # rows add no entry (1,000,000 NULL entries were one index insert and WAL record per row).
            # Every lookup by wamid compares it with "=" or states "wamid IS NOT NULL", so the planner
            # can use it (the drain's "wamid IN (...) OR id IN (...)" read states it in its wamid arm:
            # without it, an earlier planner scanned the table). A constraint rather than unique=True:
            # no second, pattern-matching index.
            models.UniqueConstraint(fields=["wamid"], condition=models.Q(wamid__isnull=False), name="message_wamid_unique"),
        ]
        permissions = [("answer_inbound", "Can answer people's WhatsApp messages within their 24-hour window")]
        indexes = [
            models.Index(fields=["campaign", "status"]),
            models.Index(fields=["contact", "-created_at"]),
            # Frequency caps: this contact's marketing messages dispatched since a time. Dispatched rows
            # only (every caps query asks dispatched_at >= a time): a launch's queued rows add no
            # entries (100,000 rows: 12% fewer WAL records, 15% fewer buffer hits).
            models.Index(
                fields=["contact", "dispatched_at"], condition=models.Q(dispatched_at__isnull=False),
                name="message_contact_dispatched",
            ),
            # The messaging limit's count of campaign messages dispatched today, taken by every batch
            # under a lock (without it each batch read the whole table). Dispatched rows only: the
            # materialisation of a launch adds no entries.
            models.Index(
                fields=["dispatched_at"], condition=models.Q(kind="campaign", dispatched_at__isnull=False),
                name="message_campaign_dispatched",
            ),
            # Recovery of dead workers' rows (claims.leases_expire, every beat tick): expired leases of
            # rows in flight, in lease order. Without it each tick read every SENDING entry of the
            # campaign+status index, dead versions of rows sent long ago included (bitmap scans never
            # mark them dead): work per tick grew with the campaign.
            models.Index(fields=["lease_expires_at"], condition=models.Q(status="sending"), name="message_sending_lease"),
            # The service-message sweep (every minute): queued replies, confirmations and test sends.
            # It read every queued entry of every campaign through the campaign+status index.
            models.Index(
                fields=["created_at"], condition=models.Q(kind__in=["reply", "confirmation", "test"], status="queued"),
                name="message_service_queued",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to contact #{self.contact_id}: {self.get_status_display()}"

    @property
    def callback_data(self) -> str:
        """Sent as ``biz_opaque_callback_data`` so a status can be matched even without the wamid."""
        return f"msg:{self.pk}"


class StaffTestNumber(models.Model):
    """The contact a staff member's test sends go to: their own number, opted in like anyone else's.

    Set by an administrator, never by the staff member, so nobody can point "send a test" at a customer.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="test_number")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+", help_text="The staff member's own contact")

    class Meta:
        verbose_name = "staff test number"

    def __str__(self) -> str:
        return f"test sends of {self.user} go to contact #{self.contact_id}"
