"""Four eyes means four eyes: nobody who wrote or changed a campaign since its last approval
approves it (superusers included), through the API, the admin and the builder; a change to an
approved campaign voids the approval; the approval's audit entry names every editor."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from campaigns.models import Campaign
from core.models import AuditEntry
from tests.factories import api_client, contacts_create

pytestmark = pytest.mark.django_db

SALE = {"name": "Spring sale", "template": "spring_sale", "language": "en_US",
        "parameters": [{"field": "name", "fallback": "there"}, {"value": "20%"}]}  # fmt: skip


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser(username="root", password="pw-root", email="root@example.com")


@pytest.fixture
def submitted(marketer, spring_sale, everyone) -> int:
    """Written and submitted by the marketer, to start a day from now (approval does not send)."""
    as_marketer = api_client(marketer)
    send_at = (timezone.now() + timedelta(days=1)).isoformat()
    created = as_marketer.post("/api/v1/campaigns", {**SALE, "segment": everyone.pk, "send_at": send_at}, format="json")
    assert created.status_code == 201, created.json()
    assert as_marketer.post(f"/api/v1/campaigns/{created.json()['id']}/submit").status_code == 200
    return created.json()["id"]


def test_a_superuser_who_changed_a_submitted_campaign_cannot_approve_it(superuser, approver, submitted):
    as_root = api_client(superuser)
    renamed = as_root.patch(f"/api/v1/campaigns/{submitted}", {"name": "Spring sale (final)"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["status"] == "pending_approval"  # the name is not approved content

    refused = as_root.post(f"/api/v1/campaigns/{submitted}/approve")
    assert refused.status_code == 403
    assert "You changed this campaign" in refused.json()["detail"]
    assert Campaign.objects.get(pk=submitted).status == "pending_approval"

    assert api_client(approver).post(f"/api/v1/campaigns/{submitted}/approve").status_code == 200
    entry = AuditEntry.objects.get(action="campaign.approve")
    assert entry.details["editors"] == ["mara", "root"]
    assert entry.actor == approver


def test_changing_an_approved_campaign_in_any_way_voids_the_approval(marketer, approver, submitted):
    assert api_client(approver).post(f"/api/v1/campaigns/{submitted}/approve").json()["status"] == "scheduled"

    response = api_client(marketer).patch(f"/api/v1/campaigns/{submitted}", {"name": "Spring sale!"}, format="json")

    body = response.json()
    assert (body["status"], body["approved_by"]) == ("draft", None)
    assert "changed after its approval (name)" in body["status_reason"]
    # The same values again are no change: nothing to approve anew.
    api_client(marketer).post(f"/api/v1/campaigns/{submitted}/submit")
    api_client(approver).post(f"/api/v1/campaigns/{submitted}/approve")
    again = api_client(marketer).patch(f"/api/v1/campaigns/{submitted}", {"name": "Spring sale!"}, format="json")
    assert again.json()["status"] == "scheduled"


def test_an_approver_who_changed_the_audience_rules_cannot_approve(superuser, marketer, approver, submitted, everyone):
    as_root = api_client(superuser)
    assert as_root.patch(f"/api/v1/segments/{everyone.pk}", {"rules": {"country": "DE"}}, format="json").status_code == 200
    assert Campaign.objects.get(pk=submitted).status == "draft"
    api_client(marketer).post(f"/api/v1/campaigns/{submitted}/submit")

    assert as_root.post(f"/api/v1/campaigns/{submitted}/approve").status_code == 403
    assert api_client(approver).post(f"/api/v1/campaigns/{submitted}/approve").status_code == 200
    assert AuditEntry.objects.get(action="campaign.approve").details["editors"] == ["mara", "root"]


def test_an_edit_in_the_admin_keeps_the_editor_from_approving_there(client, superuser, submitted, spring_sale, everyone):
    client.force_login(superuser)
    form = {
        "name": "Spring sale", "template": spring_sale.pk, "segment": everyone.pk,
        "parameters": json.dumps(SALE["parameters"]), "tracked_url": "",
        "send_at_0": "", "send_at_1": "", "local_time": "", "expires_at_0": "", "expires_at_1": "",
        "max_per_day": "1", "max_per_week": "",
    }  # fmt: skip
    campaign = Campaign.objects.get(pk=submitted)
    form["send_at_0"], form["send_at_1"] = campaign.send_at.strftime("%Y-%m-%d"), campaign.send_at.strftime("%H:%M:%S")
    response = client.post(f"/admin/campaigns/campaign/{submitted}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Campaign.objects.get(pk=submitted).status == "draft"  # the cap is approved content
    client.post(f"/admin/campaigns/campaign/{submitted}/lifecycle/submit/")

    page = client.get(f"/admin/campaigns/campaign/{submitted}/change/").content.decode()
    assert 'value="submit"' not in page and 'value="approve"' not in page
    review = client.get(f"/admin/campaigns/campaign/{submitted}/review/").content.decode()
    assert "You changed this campaign since it was last approved, so another approver must approve it (four eyes)." in review
    response = client.post(f"/admin/campaigns/campaign/{submitted}/lifecycle/approve/", follow=True)
    assert "You changed this campaign" in response.content.decode()
    assert Campaign.objects.get(pk=submitted).status == "pending_approval"


def test_an_approver_who_edits_in_the_builder_cannot_approve(marketer, approver, submitted, spring_sale, everyone):
    contacts_create(1)
    approver.groups.add(Group.objects.get(name="Marketer"))  # may edit campaigns too
    from tests.factories import client_for
    from tests.ui.test_builder import form_data

    client = client_for(approver)
    response = client.post(f"/admin/campaigns/campaign/{submitted}/build/", form_data(spring_sale, everyone, name="Spring sale", tracked_url="", action="submit"))
    assert response.status_code == 302
    assert Campaign.objects.get(pk=submitted).status == "pending_approval"

    refused = api_client(approver).post(f"/api/v1/campaigns/{submitted}/approve")
    assert refused.status_code == 403 and "You changed this campaign" in refused.json()["detail"]
