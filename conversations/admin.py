"""What people sent us and pending web opt-ins, read-only in the admin."""

from __future__ import annotations

from django.contrib import admin

from conversations.models import CannedReply, InboundMessage, OptInConfirmation
from core.admin import ReadOnlyAdmin


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
