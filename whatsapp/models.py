"""What we keep of the WhatsApp side: templates and webhook deliveries as Meta sent them."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class MessageTemplate(models.Model):
    """A template as Meta reports it; synced by ``manage.py sync_templates`` and status webhooks."""

    class Category(models.TextChoices):
        MARKETING = "MARKETING", "Marketing"
        UTILITY = "UTILITY", "Utility"
        AUTHENTICATION = "AUTHENTICATION", "Authentication"

    class Status(models.TextChoices):
        APPROVED = "APPROVED", "Approved"
        PENDING = "PENDING", "Pending review"
        REJECTED = "REJECTED", "Rejected"
        PAUSED = "PAUSED", "Paused"
        DISABLED = "DISABLED", "Disabled"
        IN_APPEAL = "IN_APPEAL", "In appeal"
        PENDING_DELETION = "PENDING_DELETION", "Pending deletion"
        DELETED = "DELETED", "Deleted"
        LIMIT_EXCEEDED = "LIMIT_EXCEEDED", "Limit exceeded"

    external_id = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=15)
    category = models.CharField(max_length=20, choices=Category.choices)
    status = models.CharField(max_length=20, choices=Status.choices)
    components = models.JSONField(default=list)
    # Body placeholders: {{1}}, {{2}}... (positional) or {{first_name}} (named), in order of appearance.
    parameter_names = models.JSONField(default=list)
    parameter_format = models.CharField(max_length=12, default="POSITIONAL")
    url_button_index = models.IntegerField(null=True, blank=True, help_text="Index of a URL button with a dynamic suffix")
    url_button_base = models.URLField(max_length=500, blank=True)
    quality_score = models.CharField(max_length=20, blank=True)
    status_reason = models.CharField(max_length=300, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "language"], name="one_template_per_name_language")]
        ordering = ["name", "language"]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    @property
    def parameter_count(self) -> int:
        return len(self.parameter_names)

    @property
    def is_sendable(self) -> bool:
        return self.status == self.Status.APPROVED

    @property
    def needs_marketing_consent(self) -> bool:
        return self.category == self.Category.MARKETING

    @property
    def body_text(self) -> str:
        for component in self.components:
            if str(component.get("type", "")).upper() == "BODY":
                return component.get("text", "")
        return ""


class WebhookDelivery(models.Model):
    """One signed POST from Meta, stored as received before we answer 200; processed by a worker."""

    # Unique through Meta.constraints (unique=True would add a second, pattern-matching index to every insert).
    body_sha256 = models.CharField(max_length=64, help_text="Meta repeats deliveries: one row per body")
    body = models.TextField()
    received_at = models.DateTimeField(default=timezone.now)
    repeat_count = models.PositiveIntegerField(default=0, help_text="How often the same body arrived again")
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # A database default too: a process still running the previous release inserts without this column.
    foreign_items = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Items for a phone number or business account that is not ours: stored, never applied"
    )

    class Meta:
        ordering = ["-id"]  # arrival order, on the primary key
        verbose_name_plural = "webhook deliveries"
        # Two partial indexes instead of one on received_at: the drain claims the unprocessed
        # deliveries in arrival order without walking past the processed ones (with one index over
        # all rows the planner did, 40,000 rows per claim at 60,000 deliveries: 50 ms instead of 1 ms),
        # and pruning finds the processed ones past their retention period.
        constraints = [models.UniqueConstraint(fields=["body_sha256"], name="webhook_delivery_body_unique")]
        indexes = [
            models.Index(fields=["received_at", "id"], condition=models.Q(processed_at__isnull=True), name="webhook_delivery_unprocessed"),
            models.Index(fields=["received_at"], condition=models.Q(processed_at__isnull=False), name="webhook_delivery_processed"),
        ]

    def __str__(self) -> str:
        return f"webhook delivery #{self.pk} ({'processed' if self.processed_at else 'pending'})"


class WebhookReceipt(models.Model):
    """Marks one webhook item as handled, so a repeated item changes nothing.

    Keys: ``status:<wamid>:<status>`` and ``preference:<wa_id>:<category>:<value>:<timestamp>``.
    Inbound messages are deduplicated by ``InboundMessage.wamid`` instead.
    """

    key = models.CharField(max_length=300)  # unique: see Meta
    delivery = models.ForeignKey(WebhookDelivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    handled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # A constraint rather than unique=True: no second, pattern-matching index to fill per status.
        constraints = [models.UniqueConstraint(fields=["key"], name="webhook_receipt_key_unique")]

    def __str__(self) -> str:
        return self.key


class AccountProblem(models.Model):
    """A problem of the whole WhatsApp account (payment, token, display name, marketing blocked...).

    Opened by the first account-scoped error, from a send or from a webhook; while it is open no
    marketing message goes out. It stays until a person clears it (after fixing it at Meta).
    """

    code = models.IntegerField(null=True, blank=True, help_text="Meta's error code (empty: an HTTP status without one)")
    explanation = models.TextField(help_text="What happened and what to do, for the admin")
    source = models.CharField(max_length=40, help_text="Where it was seen: a send, a status or an out-of-band webhook error")
    opened_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    occurrences = models.PositiveIntegerField(default=1)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        # One open record per code: a repeat counts as another occurrence of it.
        constraints = [
            models.UniqueConstraint(
                fields=["code"], condition=models.Q(cleared_at__isnull=True), name="one_open_account_problem_per_code",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        code = f"#{self.code}" if self.code is not None else "no code"
        return f"account problem {code} ({'cleared' if self.cleared_at else 'open'})"


class MessagingLimit(models.Model):
    """The messaging limit as Meta last reported it through one of our numbers (one row per number).

    Meta's limit counts business-initiated messages to unique people per rolling 24 hours; the
    ``phone_number_quality_update`` webhook reports it as ``max_daily_conversations_per_business``.
    Since October 2025 it is the business portfolio's limit, shared by all its numbers
    (whatsapp.account.messaging_limit_current), so the newest row counts for every number.
    """

    display_phone_number = models.CharField(max_length=32, unique=True)
    tier = models.CharField(max_length=40, help_text="As Meta names it, e.g. TIER_2K or TIER_UNLIMITED")
    daily_limit = models.PositiveIntegerField(null=True, blank=True, help_text="People per 24 hours; empty: unlimited")
    quality = models.CharField(max_length=20, blank=True, help_text="The last quality event or rating Meta reported")
    event = models.CharField(max_length=40, blank=True, help_text="Meta's last event, e.g. UPGRADE, DOWNGRADE, FLAGGED")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.display_phone_number}: {self.tier}"


class SendingNumber(models.Model):
    """A business phone number we send from, beside the default one of the settings.

    API configuration, edited in the admin by administrators. With no rows the installation sends
    from ``WHATSAPP_PHONE_NUMBER_ID`` alone (whatsapp.numbers); a row with that id only describes it.
    """

    phone_number_id = models.CharField(
        max_length=64, unique=True, help_text="Meta's id of the phone number (not the number itself)"
    )
    display_phone_number = models.CharField(max_length=32, help_text="The number people see, e.g. +49 30 1234567")
    label = models.CharField(max_length=100, blank=True, help_text="For marketers: the brand or country it serves")
    business_account_id = models.CharField(
        max_length=64, blank=True, help_text="The WhatsApp Business Account (WABA) id; empty: the one in the settings"
    )
    throughput = models.PositiveIntegerField(
        default=80, help_text="Messages per second Meta allows this number (80 by default, up to 1,000 when raised)"
    )
    marketing_messages_api = models.BooleanField(
        default=False, help_text="Send marketing templates through Meta's Marketing Messages API instead of /messages"
    )
    active = models.BooleanField(default=True, help_text="Inactive: no campaign may choose it and its webhooks are ignored")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["display_phone_number"]

    def __str__(self) -> str:
        return f"{self.label} ({self.display_phone_number})" if self.label else self.display_phone_number
