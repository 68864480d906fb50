"""What we keep of the WhatsApp side: the account's message templates (more models come with webhooks)."""

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
