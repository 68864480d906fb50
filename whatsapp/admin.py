"""Read-only admin views of what WhatsApp told us: templates, webhook deliveries, inbound messages."""

from __future__ import annotations

from django.contrib import admin

from whatsapp.models import InboundMessage, MessageTemplate, OptInConfirmation, WebhookDelivery


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the sync, the webhook and services: viewable, never editable here."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(MessageTemplate)
class MessageTemplateAdmin(ReadOnlyAdmin):
    list_display = ("name", "language", "category", "status", "quality_score", "parameter_count", "synced_at")
    list_filter = ("status", "category", "quality_score", "language")
    search_fields = ("name",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "received_at", "processed_at", "repeat_count", "attempts")
    list_filter = ("processed_at",)
    show_full_result_count = False


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = ("sent_at", "contact", "type", "text", "keyword_action", "answered")
    list_filter = ("answered", "type", "keyword_action")
    list_select_related = ("contact",)
    raw_id_fields = ("contact", "delivery")
    show_full_result_count = False


@admin.register(OptInConfirmation)
class OptInConfirmationAdmin(ReadOnlyAdmin):
    list_display = ("requested_at", "contact", "form", "confirmed_at", "expires_at")
    list_filter = ("confirmed_at",)
    list_select_related = ("contact", "form")
    raw_id_fields = ("contact", "message", "consent_event")
