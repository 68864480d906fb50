"""The campaigns admin through the Django test client: segments, campaigns' lifecycle, policy, messages."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group

from campaigns.models import Campaign, FrequencyCapPolicy, Message, MessageStatus, Segment
from campaigns.services import campaign_create
from core.audit import Actor
from tests.factories import contacts_create

pytestmark = pytest.mark.django_db


def logged_in(client, user):
    client.force_login(user)
    return client


CAMPAIGN_FORM = {
    "name": "Spring", "parameters": json.dumps([{"field": "name", "fallback": "there"}, {"value": "20%"}]),
    "tracked_url": "", "send_at_0": "", "send_at_1": "", "local_time": "", "expires_at_0": "", "expires_at_1": "",
    "max_per_day": "", "max_per_week": "",
}  # fmt: skip


def test_a_marketer_saves_a_segment_and_sees_its_audience(client, marketer):
    contacts_create(3)
    logged_in(client, marketer)
    bad = client.post("/admin/campaigns/segment/add/", {"name": "x", "description": "", "rules": '{"all": [{"tag": 5}]}'})
    assert bad.status_code == 200
    assert "rules.all[0].tag: expected a tag name." in bad.content.decode()
    assert not Segment.objects.exists()

    response = client.post("/admin/campaigns/segment/add/", {"name": "Germans", "description": "", "rules": '{"country": "DE"}'})
    assert response.status_code == 302
    segment = Segment.objects.get()
    page = client.get(f"/admin/campaigns/segment/{segment.pk}/change/").content.decode()
    assert "<strong>3</strong> contacts match" in page
    assert "segment-live-count" in page and "/admin/campaigns/segment/builder/preview/" in page
    # The live count's endpoint answers the logged-in session.
    preview = client.post("/admin/campaigns/segment/builder/preview/", {"rules": {"country": "FR"}}, content_type="application/json")
    assert preview.json() == {"count": 0, "sample": []}


def test_campaign_lifecycle_in_the_admin_with_four_eyes(client, marketer, approver, spring_sale, everyone, no_quiet_hours):
    contacts_create(2)
    logged_in(client, marketer)
    campaign = campaign_create(
        actor=Actor(user=marketer), name="Spring", template=spring_sale, segment=everyone,
        parameters=[{"field": "name", "fallback": "there"}, {"value": "20%"}],
    )  # fmt: skip
    assert (campaign.status, campaign.created_by) == ("draft", marketer)

    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert 'value="submit"' in page and 'value="approve"' not in page
    assert "Audience <strong>2</strong>, eligible now <strong>2</strong>" in page  # the dry run
    assert "Hi Person 0, our spring sale is on: 20% off everything until Sunday." in page
    client.post(f"/admin/campaigns/campaign/{campaign.pk}/lifecycle/submit/")
    campaign.refresh_from_db()
    assert campaign.status == "pending_approval"

    # The author cannot approve, even holding the Approver role.
    marketer.groups.add(Group.objects.get(name="Approver"))
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert 'value="approve"' not in page
    response = client.post(f"/admin/campaigns/campaign/{campaign.pk}/lifecycle/approve/", follow=True)
    assert "second person must approve" in response.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == "pending_approval"

    logged_in(client, approver)
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert 'value="approve"' in page and 'value="reject"' in page
    client.post(f"/admin/campaigns/campaign/{campaign.pk}/lifecycle/reject/", {"comment": "Name the products"})
    campaign.refresh_from_db()
    assert (campaign.status, campaign.rejection_comment) == ("draft", "Name the products")

    logged_in(client, marketer)
    client.post(f"/admin/campaigns/campaign/{campaign.pk}/lifecycle/submit/")
    logged_in(client, approver)
    client.post(f"/admin/campaigns/campaign/{campaign.pk}/lifecycle/approve/")
    campaign.refresh_from_db()
    assert (campaign.status, campaign.approved_by) == ("scheduled", approver)

    # A change in the admin after approval sends it back to draft.
    logged_in(client, marketer)
    changed = {**CAMPAIGN_FORM, "template": spring_sale.pk, "segment": everyone.pk,
               "parameters": json.dumps([{"field": "name"}, {"value": "30%"}])}  # fmt: skip
    response = client.post(f"/admin/campaigns/campaign/{campaign.pk}/change/", changed, follow=True)
    assert "changed after submission" in response.content.decode()
    campaign.refresh_from_db()
    assert (campaign.status, campaign.approved_by) == ("draft", None)


def test_a_campaign_form_that_could_not_be_sent_shows_the_reason(client, marketer, spring_sale, everyone):
    campaign = campaign_create(
        actor=Actor(user=marketer), name="Spring", template=spring_sale, segment=everyone,
        parameters=[{"field": "name", "fallback": "there"}, {"value": "20%"}],
    )  # fmt: skip
    logged_in(client, marketer)
    form = {**CAMPAIGN_FORM, "template": spring_sale.pk, "segment": everyone.pk, "parameters": '[{"field": "name"}]'}
    response = client.post(f"/admin/campaigns/campaign/{campaign.pk}/change/", form)
    assert response.status_code == 200
    assert "the template has 2 body parameter(s)" in response.content.decode()
    assert Campaign.objects.get().parameters == [{"field": "name", "fallback": "there"}, {"value": "20%"}]


def test_a_paused_campaign_shows_its_reason_and_can_be_resumed(client, marketer, spring_sale, everyone):
    campaign = Campaign.objects.create(
        name="x", template=spring_sale, segment=everyone, parameters=[{"field": "name"}, {"value": "1"}],
        status=Campaign.Status.PAUSED, status_reason="WhatsApp refused the send with error 132015", created_by=marketer,
    )  # fmt: skip
    from campaigns.services import campaign_snapshot_hash

    Campaign.objects.filter(pk=campaign.pk).update(approval_hash=campaign_snapshot_hash(campaign), launched_at=campaign.created_at)
    logged_in(client, marketer)
    assert "Paused" in client.get("/admin/campaigns/campaign/").content.decode()
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert "error 132015" in page and 'value="resume"' in page
    client.post(f"/admin/campaigns/campaign/{campaign.pk}/lifecycle/resume/")
    assert Campaign.objects.get(pk=campaign.pk).status == "sending"


def test_support_sees_campaigns_but_cannot_act(client, support, spring_sale, everyone):
    campaign = Campaign.objects.create(name="x", template=spring_sale, segment=everyone, status=Campaign.Status.DRAFT)
    logged_in(client, support)
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    assert page.status_code == 200 and 'value="submit"' not in page.content.decode()
    assert client.post(f"/admin/campaigns/campaign/{campaign.pk}/lifecycle/submit/").status_code == 403
    assert client.get("/admin/campaigns/campaign/add/").status_code == 403
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"


def test_the_cap_policy_is_one_row_the_approver_may_tighten(client, approver, marketer):
    logged_in(client, marketer)
    policy_url = "/admin/campaigns/frequencycappolicy/1/change/"
    assert client.get("/admin/campaigns/frequencycappolicy/").url == policy_url
    response = client.post(policy_url, {"max_per_day": 2, "max_per_week": 3, "quiet_hours_start": "21:00", "quiet_hours_end": "09:00"})
    assert response.status_code == 403  # marketers only read it
    logged_in(client, approver)
    client.post(policy_url, {"max_per_day": 1, "max_per_week": 2, "quiet_hours_start": "20:00", "quiet_hours_end": "08:30"})
    policy = FrequencyCapPolicy.current()
    assert (policy.max_per_week, str(policy.quiet_hours_end)) == (2, "08:30:00")
    assert client.get("/admin/campaigns/frequencycappolicy/add/").status_code == 403


def test_messages_are_read_only_with_their_decision(client, support, spring_sale, everyone):
    (ana,) = contacts_create(1)
    campaign = Campaign.objects.create(name="x", template=spring_sale, segment=everyone)
    message = Message.objects.create(
        campaign=campaign, contact=ana, status=MessageStatus.SKIPPED, skip_reason="opted_out", decision={"reason": "opted_out", "consent_event": 7}
    )
    logged_in(client, support)
    listing = client.get("/admin/campaigns/message/")
    assert listing.status_code == 200 and "opted_out" in listing.content.decode()
    page = client.get(f"/admin/campaigns/message/{message.pk}/change/").content.decode()
    assert "&quot;consent_event&quot;: 7" in page
    assert client.post(f"/admin/campaigns/message/{message.pk}/change/", {}).status_code == 403
