"""The campaigns REST API: events, segments, campaigns with four-eyes approval, reports, permissions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Event, Message, MessageStatus, Segment
from consent.models import ConsentState, Contact
from tests.factories import api_client, contacts_create, phone

pytestmark = pytest.mark.django_db

SALE = {"name": "Spring sale", "template": "spring_sale", "language": "en_US",
        "parameters": [{"field": "name", "fallback": "there"}, {"value": "20%"}]}  # fmt: skip


@pytest.fixture
def draft(as_marketer, spring_sale, everyone) -> dict:
    response = as_marketer.post("/api/v1/campaigns", {**SALE, "segment": everyone.pk}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.fixture
def submitted(as_marketer, draft) -> dict:
    response = as_marketer.post(f"/api/v1/campaigns/{draft['id']}/submit")
    assert response.status_code == 200, response.json()
    return response.json()


# --- permissions: every endpoint refuses no token (401) and the wrong role (403) --------------------

ENDPOINTS = [
    # method, path, payload, a role that may not
    ("post", "/api/v1/events", [], "support"),
    ("get", "/api/v1/segments", None, "outsider"),
    ("post", "/api/v1/segments", {"name": "x", "rules": {"all": []}}, "support"),
    ("post", "/api/v1/segments/preview", {"rules": {"all": []}}, "outsider"),
    ("get", "/api/v1/segments/{segment}", None, "outsider"),
    ("patch", "/api/v1/segments/{segment}", {"description": "y"}, "support"),
    ("delete", "/api/v1/segments/{segment}", None, "approver"),
    ("get", "/api/v1/segments/{segment}/count", None, "outsider"),
    ("get", "/api/v1/campaigns", None, "outsider"),
    ("post", "/api/v1/campaigns", {}, "support"),
    ("get", "/api/v1/campaigns/{campaign}", None, "outsider"),
    ("patch", "/api/v1/campaigns/{campaign}", {"name": "z"}, "approver"),
    ("post", "/api/v1/campaigns/{campaign}/submit", None, "support"),
    ("post", "/api/v1/campaigns/{campaign}/approve", None, "marketer"),
    ("post", "/api/v1/campaigns/{campaign}/reject", {"comment": "no"}, "support"),
    ("post", "/api/v1/campaigns/{campaign}/pause", None, "support"),
    ("post", "/api/v1/campaigns/{campaign}/resume", None, "approver"),
    ("post", "/api/v1/campaigns/{campaign}/cancel", None, "support"),
    ("get", "/api/v1/campaigns/{campaign}/report", None, "outsider"),
    ("get", "/api/v1/campaigns/{campaign}/dry-run", None, "outsider"),
    ("get", "/api/v1/contacts/{contact}/messages", None, "outsider"),
]


@pytest.mark.parametrize(("method", "path", "payload", "wrong_role"), ENDPOINTS)
def test_every_endpoint_needs_a_token_and_the_right_role(method, path, payload, wrong_role, request, draft, everyone):
    (contact,) = contacts_create(1)
    url = path.format(segment=everyone.pk, campaign=draft["id"], contact=contact.pk)
    assert getattr(api_client(), method)(url, payload, format="json").status_code == 401
    response = getattr(api_client(request.getfixturevalue(wrong_role)), method)(url, payload, format="json")
    assert response.status_code == 403
    assert "role" in response.json()["detail"]


# --- events ----------------------------------------------------------------------------------------


def test_an_event_batch_accepts_good_items_and_rejects_bad_ones_one_by_one(as_marketer):
    (known,) = contacts_create(1)
    now = timezone.now().isoformat()
    batch = [
        {"phone": known.phone, "name": "product_viewed", "properties": {"sku": "X"}, "occurred_at": now},
        {"phone": "0049 151 99999991", "name": "purchase", "properties": {"sku": "X"}, "occurred_at": now},
        {"phone": "12", "name": "purchase", "occurred_at": now},
        {"phone": known.phone, "name": "has spaces", "occurred_at": now},
        {"phone": known.phone, "name": "purchase", "occurred_at": "yesterday"},
        {"phone": known.phone, "name": "purchase", "occurred_at": "2026-01-01T10:00:00"},
        {"phone": known.phone, "name": "purchase", "occurred_at": (timezone.now() + timedelta(days=1)).isoformat()},
        {"phone": known.phone, "name": "purchase", "properties": [1], "occurred_at": now},
        {"phone": known.phone, "name": "purchase", "occured_at": now},
        "not an object",
    ]
    response = as_marketer.post("/api/v1/events", {"events": batch}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2 and body["contacts_created"] == 1
    reasons = {item["index"]: item["reason"] for item in body["rejected"]}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8, 9]
    assert reasons[2].startswith("phone:")
    assert "name:" in reasons[3]
    assert "ISO 8601" in reasons[4]
    assert "time zone offset" in reasons[5]
    assert "future" in reasons[6]
    assert "properties" in reasons[7]
    assert "occured_at" in reasons[8]
    new_contact = Contact.objects.get(phone="+4915199999991")
    assert not ConsentState.objects.filter(contact=new_contact).exists()  # an event is no consent
    assert Event.objects.filter(contact=known, name="product_viewed", properties={"sku": "X"}).count() == 1


def test_an_event_batch_may_be_a_bare_list_of_at_most_1000(as_marketer):
    (known,) = contacts_create(1)
    item = {"phone": known.phone, "name": "visit", "occurred_at": timezone.now().isoformat()}
    assert as_marketer.post("/api/v1/events", [item] * 1000, format="json").json()["accepted"] == 1000
    response = as_marketer.post("/api/v1/events", [item] * 1001, format="json")
    assert response.status_code == 400
    assert Event.objects.count() == 1000


# --- segments --------------------------------------------------------------------------------------


def test_segments_are_saved_counted_and_sampled(as_marketer):
    contacts_create(3)
    rules = {"all": [{"country": "DE"}, {"not": {"event": "purchase", "within_days": 7}}]}
    created = as_marketer.post("/api/v1/segments", {"name": "German non-buyers", "rules": rules}, format="json")
    assert created.status_code == 201
    segment_id = created.json()["id"]
    count = as_marketer.get(f"/api/v1/segments/{segment_id}/count").json()
    assert count["count"] == 3 and len(count["sample"]) == 3 and count["sample"][0]["phone"] == phone(0)

    changed = as_marketer.patch(f"/api/v1/segments/{segment_id}", {"rules": {"country": "FR"}}, format="json")
    assert changed.status_code == 200
    assert as_marketer.get(f"/api/v1/segments/{segment_id}/count").json() == {"count": 0, "sample": []}
    preview = as_marketer.post("/api/v1/segments/preview", {"rules": {"country": "DE"}}, format="json")
    assert preview.json()["count"] == 3


def test_invalid_segment_rules_are_refused_with_the_path(as_marketer):
    response = as_marketer.post(
        "/api/v1/segments", {"name": "bad", "rules": {"all": [{"event": "purchase", "within_days": "7"}]}}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["path"] == "rules.all[0].within_days"
    assert "whole number of days" in response.json()["detail"]
    assert not Segment.objects.exists()


# --- campaigns: four eyes --------------------------------------------------------------------------


def test_a_campaign_goes_from_draft_to_approval_and_starts_when_approved(as_approver, submitted, django_capture_on_commit_callbacks):
    assert submitted["status"] == "pending_approval"
    with django_capture_on_commit_callbacks() as callbacks:
        response = as_approver.post(f"/api/v1/campaigns/{submitted['id']}/approve")
    assert response.status_code == 200
    assert response.json()["status"] == "scheduled" and response.json()["approved_by"] == "abe"
    # The launch task, queued once the approval is committed (beside the author's approval e-mail).
    assert [c.__qualname__ for c in callbacks if "launch" in c.__qualname__] == ["_launch_enqueue.<locals>.<lambda>"]


def test_the_author_cannot_approve_even_with_the_approver_role(marketer, submitted):
    from django.contrib.auth.models import Group

    marketer.groups.add(Group.objects.get(name="Approver"))
    response = api_client(marketer).post(f"/api/v1/campaigns/{submitted['id']}/approve")
    assert response.status_code == 403
    assert "second person" in response.json()["detail"]
    assert Campaign.objects.get(pk=submitted["id"]).status == "pending_approval"


def test_support_and_marketers_cannot_approve(as_support, marketer, submitted):
    assert as_support.post(f"/api/v1/campaigns/{submitted['id']}/approve").status_code == 403
    other_marketer = api_client(type(marketer).objects.create_user("mo", is_staff=True))
    other_marketer.credentials()  # no token at all
    assert other_marketer.post(f"/api/v1/campaigns/{submitted['id']}/approve").status_code == 401
    assert Campaign.objects.get(pk=submitted["id"]).status == "pending_approval"


def test_a_change_after_approval_sends_the_campaign_back_to_draft(as_marketer, as_approver, submitted, everyone):
    campaign_id = submitted["id"]
    future = (timezone.now() + timedelta(days=1)).isoformat()
    as_marketer.patch(f"/api/v1/campaigns/{campaign_id}", {"send_at": future}, format="json")
    assert Campaign.objects.get(pk=campaign_id).status == "draft"  # changed while pending
    as_marketer.post(f"/api/v1/campaigns/{campaign_id}/submit")
    approved = as_approver.post(f"/api/v1/campaigns/{campaign_id}/approve").json()
    assert approved["status"] == "scheduled"

    response = as_marketer.patch(f"/api/v1/campaigns/{campaign_id}", {"parameters": [{"field": "name"}, {"value": "30%"}]}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "draft" and body["approved_by"] is None
    assert "changed after submission" in body["status_reason"]


def test_changing_the_segment_voids_the_approval_of_campaigns_using_it(as_marketer, as_approver, submitted, everyone):
    as_marketer.patch(f"/api/v1/segments/{everyone.pk}", {"rules": {"country": "DE"}}, format="json")
    campaign = Campaign.objects.get(pk=submitted["id"])
    assert campaign.status == "draft" and "segment" in campaign.status_reason
    assert as_approver.post(f"/api/v1/campaigns/{campaign.pk}/approve").status_code == 400


def test_a_rejection_needs_a_comment_and_returns_the_campaign_to_its_author(as_approver, submitted):
    url = f"/api/v1/campaigns/{submitted['id']}/reject"
    assert as_approver.post(url, {"comment": "  "}, format="json").status_code == 400
    response = as_approver.post(url, {"comment": "Say which products"}, format="json")
    assert response.json()["status"] == "draft" and response.json()["rejection_comment"] == "Say which products"


def test_a_campaign_with_a_future_send_at_waits_for_its_time(as_marketer, as_approver, spring_sale, everyone, django_capture_on_commit_callbacks):
    send_at = timezone.now() + timedelta(hours=2)
    created = as_marketer.post(
        "/api/v1/campaigns", {**SALE, "segment": everyone.pk, "send_at": send_at.isoformat(), "local_time": "10:30"}, format="json"
    ).json()
    assert created["local_time"] == "10:30"
    as_marketer.post(f"/api/v1/campaigns/{created['id']}/submit")
    with django_capture_on_commit_callbacks() as callbacks:
        approved = as_approver.post(f"/api/v1/campaigns/{created['id']}/approve").json()
    assert approved["status"] == "scheduled" and not [c for c in callbacks if "launch" in c.__qualname__]  # beat starts it at send_at


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"template": "nope"}, "template", "No template"),
        ({"template": "restock_alert"}, "template", "paused"),
        ({"parameters": [{"field": "name"}]}, "parameters", "2 body parameter(s)"),
        ({"parameters": [{"field": "email"}, {"value": "x"}]}, "parameters", "unknown field 'email'"),
        ({"parameters": [{"attribute": "a__b"}, {"value": "x"}]}, "parameters", "not a usable name"),
        ({"segment": 999999}, "segment", "No segment"),
        ({"max_per_day": 2}, "max_per_day", "only be stricter"),
    ],
)
def test_a_campaign_that_could_not_be_sent_is_refused_with_the_field(as_marketer, spring_sale, templates, everyone, change, field, fragment):
    response = as_marketer.post("/api/v1/campaigns", {**SALE, "segment": everyone.pk, **change}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert fragment in str(body.get("detail", body.get(field)))
    assert body.get("field", field) == field


def test_pause_resume_and_cancel(as_marketer, submitted):
    campaign = Campaign.objects.get(pk=submitted["id"])
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING, launched_at=timezone.now())
    (contact,) = contacts_create(1)
    Message.objects.create(campaign=campaign, contact=contact)
    assert as_marketer.post(f"/api/v1/campaigns/{campaign.pk}/pause").json()["status"] == "paused"
    assert as_marketer.post(f"/api/v1/campaigns/{campaign.pk}/pause").status_code == 400
    assert as_marketer.post(f"/api/v1/campaigns/{campaign.pk}/resume").json()["status"] == "sending"
    assert as_marketer.post(f"/api/v1/campaigns/{campaign.pk}/cancel").json()["status"] == "cancelled"
    assert Message.objects.get(campaign=campaign).skip_reason == "cancelled"


# --- reports -----------------------------------------------------------------------------------------


def test_report_dry_run_and_a_persons_messages(as_marketer, as_support, draft):
    ana, ben = contacts_create(2)
    campaign = Campaign.objects.get(pk=draft["id"])
    now = timezone.now()
    Message.objects.create(campaign=campaign, contact=ana, status=MessageStatus.READ, decision={"reason": "eligible", "consent_event": 1})
    Message.objects.create(campaign=campaign, contact=ben, status=MessageStatus.FAILED, error_code=131026, failed_at=now)

    report = as_marketer.get(f"/api/v1/campaigns/{campaign.pk}/report").json()
    assert report["status"] == "draft"
    assert report["counts"] == {"queued": 0, "sent": 0, "delivered": 0, "read": 1, "failed": 1, "skipped": 0, "unknown": 0}
    assert report["failed_by_code"] == {"131026": 1}

    dry_run = as_marketer.get(f"/api/v1/campaigns/{campaign.pk}/dry-run").json()
    assert dry_run["audience"] == 2
    assert set(dry_run["exclusions"]) == {
        "no_consent", "opted_out", "suppressed", "frequency_cap", "quiet_hours_deferral", "invalid_number", "missing_parameter",
        "us_marketing_blocked",
    }  # fmt: skip
    assert dry_run["estimated_duration_seconds"] >= 0 and dry_run["send_rate_per_second"] == 80

    messages = as_support.get(f"/api/v1/contacts/{ana.pk}/messages").json()
    assert messages[0]["status"] == "read" and messages[0]["decision"]["consent_event"] == 1
    assert messages[0]["campaign_name"] == "Spring sale"
