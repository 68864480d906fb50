"""Read-only admin views of what WhatsApp told us: templates, webhook deliveries, inbound messages."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyAdmin
from whatsapp.models import MessageTemplate, WebhookDelivery


@admin.register(MessageTemplate)
class MessageTemplateAdmin(ReadOnlyAdmin):
    list_display = ("name", "language", "category", "status", "quality_score", "parameter_count", "synced_at")
    list_filter = ("status", "category", "quality_score", "language")
    search_fields = ("name",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "received_at", "processed_at", "repeat_count", "attempts", "foreign_items")
    list_filter = ("processed_at",)
