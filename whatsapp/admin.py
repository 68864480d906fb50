"""Admin views of what WhatsApp told us (templates, webhook deliveries) and the template creation page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from core.admin import ReadOnlyAdmin, staff_actor
from whatsapp.forms import TemplateCreateForm
from whatsapp.models import MessageTemplate, SendingNumber, WebhookDelivery
from whatsapp.numbers import numbers_forget, sending_number_save
from whatsapp.template_create import TemplateRefused, template_submit


@admin.register(MessageTemplate)
class MessageTemplateAdmin(ReadOnlyAdmin):
    list_display = ("name", "language", "category", "status", "status_reason", "quality_score", "parameter_count", "synced_at")
    list_filter = ("status", "category", "quality_score", "language")
    search_fields = ("name",)
    change_list_template = "admin/whatsapp/messagetemplate/change_list.html"

    def get_urls(self) -> list:
        return [
            path("create/", self.admin_site.admin_view(self.create_view), name="whatsapp_messagetemplate_create"),
            *super().get_urls(),
        ]

    def create_view(self, request: HttpRequest) -> HttpResponse:
        """A new template, submitted to WhatsApp for review; refusals are shown above the form."""
        if not request.user.has_perm("whatsapp.add_messagetemplate"):
            raise PermissionDenied
        form = TemplateCreateForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                template = template_submit(definition=form.definition, actor=staff_actor(request), example_files=form.example_files)
            except TemplateRefused as refused:
                for problem in refused.problems:
                    form.add_error(None, problem)
            else:
                messages.success(
                    request, f"Template {template} submitted to WhatsApp: {template.get_status_display().lower()}. "
                    "Its status changes here when WhatsApp has reviewed it.",
                )  # fmt: skip
                return HttpResponseRedirect(reverse("admin:whatsapp_messagetemplate_changelist"))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form, "title": "Create a message template"}
        return TemplateResponse(request, "admin/whatsapp/messagetemplate/create.html", context)


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
