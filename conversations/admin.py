"""What people sent us and pending web opt-ins, read-only in the admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from consent.models import OptInForm
from conversations.models import CannedReply, InboundMessage, OptInConfirmation
from core.admin import ReadOnlyAdmin
from whatsapp.numbers import number_choices


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = ("sent_at", "contact", "type", "text", "keyword_action", "answered")
    list_filter = ("answered", "type", "keyword_action")
    list_select_related = ("contact",)
    raw_id_fields = ("contact", "delivery")


@admin.register(OptInConfirmation)
class OptInConfirmationAdmin(ReadOnlyAdmin):
    list_display = ("requested_at", "contact", "form", "confirmed_at", "expires_at")
    list_filter = ("confirmed_at",)
    list_select_related = ("contact", "form")
    raw_id_fields = ("contact", "message", "consent_event")


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    """Reusable answers support inserts into the reply form (and edits before sending)."""

    list_display = ("title", "body", "updated_at")
    search_fields = ("title", "body")


@admin.register(OptInForm)
class OptInFormAdmin(admin.ModelAdmin):
    """The hosted opt-in pages (their model is consent's; the page and its number are this app's)."""

    list_display = ("slug", "business_name", "notice_version", "is_active", "double_opt_in", "page_link")
    list_filter = ("is_active", "double_opt_in")
    search_fields = ("slug", "business_name")
    prepopulated_fields = {"slug": ("business_name",)}
    fieldsets = (
        (None, {"fields": ("business_name", "slug", "is_active", "purpose", "country", "phone_number_id")}),
        ("What people are told", {"fields": ("message_description", "frequency", "privacy_policy_url", "notice_text", "notice_version")}),
        ("Double opt-in", {"fields": ("double_opt_in", "confirmation_template", "confirmation_template_language")}),
    )

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "phone_number_id":  # one of our numbers, by name, never a typed id
            return forms.ChoiceField(label=db_field.verbose_name, choices=number_choices(), required=False, help_text=db_field.help_text)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def view_on_site(self, obj: OptInForm) -> str:
        return reverse("optin", args=[obj.slug])

    @admin.display(description="Page")
    def page_link(self, obj: OptInForm) -> str:
        url = reverse("optin", args=[obj.slug])
        return format_html('<a href="{}">{}</a>', url, url)
