"""Admin pieces every app uses (the read-only base), the audit log and API tokens."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet
from django.forms import CheckboxInput
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from core.audit import Actor
from core.client_ip import client_ip
from core.models import AuditEntry
from core.pagination import EstimatedCountPaginator
from core.staff_access import api_token_revoke


def staff_actor(request: HttpRequest) -> Actor:
    """The signed-in staff member behind an admin request, with their address."""
    return Actor(user=request.user, ip_address=client_ip(request))


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only records: viewable with the view permission, never added, changed or deleted here."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AuditCategoryFilter(admin.SimpleListFilter):
    """The part of an action before the dot: consent, contact, campaign, auth, whatsapp..."""

    title = "area"
    parameter_name = "area"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        actions = AuditEntry.objects.order_by().values_list("action", flat=True).distinct()
        return [(area, area) for area in sorted({action.split(".", 1)[0] for action in actions})]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        if self.value():
            return queryset.filter(Q(action=self.value()) | Q(action__startswith=f"{self.value()}."))
        return queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor_label", "action", "object_type", "object_id", "ip_address")
    list_filter = (AuditCategoryFilter, "action", "object_type", "actor", ("ip_address", admin.EmptyFieldListFilter))
    list_select_related = ("actor",)
    search_fields = ("actor_label", "object_id", "ip_address")
    search_help_text = "Who (user or label), the object's id, or an IP address."
    date_hierarchy = "at"
    fields = ("at", "actor", "actor_label", "action", "object_type", "object_id", "ip_address", "details_pretty")
    readonly_fields = fields

    @admin.display(description="Details")
    def details_pretty(self, entry: AuditEntry) -> str:
        return format_html("<pre>{}</pre>", json.dumps(entry.details, indent=2, ensure_ascii=False, cls=DjangoJSONEncoder))


# API tokens: revoking one (deleting it) is audit-logged, so the admin's bulk delete is replaced.
admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class RevocableTokenAdmin(TokenAdmin):
    actions = ["revoke_tokens"]

    @admin.display(description=mark_safe('<input type="checkbox" id="action-toggle">'))
    def action_checkbox(self, token: TokenProxy) -> SafeString:
        # TokenProxy's pk is the user's id (for the change page); the action selects by the token's own key.
        attrs = {"class": "action-select", "aria-label": f"Select the token of {token.user}"}
        return CheckboxInput(attrs, lambda value: False).render(helpers.ACTION_CHECKBOX_NAME, token.key)

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke selected tokens (their integrations get 401 from now on)", permissions=["revoke"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        tokens = list(queryset.select_related("user"))
        for token in tokens:
            api_token_revoke(token=token, actor=staff_actor(request))
        self.message_user(request, f"{len(tokens)} token(s) revoked.", messages.SUCCESS)

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("authtoken.delete_tokenproxy") or request.user.has_perm("authtoken.delete_token")


