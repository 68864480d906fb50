"""Approvers are told of a submitted campaign by e-mail and see it "waiting for you" on the admin home;
authors hear of the decision; a campaign can be cloned into a new draft of the cloning user."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from django.utils import timezone

from campaigns.models import Campaign
from core.models import AuditEntry
from tests.factories import api_client

pytestmark = pytest.mark.django_db

SALE = {"name": "Spring sale", "template": "spring_sale", "language": "en_US",
        "parameters": [{"field": "name", "fallback": "there"}, {"value": "20%"}]}  # fmt: skip


@pytest.fixture
def author(marketer) -> User:
    marketer.email = "mara@shop.example"
    marketer.save()
    return marketer


@pytest.fixture
def reviewer(approver) -> User:
    approver.email = "abe@shop.example"
    approver.save()
    return approver


@pytest.fixture
def draft(author, spring_sale, everyone) -> int:
    send_at = (timezone.now() + timedelta(days=1)).isoformat()
    created = api_client(author).post("/api/v1/campaigns", {**SALE, "segment": everyone.pk, "send_at": send_at}, format="json")
    assert created.status_code == 201, created.json()
    return created.json()["id"]


@pytest.fixture
def submitted(author, reviewer, draft, django_capture_on_commit_callbacks) -> int:
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client(author).post(f"/api/v1/campaigns/{draft}/submit").status_code == 200
    return draft


def test_submitting_mails_every_approver_but_not_the_author(author, reviewer, draft, django_capture_on_commit_callbacks):
    second = User.objects.create_user(username="ada", email="ada@shop.example", is_staff=True)
    second.groups.add(Group.objects.get(name="Approver"))
    # The author has the approver role too: they may never approve their own campaign, so no mail for them.
    author.groups.add(Group.objects.get(name="Approver"))

    with django_capture_on_commit_callbacks(execute=True):
        assert api_client(author).post(f"/api/v1/campaigns/{draft}/submit").status_code == 200

    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sorted(sent.to) == ["abe@shop.example", "ada@shop.example"]
    assert sent.subject == "Waiting for your approval: Spring sale"
    assert f"/admin/campaigns/campaign/{draft}/review/" in sent.body


def test_the_author_hears_of_the_approval(reviewer, submitted, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client(reviewer).post(f"/api/v1/campaigns/{submitted}/approve").status_code == 200
    assert [(m.to, m.subject) for m in mail.outbox] == [(["mara@shop.example"], "Approved: Spring sale")]
    assert "abe approved" in mail.outbox[0].body


def test_the_author_hears_of_the_rejection_with_its_comment(reviewer, submitted, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(reviewer).post(f"/api/v1/campaigns/{submitted}/reject", {"comment": "Say when the sale ends."}, format="json")
    assert response.status_code == 200
    assert [(m.to, m.subject) for m in mail.outbox] == [(["mara@shop.example"], "Not approved: Spring sale")]
    assert "Say when the sale ends." in mail.outbox[0].body


def test_a_mail_server_that_is_down_does_not_stop_the_submission(author, reviewer, draft, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 1  # nothing listens on the discard port

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(author).post(f"/api/v1/campaigns/{draft}/submit")

    assert response.status_code == 200
    assert Campaign.objects.get(pk=draft).status == Campaign.Status.PENDING_APPROVAL


def test_the_admin_home_shows_waiting_for_you_to_an_approver_only(author, reviewer, submitted, admin_client_for):
    home = admin_client_for(reviewer).get("/admin/")
    assert home.status_code == 200
    page = home.content.decode()
    assert "Waiting for you" in page
    assert f"/admin/campaigns/campaign/{submitted}/review/" in page

    assert "Waiting for you" not in admin_client_for(author).get("/admin/").content.decode()


def test_the_home_no_longer_lists_a_decided_campaign(reviewer, submitted, admin_client_for):
    assert api_client(reviewer).post(f"/api/v1/campaigns/{submitted}/approve").status_code == 200
    assert "Waiting for you" not in admin_client_for(reviewer).get("/admin/").content.decode()


def test_clone_makes_a_draft_of_the_cloning_user_with_the_same_settings(author, reviewer, submitted, admin_client_for):
    original = Campaign.objects.get(pk=submitted)
    original.local_time, original.max_per_day = time(10, 30), 1
    Campaign.objects.filter(pk=submitted).update(local_time=original.local_time, max_per_day=1)
    colleague = User.objects.create_user(username="cleo", is_staff=True)
    colleague.groups.add(Group.objects.get(name="Marketer"))

    response = admin_client_for(colleague).post(f"/admin/campaigns/campaign/{submitted}/lifecycle/clone/")

    clone = Campaign.objects.exclude(pk=submitted).get()
    assert response.status_code == 302 and response["Location"] == f"/admin/campaigns/campaign/{clone.pk}/build/"
    assert clone.status == Campaign.Status.DRAFT and clone.created_by == colleague and clone.name == "Copy of Spring sale"
    for field in ("template", "segment", "parameters", "tracked_url", "send_at", "local_time", "expires_at", "max_per_day", "max_per_week"):
        assert getattr(clone, field) == getattr(original, field), field
    entry = AuditEntry.objects.get(action="campaign.clone")
    assert entry.actor == colleague and entry.details == {"cloned_from": submitted} and entry.object_id == str(clone.pk)
    assert Campaign.objects.get(pk=submitted).status == Campaign.Status.PENDING_APPROVAL  # the original is untouched


def test_clone_from_the_change_list_and_not_for_a_support_user(author, support, draft, admin_client_for):
    listed = admin_client_for(author).post(
        "/admin/campaigns/campaign/", {"action": "clone_selected", "_selected_action": [draft]}, follow=True
    )
    assert listed.status_code == 200
    assert Campaign.objects.filter(name="Copy of Spring sale", created_by=author, status="draft").count() == 1

    refused = admin_client_for(support).post(f"/admin/campaigns/campaign/{draft}/lifecycle/clone/")
    assert refused.status_code == 403
    assert Campaign.objects.count() == 2
