"""What people said to us and the web opt-ins waiting for their confirmation."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

# The confirmation template's button payload: this prefix and the confirmation's id.
CONFIRM_PAYLOAD_PREFIX = "optin-confirm:"


class InboundMessage(models.Model):
    """A message a person sent to our number: kept for the support inbox and as evidence."""

    wamid = models.CharField(max_length=200, unique=True)
    contact = models.ForeignKey(
        "consent.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_messages"
    )
    from_wa_id = models.CharField(max_length=20, db_index=True, blank=True, help_text="Empty when WhatsApp withheld the number")
    # The sender's business-scoped user id (BSUID), when the webhook named one.
    from_user_id = models.CharField(max_length=140, blank=True, db_index=True)
    type = models.CharField(max_length=20)
    text = models.TextField(blank=True, help_text="Text body, button text or caption")
    payload = models.CharField(max_length=1000, blank=True, help_text="Quick-reply button payload or interactive reply id")
    context_wamid = models.CharField(max_length=200, blank=True, help_text="The message this one replies to")
    sent_at = models.DateTimeField(help_text="When the person sent it (Meta's timestamp)")
    received_at = models.DateTimeField(default=timezone.now)
    keyword_action = models.CharField(max_length=20, blank=True, help_text="opt_out, opt_in, help, confirm or join_refused, if any")
    answered = models.BooleanField(default=False, help_text="Set when support (or an automatic reply) answered it")
    delivery = models.ForeignKey("whatsapp.WebhookDelivery", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Which of our numbers it reached (``metadata.phone_number_id``): answers go from that number.
    phone_number_id = models.CharField(max_length=64, blank=True, db_default="", default="")

    class Meta:
        db_table = "whatsapp_inboundmessage"  # created by the whatsapp app; the table kept its name
        ordering = ["-sent_at"]
        # The inbox lists unanswered messages newest first; retention empties texts past their period.
        indexes = [models.Index(fields=["answered", "-sent_at"]), models.Index(fields=["received_at"], name="inbound_received")]

    def __str__(self) -> str:
        return f"{self.type} from contact #{self.contact_id} at {self.sent_at:%Y-%m-%d %H:%M}"


class OptInConfirmation(models.Model):
    """A web opt-in waiting for the person's confirmation from their WhatsApp number.

    Holds the evidence of the web step; consent is granted only when the person sends the sign-up
    code from the number typed on the form (conversations/join_codes.py) or answers the confirmation
    template (YES or its button carrying ``button_payload``; conversations/double_optin.py).
    ``contact`` is empty when the number had no contact we could tie it to without changing
    anything (an erased or suppressed number): the confirmation creates or finds it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    contact = models.ForeignKey(
        "consent.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="optin_confirmations"
    )
    # Keyed hashes, like the suppression list's: the typed number and the sign-up code are never stored.
    number_hash = models.CharField(max_length=64, blank=True, db_index=True, help_text="Keyed hash of the number typed on the form")
    join_code_hash = models.CharField(max_length=64, blank=True, help_text="Keyed hash of the one-time sign-up code")
    form = models.ForeignKey("consent.OptInForm", on_delete=models.PROTECT, related_name="+")
    message = models.ForeignKey(
        "campaigns.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The confirmation template sent to the person",
    )
    notice_text = models.TextField()
    notice_version = models.CharField(max_length=40, blank=True)
    page_url = models.URLField(max_length=500, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by_wamid = models.CharField(max_length=200, blank=True)
    consent_event = models.ForeignKey(
        "consent.ConsentEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "whatsapp_optinconfirmation"  # created by the whatsapp app; the table kept its name
        ordering = ["-requested_at"]
        indexes = [
            models.Index(fields=["contact", "confirmed_at", "-requested_at"]),
            models.Index(fields=["contact", "-requested_at"], name="optin_request_timeline"),
        ]

    def __str__(self) -> str:
        state = "confirmed" if self.confirmed_at else "pending"
        return f"opt-in confirmation for contact #{self.contact_id} ({state})"

    @property
    def button_payload(self) -> str:
        return f"{CONFIRM_PAYLOAD_PREFIX}{self.pk}"

    def is_open(self, now=None) -> bool:
        return self.confirmed_at is None and (now or timezone.now()) < self.expires_at


class ConversationAssignment(models.Model):
    """Which support agent looks after a person's conversation; one agent at a time."""

    contact = models.OneToOneField("consent.Contact", on_delete=models.CASCADE, related_name="assignment")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    assigned_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"contact #{self.contact_id} assigned to {self.agent}"


class CannedReply(models.Model):
    """A reusable answer support inserts into the reply form and edits before sending."""

    title = models.CharField(max_length=100, unique=True)
    body = models.TextField(max_length=4096)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        verbose_name_plural = "canned replies"

    def __str__(self) -> str:
        return self.title
