"""Contacts, the append-only consent ledger, the current consent state and suppression."""

from __future__ import annotations

import hashlib
import json
import re
import zoneinfo
from datetime import timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from consent.phones import phone_region_known
from core.append_only import AppendOnlyQuerySet
from core.models import AppendOnlyError


@lru_cache(maxsize=1)
def _time_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    if value not in _time_zone_names():
        raise ValidationError(f"{value!r} is not a time zone name; use one like Europe/Berlin.")


TAG_NAME_MAX = 64
_TAG_NAME = re.compile(r"^[-a-z0-9_]+$")


class TagNameError(ValueError):
    """A tag name that breaks the one rule every way of tagging shares (import, bulk action, API)."""


def tag_name_normalised(raw: str) -> str:
    """The stored form of a tag name (trimmed, lower case), or TagNameError saying what is wrong."""
    name = raw.strip().lower()
    if not name:
        raise TagNameError("Give the tag a name.")
    if len(name) > TAG_NAME_MAX or not _TAG_NAME.match(name):
        raise TagNameError(f"tag {name[:80]!r} may only hold letters, digits, - and _ (at most {TAG_NAME_MAX}).")
    return name


class Tag(models.Model):
    name = models.SlugField(max_length=TAG_NAME_MAX, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    """One person, known by a phone number in E.164, a WhatsApp business-scoped user id (BSUID), or both.

    People who adopt a WhatsApp username may reach us without their number: Meta then names them
    only by a BSUID such as "US.13491208655302741918" (two-letter country, a dot, up to 128
    alphanumerics; "US.ENT.…" for a parent BSUID shared across portfolios)
    (https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/,
    https://docs.360dialog.com/docs/resources/phone-numbers/usernames-and-bsuid).
    """

    # Null only after erasure: the number is gone, the row keeps statistics intact.
    phone = models.CharField(max_length=20, unique=True, null=True, blank=True, help_text="E.164, e.g. +4915123456789")
    # HMAC of the phone (see consent.services.suppression_hash): joins contacts to suppressions in SQL.
    phone_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    wa_id = models.CharField("WhatsApp id", max_length=20, blank=True, db_index=True)
    # Null when unknown (or erased); unique when set. Sends use the phone when we hold it, else this.
    bsuid = models.CharField("business-scoped user id", max_length=140, unique=True, null=True, blank=True)
    # HMAC of the BSUID like phone_hash: a suppressed BSUID stays recognisable after erasure.
    # Database defaults too: rows written by set-based SQL (COPY, INSERT ... SELECT) need not name them.
    bsuid_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False, default="", db_default="")
    parent_bsuid = models.CharField("parent business-scoped user id", max_length=140, blank=True, default="", db_default="")
    username = models.CharField("WhatsApp username", max_length=100, blank=True, default="", db_default="")
    # Set when a later webhook showed this person to be another contact too: that contact holds their ids now.
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False)
    name = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=15, blank=True, help_text="Template language code, e.g. en_US or de")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    country = models.CharField(max_length=2, blank=True, db_index=True)
    attributes = models.JSONField(default=dict, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts")
    last_inbound_at = models.DateTimeField(null=True, blank=True, help_text="Opens the 24-hour service window")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("import_contacts", "Can import contacts from a CSV file"),
            # Data-subject requests (see consent/rights.py).
            ("export_contact", "Can export all data held about a person"),
            ("erase_contact", "Can erase a person's personal data"),
            ("rectify_contact", "Can correct a person's name or number on request"),
        ]

    def __str__(self) -> str:
        if self.erased_at:
            return f"erased contact #{self.pk}"
        identifier = self.phone or self.username or self.bsuid
        return f"{self.name} ({identifier})" if self.name else str(identifier)

    def whatsapp_address(self, *, prefer_wa_id: bool = False) -> dict[str, str]:
        """How a send reaches this person: ``{"to": number}`` when we hold it, else ``{"recipient": bsuid}``.

        Meta's send API takes ``recipient`` (a BSUID) instead of ``to`` (BSUID page above; 8x8's
        and Kapso's guides: the phone number wins when both are known). ``prefer_wa_id``: the
        WhatsApp id the person wrote from before the number (replies). Empty when neither is held.
        """
        number = (self.wa_id or self.phone) if prefer_wa_id else (self.phone or self.wa_id)
        if number:
            return {"to": number}
        return {"recipient": self.bsuid} if self.bsuid else {}

    def service_window_open(self, now=None) -> bool:
        now = now or timezone.now()
        return self.last_inbound_at is not None and now - self.last_inbound_at < timedelta(hours=24)

    def service_window_closes_at(self):
        return self.last_inbound_at + timedelta(hours=24) if self.last_inbound_at else None


class Purpose(models.Model):
    """What a consent is for. ``marketing`` is created by a migration; more can be added."""

    MARKETING = "marketing"

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.name


class ConsentAction(models.TextChoices):
    OPT_IN = "opt_in", "Opt-in"
    OPT_OUT = "opt_out", "Opt-out"


class ConsentSource(models.TextChoices):
    WEB_FORM = "web_form", "Web form"
    CHECKOUT = "checkout", "Checkout"
    API = "api", "API"
    IMPORT = "import", "Import"
    INBOUND_KEYWORD = "inbound_keyword", "Inbound keyword"
    OPTOUT_BUTTON = "optout_button", "Opt-out button"
    UNSUBSCRIBE_LINK = "unsubscribe_link", "Unsubscribe link"
    SUPPORT = "support", "Support"
    PLATFORM = "platform", "WhatsApp platform"
    ERASURE = "erasure", "Erasure request"


# Sources through which only the person themselves can act: these may lift a suppression.
SELF_SERVICE_SOURCES = frozenset({ConsentSource.WEB_FORM, ConsentSource.INBOUND_KEYWORD, ConsentSource.CHECKOUT})


class ConsentEvent(models.Model):
    """One opt-in or opt-out, with its evidence. Never updated or deleted by the application.

    ``entry_hash`` chains each event to the one before it (``previous_hash``), so an edit made
    behind the application's back is found by ``manage.py verify_consent_ledger``. Personal
    evidence (IP, user agent, page URL, note) enters the chain through ``personal_digest`` so that
    erasure can blank it without breaking the chain. A PostgreSQL trigger refuses every change but
    that one (see core.append_only).
    """

    # What an erasure may blank (consent.rights.contact_erase); action, source and hashes never change.
    ERASABLE_FIELDS = ("page_url", "ip_address", "user_agent", "note", "evidence_erased_at")

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="consent_events")
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=10, choices=ConsentAction.choices)
    source = models.CharField(max_length=20, choices=ConsentSource.choices)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    # PROTECT: the id is part of the hash, so nulling it would break the chain. Deactivate such users instead.
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_via = models.CharField(max_length=40, blank=True, help_text="e.g. api token, admin, webhook")
    notice_text = models.TextField(blank=True, help_text="The exact wording the person was shown")
    notice_version = models.CharField(max_length=40, blank=True)
    page_url = models.URLField(max_length=500, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    note = models.TextField(blank=True)
    personal_digest = models.CharField(max_length=64, editable=False)
    previous_hash = models.CharField(max_length=64, editable=False)
    entry_hash = models.CharField(max_length=64, unique=True, editable=False)
    evidence_erased_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["contact", "purpose", "-occurred_at"])]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.get_source_display()}) {self.occurred_at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("Consent events are append-only; record a new event instead.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any):
        raise AppendOnlyError("Consent events are append-only and cannot be deleted.")

    def compute_personal_digest(self) -> str:
        personal = [self.page_url, self.ip_address or "", self.user_agent, self.note]
        return hashlib.sha256(json.dumps(personal).encode()).hexdigest()

    def compute_hash(self) -> str:
        body = {
            "contact": self.contact_id,
            "purpose": self.purpose_id,
            "action": self.action,
            "source": self.source,
            "occurred_at": self.occurred_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "recorded_by": self.recorded_by_id,
            "recorded_via": self.recorded_via,
            "notice_text": self.notice_text,
            "notice_version": self.notice_version,
            "personal_digest": self.personal_digest,
        }
        payload = self.previous_hash + json.dumps(body, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


class LedgerHead(models.Model):
    """The single row holding the newest hash; locking it serialises appends to the chain."""

    last_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"ledger head {self.last_hash[:12]}…"


class ConsentStatus(models.TextChoices):
    OPTED_IN = "opted_in", "Opted in"
    OPTED_OUT = "opted_out", "Opted out"
    NONE = "none", "No consent"


class ConsentState(models.Model):
    """Current consent per contact and purpose, written in the same transaction as the ledger event."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consent_states")
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=ConsentStatus.choices)
    since = models.DateTimeField()
    last_event = models.ForeignKey(ConsentEvent, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "purpose"], name="one_consent_state_per_purpose")]
        indexes = [models.Index(fields=["purpose", "status"])]

    def __str__(self) -> str:
        return f"{self.purpose}: {self.get_status_display()}"


class Suppression(models.Model):
    """A number that must not be messaged: an HMAC of its E.164 form, so it survives erasure."""

    number_hash = models.CharField(max_length=64, unique=True)
    source = models.CharField(max_length=20, choices=ConsentSource.choices)
    created_at = models.DateTimeField(default=timezone.now)
    lifted_at = models.DateTimeField(null=True, blank=True, help_text="Set when the person opted in again themselves")

    def __str__(self) -> str:
        return f"suppression {self.number_hash[:12]}… ({'lifted' if self.lifted_at else 'active'})"

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None


class OptInForm(models.Model):
    """A hosted opt-in page at /optin/<slug>/ and the versioned notice it shows."""

    slug = models.SlugField(unique=True)
    business_name = models.CharField(max_length=200)
    message_description = models.CharField(max_length=300, help_text="What messages people will get, e.g. 'offers and news'")
    frequency = models.CharField(max_length=100, help_text="How often, e.g. 'up to 4 messages a month'")
    privacy_policy_url = models.URLField()
    notice_text = models.TextField(
        help_text="Shown beside the checkbox and stored with each opt-in. Changing it requires a new version."
    )
    notice_version = models.CharField(max_length=40)
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="+")
    is_active = models.BooleanField(default=True)
    double_opt_in = models.BooleanField(
        default=False, help_text="Consent becomes active only after the person confirms on WhatsApp"
    )
    confirmation_template = models.CharField(max_length=200, blank=True)
    confirmation_template_language = models.CharField(max_length=15, blank=True, default="en_US")
    phone_number_id = models.CharField(
        "WhatsApp number", max_length=64, blank=True, default="",
        help_text="Which of our numbers the page is for (its phone number id): the sign-up link opens a chat with it and "
        "the confirmation template comes from it. Empty: the default number.",
    )  # fmt: skip
    country = models.CharField(
        max_length=2, blank=True,
        help_text="Two-letter country of the page's visitors, e.g. DE: a number typed without its country code "
        "(0151 23456789) is read as a number of this country. Empty: the installation's PHONE_DEFAULT_REGION.",
    )  # fmt: skip

    class Meta:
        verbose_name = "opt-in page"

    def __str__(self) -> str:
        return f"{self.business_name} ({self.slug})"

    def clean(self) -> None:
        errors = {}
        self.country = (self.country or "").strip().upper()
        if self.country and not phone_region_known(self.country):
            errors["country"] = f"{self.country!r} is not a two-letter country code with phone numbers, such as DE or US."
        if self.double_opt_in and not self.confirmation_template:
            errors["confirmation_template"] = "Double opt-in needs a confirmation template."
        if self.pk is not None:
            saved = OptInForm.objects.filter(pk=self.pk).values("notice_text", "notice_version").first()
            if saved and saved["notice_text"] != self.notice_text and saved["notice_version"] == self.notice_version:
                errors["notice_version"] = (
                    f"You changed the notice text, so give it a new version (it is still {self.notice_version!r}): "
                    "opt-ins are stored with their version, and each version must stand for exactly one wording."
                )
        if errors:
            raise ValidationError(errors)
