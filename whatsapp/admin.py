"""Read-only admin views of what WhatsApp told us: templates, webhook deliveries, inbound messages."""

from __future__ import annotations

from django.contrib import admin

from conversations.models import InboundMessage, OptInConfirmation
from core.admin import ReadOnlyAdmin
from whatsapp.models import MessageTemplate, WebhookDelivery


@admin.register(MessageTemplate)
class MessageTemplateAdmin(ReadOnlyAdmin):
    list_display = ("name", "language", "category", "status", "quality_score", "parameter_count", "synced_at")
    list_filter = ("status", "category", "quality_score", "language")
    search_fields = ("name",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "received_at", "processed_at", "repeat_count", "attempts")
    list_filter = ("processed_at",)


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
