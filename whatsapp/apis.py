"""REST endpoints of the WhatsApp side."""

from __future__ import annotations

from rest_framework import generics, serializers
from rest_framework.permissions import BasePermission

from whatsapp.models import MessageTemplate
from whatsapp.selectors import template_list

STAFF_ROLES = ("Marketer", "Approver", "Support")


class HasStaffRole(BasePermission):
    """Any of the staff roles (or a superuser); a login without a role is refused."""

    message = "This needs a staff role (Marketer, Approver or Support)."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        return user.is_superuser or user.groups.filter(name__in=STAFF_ROLES).exists()


class TemplateListApi(generics.ListAPIView):
    """The account's WhatsApp templates with their status; filter with ?status=APPROVED&category=MARKETING."""

    permission_classes = [HasStaffRole]

    class OutputSerializer(serializers.ModelSerializer):
        sendable = serializers.BooleanField(source="is_sendable", read_only=True)
        parameter_count = serializers.IntegerField(read_only=True)
        body_text = serializers.CharField(read_only=True)

        class Meta:
            model = MessageTemplate
            fields = [
                "id", "name", "language", "category", "status", "sendable", "quality_score", "status_reason",
                "parameter_format", "parameter_names", "parameter_count", "body_text", "url_button_index",
                "url_button_base", "components", "synced_at",
            ]  # fmt: skip

    serializer_class = OutputSerializer

    def get_queryset(self):
        return template_list(status=self.request.query_params.get("status"), category=self.request.query_params.get("category"))
