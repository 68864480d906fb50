"""Campaign transitions and role or permission changes are audit-logged with who, when, from where and what."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User

from campaigns.models import Campaign
from campaigns.services import campaign_launch
from core.models import AppendOnlyError, AuditEntry
from tests.factories import api_client

pytestmark = pytest.mark.django_db

SALE = {"name": "Spring sale", "template": "spring_sale", "language": "en_US",
        "parameters": [{"field": "name", "fallback": "there"}, {"value": "20%"}]}  # fmt: skip


def _entries(campaign_id: int) -> list[tuple[str, str | None, str | None]]:
    entries = AuditEntry.objects.filter(object_type="campaign", object_id=str(campaign_id)).order_by("at", "id")
    return [(e.action, e.actor.username if e.actor else e.actor_label, e.ip_address) for e in entries]


def test_who_submitted_who_approved_and_which_snapshot(marketer, approver, spring_sale, everyone, django_capture_on_commit_callbacks):  # noqa: F811
    as_marketer, as_approver = api_client(marketer), api_client(approver)
    campaign_id = as_marketer.post("/api/v1/campaigns", {**SALE, "segment": everyone.pk}, format="json").json()["id"]
    as_marketer.post(f"/api/v1/campaigns/{campaign_id}/submit", REMOTE_ADDR="203.0.113.5")
    with django_capture_on_commit_callbacks(execute=False):
        as_approver.post(f"/api/v1/campaigns/{campaign_id}/approve", REMOTE_ADDR="203.0.113.6")
    campaign_launch(campaign_id=campaign_id)

    assert _entries(campaign_id) == [
        ("campaign.create", "mara", "127.0.0.1"),
        ("campaign.submit", "mara", "203.0.113.5"),
        ("campaign.approve", "abe", "203.0.113.6"),
        ("campaign.launch", "system", None),
    ]
    submission = AuditEntry.objects.get(action="campaign.submit", object_id=str(campaign_id))
    approval = AuditEntry.objects.get(action="campaign.approve", object_id=str(campaign_id))
    # The approver approved exactly the snapshot that was submitted.
    assert submission.details["hash"] == approval.details["hash"] == Campaign.objects.get(pk=campaign_id).approval_hash != ""


def test_rejection_pause_resume_and_cancel_are_recorded(marketer, approver, spring_sale, everyone, django_capture_on_commit_callbacks):  # noqa: F811
    as_marketer, as_approver = api_client(marketer), api_client(approver)
    campaign_id = as_marketer.post("/api/v1/campaigns", {**SALE, "segment": everyone.pk}, format="json").json()["id"]
    as_marketer.post(f"/api/v1/campaigns/{campaign_id}/submit")
    as_approver.post(f"/api/v1/campaigns/{campaign_id}/reject", {"comment": "Say which shoes."}, format="json")
    as_marketer.post(f"/api/v1/campaigns/{campaign_id}/submit")
    with django_capture_on_commit_callbacks(execute=False):
        as_approver.post(f"/api/v1/campaigns/{campaign_id}/approve")
        assert as_marketer.post(f"/api/v1/campaigns/{campaign_id}/pause").status_code == 200
        assert as_marketer.post(f"/api/v1/campaigns/{campaign_id}/resume").status_code == 200
        assert as_marketer.post(f"/api/v1/campaigns/{campaign_id}/cancel").status_code == 200

    actions = [(action, who) for action, who, _ in _entries(campaign_id)]
    assert actions[2:] == [
        ("campaign.reject", "abe"), ("campaign.submit", "mara"), ("campaign.approve", "abe"),
        ("campaign.pause", "mara"), ("campaign.resume", "mara"), ("campaign.cancel", "mara"),
    ]  # fmt: skip
    assert AuditEntry.objects.get(action="campaign.reject").details["comment"] == "Say which shoes."


def test_adding_a_user_to_a_role_in_the_admin_is_recorded_with_the_administrator(admin_client_for, superuser, marketer):
    client = admin_client_for(superuser)
    approver_role = Group.objects.get(name="Approver")
    form = {
        "username": "mara", "first_name": "", "last_name": "", "email": "", "is_active": "on", "is_staff": "on",
        "groups": [marketer.groups.get().pk, approver_role.pk], "date_joined_0": "2026-01-01", "date_joined_1": "10:00:00",
    }  # fmt: skip

    response = client.post(f"/admin/auth/user/{marketer.pk}/change/", form)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    entry = AuditEntry.objects.get(action="auth.role_add", object_id=str(marketer.pk), actor=superuser)
    assert entry.details == {"user": "mara", "roles": ["Approver"]}
    assert entry.ip_address == client.defaults["REMOTE_ADDR"]

    form["groups"] = [approver_role.pk]
    form["is_superuser"] = "on"
    client.post(f"/admin/auth/user/{marketer.pk}/change/", form)

    removed = AuditEntry.objects.get(action="auth.role_remove", object_id=str(marketer.pk))
    assert (removed.actor, removed.details["roles"]) == (superuser, ["Marketer"])
    flags = AuditEntry.objects.get(action="auth.user_flags", object_id=str(marketer.pk))
    assert (flags.actor, flags.details["changes"]) == (superuser, {"is_superuser": [False, True]})


def test_changing_a_roles_permissions_in_the_admin_is_recorded(admin_client_for, superuser):
    client = admin_client_for(superuser)
    support_role = Group.objects.get(name="Support")
    permissions = list(support_role.permissions.values_list("pk", flat=True))
    extra = Permission.objects.get(codename="add_contact")

    client.post(f"/admin/auth/group/{support_role.pk}/change/", {"name": "Support", "permissions": [*permissions, extra.pk]})

    entry = AuditEntry.objects.get(action="auth.role_permission_add", actor=superuser)
    assert (entry.object_type, entry.object_id, entry.details) == (
        "group", str(support_role.pk), {"role": "Support", "permissions": ["consent.add_contact"]},
    )  # fmt: skip


def test_permissions_given_to_a_user_directly_are_recorded(marketer):
    marketer.user_permissions.add(Permission.objects.get(codename="erase_contact"))

    entry = AuditEntry.objects.get(action="auth.user_permission_add")
    assert (entry.actor_label, entry.details) == ("system", {"user": "mara", "permissions": ["consent.erase_contact"]})


def test_a_new_staff_account_is_recorded(db):
    User.objects.create_user(username="newbie", password="x", is_staff=True)

    entry = AuditEntry.objects.get(action="auth.user_create")
    assert entry.details == {"user": "newbie", "is_active": True, "is_staff": True, "is_superuser": False}


def test_audit_entries_cannot_be_changed_or_deleted_by_the_application(marketer):
    entry = AuditEntry.objects.filter(object_id=str(marketer.pk)).first()

    entry.details = {"forged": True}
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    assert AuditEntry.objects.get(pk=entry.pk).details != {"forged": True}


def test_support_filters_the_audit_log_by_area_and_object_type(admin_client_for, support, marketer):
    marketer.groups.add(Group.objects.get(name="Approver"))
    client = admin_client_for(support)

    by_area = client.get("/admin/core/auditentry/", {"area": "auth"}).context["cl"].result_list
    by_type = client.get("/admin/core/auditentry/", {"object_type__exact": "group"}).context["cl"].result_list

    assert {e.action.split(".")[0] for e in by_area} == {"auth"}
    assert "auth.role_add" in {e.action for e in by_area}
    assert all(e.object_type == "group" for e in by_type)
    detail = client.get(f"/admin/core/auditentry/{by_area[0].pk}/change/")
    assert detail.status_code == 200 and "<pre>" in detail.content.decode()
