"""Roles (auth groups) and what each may do: the one table of role permissions for every app.

An app lists its permissions under its label in ``ROLE_PERMISSIONS`` and grants them from a data
migration of its own::

    from core.roles import role_permissions_operation

    class Migration(migrations.Migration):
        dependencies = [("consent", "0005_role_permissions"), ("campaigns", "0003_...")]
        operations = [role_permissions_operation("campaigns")]

Permissions are created by Django's post_migrate signal, i.e. after all migrations ran, so the
grant creates them first. A permission whose model a later migration adds is skipped until that
migration runs the grant again; tests/consent/test_roles.py checks every entry exists in the end.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

MARKETER, APPROVER, SUPPORT = "Marketer", "Approver", "Support"
ROLES = (MARKETER, APPROVER, SUPPORT)

# app label -> role -> permission codenames of that app.
ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "consent": {
        # Finds people by number, sees their consent history and the audit log, records an opt-out
        # or an opt-in with evidence, and answers data-subject requests: export, erasure,
        # correction of name or number. Does not edit contacts in bulk or run campaigns.
        SUPPORT: (
            "view_contact",
            "export_contact",
            "erase_contact",
            "rectify_contact",
            "view_tag",
            "view_consentevent",
            "view_consentstate",
            "view_suppression",
            "view_optinform",
            "add_consentevent",
        ),
        # Brings contacts in (API, CSV import, admin), runs the opt-in pages, pushes consents.
        MARKETER: (
            "view_contact",
            "add_contact",
            "change_contact",
            "rectify_contact",
            "import_contacts",
            "view_tag",
            "add_tag",
            "view_consentevent",
            "view_consentstate",
            "add_consentevent",
            "view_optinform",
            "add_optinform",
            "change_optinform",
        ),
        # Reviews campaigns before they go out: reads who would receive them and on what consent.
        APPROVER: ("view_contact", "view_tag", "view_consentevent", "view_consentstate", "view_optinform"),
    },
    "core": {
        # Sees who did what (the audit log) when answering "why did this happen to me?".
        SUPPORT: ("view_auditentry",),
    },
    "campaigns": {
        # Builds segments and campaigns and pushes behaviour events; cannot approve.
        MARKETER: (
            "view_campaign", "add_campaign", "change_campaign",
            "view_segment", "add_segment", "change_segment",
            "view_event", "add_event", "view_message", "view_click", "view_frequencycappolicy",
        ),
        # Reviews and approves (never their own); may pause a campaign and tighten the caps.
        APPROVER: (
            "view_campaign", "approve_campaign", "view_segment", "view_event", "view_message", "view_click",
            "view_frequencycappolicy", "change_frequencycappolicy",
        ),
        # Answers "why did (or didn't) I get this message?" (reads only) and answers people's replies.
        SUPPORT: ("view_campaign", "view_segment", "view_event", "view_message", "answer_inbound"),
    },
    "whatsapp": {
        # Writes new message templates and submits them to WhatsApp for review.
        MARKETER: ("view_messagetemplate", "add_messagetemplate"),
        APPROVER: ("view_messagetemplate",),
    },
}

# Never granted to a role, whatever the table above says: role_permissions_grant refuses them.
_APPEND_ONLY = (
    "consent.change_consentevent",
    "consent.delete_consentevent",
    "core.add_auditentry",
    "core.change_auditentry",
    "core.delete_auditentry",
    # Current states and suppressions change only with a ledger event (consent_record).
    "consent.add_consentstate",
    "consent.change_consentstate",
    "consent.delete_consentstate",
    "consent.add_suppression",
    "consent.change_suppression",
    "consent.delete_suppression",
)
ROLE_FORBIDDEN: dict[str, tuple[str, ...]] = {
    # Support helps people; creating or approving what is sent to them is someone else's call.
    SUPPORT: (*_APPEND_ONLY, "campaigns.add_campaign", "campaigns.change_campaign", "campaigns.approve_campaign"),
    # Erasing or exporting a person (data-subject requests) is for support, never for marketing.
    MARKETER: (*_APPEND_ONLY, "consent.delete_contact", "consent.erase_contact", "consent.export_contact"),
    APPROVER: (*_APPEND_ONLY, "consent.delete_contact", "consent.erase_contact"),
}


class RoleTableError(ValueError):
    """The role table grants something a role must never hold."""


def role_permissions_check(table: dict[str, dict[str, tuple[str, ...]]] = ROLE_PERMISSIONS) -> None:
    for app_label, roles in table.items():
        for role, codenames in roles.items():
            forbidden = sorted(set(ROLE_FORBIDDEN.get(role, ())) & {f"{app_label}.{c}" for c in codenames})
            if forbidden:
                raise RoleTableError(f"Role {role} must never hold {', '.join(forbidden)} (see ROLE_FORBIDDEN).")


def role_permissions_grant(apps: Any, *, app_label: str) -> None:
    """Give each role the permissions the table lists for ``app_label`` (adds; never removes)."""
    role_permissions_check()
    create_permissions(global_apps.get_app_config(app_label), apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.get(app_label, {}).items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))


def role_permissions_operation(app_label: str) -> migrations.RunPython:
    """The migration operation that runs ``role_permissions_grant`` for ``app_label``."""

    def grant(apps: Any, schema_editor: Any) -> None:
        role_permissions_grant(apps, app_label=app_label)

    return migrations.RunPython(grant, migrations.RunPython.noop)
