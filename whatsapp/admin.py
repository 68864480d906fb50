"""Read-only admin views of what WhatsApp told us: templates, webhook deliveries, inbound messages."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from core.admin import ReadOnlyAdmin, staff_actor
from whatsapp.models import MessageTemplate, SendingNumber, WebhookDelivery
from whatsapp.numbers import numbers_forget, sending_number_save


@admin.register(MessageTemplate)
class MessageTemplateAdmin(ReadOnlyAdmin):
    list_display = ("name", "language", "category", "status", "quality_score", "parameter_count", "synced_at")
    list_filter = ("status", "category", "quality_score", "language")
    search_fields = ("name",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "received_at", "processed_at", "repeat_count", "attempts", "foreign_items")
    list_filter = ("processed_at",)


@admin.register(SendingNumber)
class SendingNumberAdmin(admin.ModelAdmin):
    """Administrators only (no role is granted these permissions): it is API configuration."""

    list_display = ("display_phone_number", "label", "phone_number_id", "throughput", "marketing_messages_api", "active")
    list_filter = ("active", "marketing_messages_api")
    search_fields = ("display_phone_number", "label", "phone_number_id")
    readonly_fields = ("created_at",)

    def save_model(self, request: HttpRequest, obj: SendingNumber, form: Any, change: bool) -> None:
        sending_number_save(number=obj, actor=staff_actor(request), changed=list(form.changed_data))

    def delete_model(self, request: HttpRequest, obj: SendingNumber) -> None:
        super().delete_model(request, obj)
        numbers_forget()
