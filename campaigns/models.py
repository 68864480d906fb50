"""Campaigns and their per-recipient messages."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from consent.models import Contact


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
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


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
STATUS_RANK = {
    MessageStatus.ACCEPTED: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
}


class Message(models.Model):
    """One outgoing WhatsApp message: a campaign's message to one contact, or a free-form reply."""

    class Kind(models.TextChoices):
        CAMPAIGN = "campaign", "Campaign"
        REPLY = "reply", "Free-form reply"
        TEST = "test", "Test send"
        CONFIRMATION = "confirmation", "Opt-in confirmation"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CAMPAIGN)
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.CASCADE, related_name="messages")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="messages")
    status = models.CharField(max_length=12, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    skip_reason = models.CharField(max_length=40, blank=True)
    decision = models.JSONField(default=dict, blank=True, help_text="The eligibility checks behind the send or skip")
    body = models.TextField(blank=True, help_text="Text of a free-form reply")
    wamid = models.CharField(max_length=200, null=True, blank=True, unique=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=300, blank=True)
    error_detail = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    send_after = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Invariant: one campaign never messages one person twice.
            models.UniqueConstraint(
                fields=["campaign", "contact"], condition=models.Q(kind="campaign"), name="one_message_per_campaign_contact"
            )
        ]
        indexes = [models.Index(fields=["campaign", "status"]), models.Index(fields=["contact", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to contact #{self.contact_id}: {self.get_status_display()}"

    @property
    def callback_data(self) -> str:
        """Sent as ``biz_opaque_callback_data`` so a status can be matched even without the wamid."""
        return f"msg:{self.pk}"
