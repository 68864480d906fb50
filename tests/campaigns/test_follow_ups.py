"""Follow-ups through the API and the admin pages: a campaign to the people its parent reached who did
not read (click, reply) within N days. Sending them with real workers: test_workers_follow_ups.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from campaigns.models import Campaign, MessageStatus
from campaigns.tracking import click_token
from tests.factories import campaign_with_messages, client_for, inbound

pytestmark = pytest.mark.django_db

OUTCOMES = {"read": 3, "delivered": 4, "accepted": 2, "skipped:no_consent": 2, "failed:131026": 1, "queued": 1}
NOT_READ = 4 + 2  # delivered or accepted, not read: never the skipped, failed or still queued ones


@pytest.fixture
def parent(spring_sale, marketer, no_quiet_hours):
    """A campaign that started four days ago, its messages in every state."""
    campaign, messages = campaign_with_messages(
        spring_sale, outcomes=OUTCOMES, author=marketer, launched_at=timezone.now() - timedelta(days=4)
    )
    return campaign


def follow_up_via_api(client, parent: Campaign, **fields):
    return client.post(f"/api/v1/campaigns/{parent.pk}/follow-ups", {"condition": "not_read", "delay_days": 3, **fields}, format="json")


def test_a_follow_up_is_a_draft_linked_to_its_parent_with_the_parents_message(as_marketer, parent):
    created = follow_up_via_api(as_marketer, parent)

    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "draft"
    assert (body["follow_up_of"], body["follow_up_condition"], body["follow_up_delay_days"]) == (parent.pk, "not_read", 3)
    assert body["segment"] is None
    assert body["name"] == "Follow-up of Spring"
    assert (body["template"], body["parameters"], body["tracked_url"]) == ("spring_sale", parent.parameters, parent.tracked_url)
    # It starts as early as it may: the parent's start plus the delay (up to the minute).
    send_at = parse_datetime(body["send_at"])
    assert send_at is not None and send_at - timedelta(minutes=1) < parent.launched_at + timedelta(days=3) <= send_at
    assert as_marketer.get(f"/api/v1/campaigns/{parent.pk}").json()["follow_ups"] == [body["id"]]
    listed = as_marketer.get(f"/api/v1/campaigns/{parent.pk}/follow-ups").json()
    assert [c["id"] for c in listed] == [body["id"]]


def test_its_audience_is_the_parents_recipients_who_did_not_read(as_marketer, parent):
    follow_up_id = follow_up_via_api(as_marketer, parent).json()["id"]

    dry_run = as_marketer.get(f"/api/v1/campaigns/{follow_up_id}/dry-run").json()

    assert dry_run["audience"] == NOT_READ
    # The factory's parent messages went out minutes ago: today's cap of one defers every follow-up.
    assert dry_run["exclusions"]["frequency_cap"] == NOT_READ
    assert dry_run["eligible"] == 0


def test_not_clicked_leaves_out_who_clicked_and_not_replied_who_wrote_to_us(as_marketer, parent, client):
    sent = list(parent.messages.filter(status__in=[MessageStatus.READ, MessageStatus.DELIVERED]).order_by("pk"))
    clicked = client.get(f"/r/{click_token(message_id=sent[0].pk, campaign_id=parent.pk)}")
    assert clicked.status_code == 302
    inbound(sent[1].contact, "Is the offer still on?", minutes_ago=1)

    not_clicked = follow_up_via_api(as_marketer, parent, condition="not_clicked").json()["id"]
    not_replied = follow_up_via_api(as_marketer, parent, condition="not_replied").json()["id"]

    sent_count = 3 + 4 + 2  # read, delivered or accepted
    assert as_marketer.get(f"/api/v1/campaigns/{not_clicked}/dry-run").json()["audience"] == sent_count - 1
    assert as_marketer.get(f"/api/v1/campaigns/{not_replied}/dry-run").json()["audience"] == sent_count - 1


def test_it_cannot_start_before_the_delay_has_passed_since_the_parent_started(as_marketer, parent):
    too_early = (parent.launched_at + timedelta(days=2)).isoformat()

    refused = follow_up_via_api(as_marketer, parent, send_at=too_early)

    assert refused.status_code == 400
    assert refused.json()["field"] == "send_at"
    assert "at the earliest" in refused.json()["detail"]
    follow_up_id = follow_up_via_api(as_marketer, parent, delay_days=7).json()["id"]
    moved = as_marketer.patch(f"/api/v1/campaigns/{follow_up_id}", {"send_at": too_early}, format="json")
    assert moved.status_code == 400 and moved.json()["field"] == "send_at"


def test_a_campaign_that_has_not_started_has_no_follow_up_yet(as_marketer, spring_sale, marketer):
    draft, _ = campaign_with_messages(spring_sale, outcomes={}, author=marketer, status=Campaign.Status.DRAFT, launched_at=None)

    refused = follow_up_via_api(as_marketer, draft)

    assert refused.status_code == 400
    assert refused.json()["field"] == "follow_up_of"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"condition": "opened"}, "condition"),
        ({"delay_days": 0}, "delay_days"),
        ({"delay_days": 91}, "delay_days"),
        ({"template": "spring_sale"}, "template"),
        ({"template": "nope", "language": "en_US"}, "template"),
    ],
)
def test_bad_input_gets_a_clear_error(as_marketer, parent, fields, field):
    refused = follow_up_via_api(as_marketer, parent, **fields)

    assert refused.status_code == 400
    assert field in refused.json()


def test_a_follow_up_takes_no_segment(as_marketer, parent, everyone):
    follow_up_id = follow_up_via_api(as_marketer, parent).json()["id"]

    refused = as_marketer.patch(f"/api/v1/campaigns/{follow_up_id}", {"segment": everyone.pk}, format="json")

    assert refused.status_code == 400
    assert refused.json()["field"] == "segment"


def test_it_needs_its_own_approval_and_its_author_cannot_give_it(as_marketer, as_approver, parent, marketer, approver):
    follow_up_id = follow_up_via_api(as_marketer, parent).json()["id"]
    assert as_marketer.post(f"/api/v1/campaigns/{follow_up_id}/submit").status_code == 200
    # The parent's approver approved the parent, not this: it waits for a review of its own.
    assert as_marketer.get(f"/api/v1/campaigns/{follow_up_id}").json()["status"] == "pending_approval"

    # Even with the Approver role, its author may not approve it.
    marketer.groups.add(Group.objects.get(name="Approver"))
    refused = as_marketer.post(f"/api/v1/campaigns/{follow_up_id}/approve")
    assert refused.status_code == 403
    assert "four-eyes" in refused.json()["detail"]

    approved = as_approver.post(f"/api/v1/campaigns/{follow_up_id}/approve")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["approved_by"] == approver.username


def test_the_results_page_creates_a_follow_up_and_both_pages_link_each_other(marketer, parent):
    client = client_for(marketer)
    live_url = reverse("admin:campaigns_campaign_live", args=[parent.pk])
    page = client.get(live_url)
    assert b"Create follow-up" in page.content

    created = client.post(reverse("admin:campaigns_campaign_follow_up", args=[parent.pk]), {"condition": "not_read", "delay_days": "3", "name": "Reminder"})

    follow_up = Campaign.objects.get(follow_up_of=parent)
    assert created.status_code == 302 and created["Location"] == reverse("admin:campaigns_campaign_build", args=[follow_up.pk])
    assert follow_up.name == "Reminder" and follow_up.created_by == marketer
    builder = client.get(created["Location"]).content.decode()
    assert "did not read it within 3 days" in builder
    assert f"<strong>{NOT_READ}</strong> people would be followed up now" in builder
    assert f'href="{live_url}"' in builder  # the follow-up shows its parent
    listed = client.get(live_url).content.decode()
    assert f'href="{reverse("admin:campaigns_campaign_live", args=[follow_up.pk])}">Reminder</a>' in listed


def test_the_results_page_says_why_a_follow_up_was_not_created(marketer, parent):
    client = client_for(marketer)

    answer = client.post(reverse("admin:campaigns_campaign_follow_up", args=[parent.pk]), {"condition": "not_read", "delay_days": "soon"}, follow=True)

    assert "Follow-up not created: Give the delay as a whole number of days." in answer.content.decode()
    assert not Campaign.objects.filter(follow_up_of=parent).exists()


def test_the_builder_saves_a_follow_up_without_asking_for_a_segment(marketer, parent, spring_sale):
    client = client_for(marketer)
    client.post(reverse("admin:campaigns_campaign_follow_up", args=[parent.pk]), {"condition": "not_read", "delay_days": "3"})
    follow_up = Campaign.objects.get(follow_up_of=parent)

    saved = client.post(
        reverse("admin:campaigns_campaign_build", args=[follow_up.pk]),
        {"name": "Last chance", "template": spring_sale.pk, "param_0_source": "field", "param_0_key": "name",
         "param_1_source": "value", "param_1_key": "30%", "action": "submit"},
    )  # fmt: skip

    assert saved.status_code == 302, saved.content.decode()[:3000]
    follow_up.refresh_from_db()
    assert follow_up.status == Campaign.Status.PENDING_APPROVAL
    assert follow_up.parameters[1] == {"value": "30%"}
    assert follow_up.send_at == follow_up.follow_up_earliest()


def test_an_approved_follow_up_waits_for_its_days_to_pass(as_marketer, as_approver, parent):
    follow_up_id = follow_up_via_api(as_marketer, parent, delay_days=7).json()["id"]
    as_marketer.post(f"/api/v1/campaigns/{follow_up_id}/submit")

    approved = as_approver.post(f"/api/v1/campaigns/{follow_up_id}/approve").json()

    # The parent started 4 days ago: three more to go before anyone is counted or messaged.
    assert approved["status"] == "scheduled"
    assert parse_datetime(approved["send_at"]) >= parent.launched_at + timedelta(days=7) > timezone.now()
    assert not Campaign.objects.get(pk=follow_up_id).messages.exists()


def test_a_cloned_follow_up_follows_up_the_same_campaign(as_marketer, parent, marketer):
    original = follow_up_via_api(as_marketer, parent, condition="not_clicked").json()["id"]

    cloned = client_for(marketer).post(reverse("admin:campaigns_campaign_lifecycle", args=[original, "clone"]))

    assert cloned.status_code == 302
    copy = Campaign.objects.exclude(pk=original).get(follow_up_of=parent)
    assert (copy.follow_up_condition, copy.follow_up_delay_days, copy.segment) == ("not_clicked", 3, None)
    assert copy.status == Campaign.Status.DRAFT
