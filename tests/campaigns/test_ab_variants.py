"""A/B variants, the hold-out and the attribution window, through the API, the builder and the sender."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Message, MessageStatus
from campaigns.services import campaign_launch
from campaigns.variants import group_of
from tests.factories import api_client, campaign_with_messages, client_for, contacts_create, tasks_run_eagerly

pytestmark = pytest.mark.django_db
# The sender commits as it goes (its tasks run after commit): these tests need real transactions.
COMMITTING = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PARAMETERS = [{"field": "name", "fallback": "there"}, {"value": "20%"}]
WELCOME_BACK = {"template": "welcome_back", "language": "en_US", "parameters": [{"field": "name", "fallback": "there"}, {"value": "HELLO10"}]}


@pytest.fixture
def eager(settings, no_quiet_hours):
    """Tasks run in this process as they are queued (the launch and the dispatchers)."""
    with tasks_run_eagerly(settings, batch_size=25):
        yield


def _create(client, segment, **fields):
    body = {"name": "Spring", "template": "spring_sale", "language": "en_US", "segment": segment.pk, "parameters": PARAMETERS, **fields}
    return client.post("/api/v1/campaigns", body, format="json")


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"variants": [{"share": 50}, {"share": 40}]}, "variants", "add up to 90"),
        ({"variants": [{"share": 20}] * 5}, "variants", "2 to 4 variants"),
        ({"variants": [{"share": 100}]}, "variants", "2 to 4 variants"),
        ({"variants": [{"share": 50}, {"share": 50, "template": "nope", "language": "en_US"}]}, "variants", "variant B: no template 'nope'"),
        ({"variants": [{"share": 50}, {"share": 50, "template": "restock_alert", "language": "en_US"}]}, "variants", "variant B: template"),
        ({"variants": [{"share": 50}, {"share": 50, "colour": "red"}]}, "variants", "unknown field(s) colour"),
        ({"variants": [{"share": 50}, {"share": 50, "template": "welcome_back", "language": "en_US", "parameters": []}]}, "variants", "variant B"),
        ({"control_percent": 60}, "control_percent", "from 0 to 50"),
        ({"conversion_window_days": 0}, "conversion_window_days", "from 1 to 90"),
        ({"conversion_event": "a purchase"}, "conversion_event", "event name"),
    ],
)
def test_a_variant_or_hold_out_that_cannot_be_sent_gets_a_clear_error(marketer, templates, everyone, fields, field, words):
    response = _create(api_client(marketer), everyone, **fields)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert words in response.json()["detail"]


def test_changing_a_variant_after_approval_needs_a_new_approval_but_the_conversion_window_does_not(marketer, approver, templates, everyone):
    as_marketer = api_client(marketer)
    created = _create(as_marketer, everyone, send_at=(timezone.now() + timedelta(days=3)).isoformat(),
                      variants=[{"share": 50}, {"share": 50, **WELCOME_BACK}], control_percent=10)  # fmt: skip
    assert created.status_code == 201, created.json()
    campaign_id = created.json()["id"]
    assert as_marketer.post(f"/api/v1/campaigns/{campaign_id}/submit").status_code == 200
    assert api_client(approver).post(f"/api/v1/campaigns/{campaign_id}/approve").json()["status"] == "scheduled"

    changed = as_marketer.patch(f"/api/v1/campaigns/{campaign_id}", {"conversion_window_days": 14}, format="json")
    assert (changed.json()["status"], changed.json()["conversion_window_days"]) == ("scheduled", 14)

    changed = as_marketer.patch(f"/api/v1/campaigns/{campaign_id}", {"variants": [{"share": 60}, {"share": 40, **WELCOME_BACK}]}, format="json")
    assert changed.json()["status"] == "draft"
    assert "submit it for approval again" in changed.json()["status_reason"]
    changed = as_marketer.patch(f"/api/v1/campaigns/{campaign_id}", {"control_percent": 20}, format="json")
    assert changed.json()["control_percent"] == 20


@COMMITTING
@pytest.mark.postgres
@pytest.mark.redis
def test_everyone_lands_in_one_group_by_the_split_the_hold_out_is_never_sent_and_variants_send_their_own_template(
    eager, sandbox, marketer, approver, templates, everyone
):
    contacts_create(400)
    as_marketer = api_client(marketer)
    created = _create(as_marketer, everyone, variants=[{"share": 70}, {"share": 30, **WELCOME_BACK}], control_percent=10)
    campaign_id = created.json()["id"]
    as_marketer.post(f"/api/v1/campaigns/{campaign_id}/submit")
    dry_run = as_marketer.get(f"/api/v1/campaigns/{campaign_id}/dry-run").json()
    api_client(approver).post(f"/api/v1/campaigns/{campaign_id}/approve")  # launched and sent by the eager tasks

    campaign = Campaign.objects.get(pk=campaign_id)
    messages = list(Message.objects.filter(campaign=campaign))
    groups = Counter(m.variant for m in messages)
    assert sum(groups.values()) == 400
    # The dry run placed the hold-out as the launch did: neither eligible nor priced.
    assert (dry_run["audience"], dry_run["held_out"], dry_run["eligible"]) == (400, groups["control"], 400 - groups["control"])
    assert sum(line["messages"] for line in dry_run["estimated_cost"]["by_market"]) == 400 - groups["control"]
    assert 20 <= groups["control"] <= 60 and 200 <= groups["A"] <= 300 and 70 <= groups["B"] <= 150, groups
    assert all(m.variant == group_of(campaign, m.contact_id) for m in messages)
    held_out = {m.contact.phone for m in messages if m.variant == "control"}
    sends = sandbox.sends()
    assert len(sends) == 400 - len(held_out)
    assert not {"+" + send["to"] for send in sends} & held_out
    template_by_phone = {"+" + send["to"]: send["template"]["name"] for send in sends}
    for message in messages:
        if message.variant != "control":
            assert template_by_phone[message.contact.phone] == {"A": "spring_sale", "B": "welcome_back"}[message.variant]
            assert message.decision["template"]["name"] == template_by_phone[message.contact.phone]

    # A launch again adds nobody and moves nobody.
    Campaign.objects.filter(pk=campaign_id).update(status=Campaign.Status.SCHEDULED)
    campaign_launch(campaign_id=campaign_id)
    assert Counter(Message.objects.filter(campaign=campaign).values_list("variant", flat=True)) == groups


@COMMITTING
@pytest.mark.postgres
@pytest.mark.redis
def test_a_hold_out_row_is_never_sent_even_when_it_is_claimed(eager, sandbox, spring_sale, marketer, everyone):
    campaign, messages = campaign_with_messages(spring_sale, outcomes={"queued": 4}, control_percent=50,
                                                variants=[{"share": 50}, {"share": 50}])  # fmt: skip
    # Two rows as a fault might leave them: held out, yet queued.
    Message.objects.filter(pk__in=[m.pk for m in messages[:2]]).update(variant="control")
    Message.objects.filter(pk__in=[m.pk for m in messages[2:]]).update(variant="A")
    from campaigns.tasks import dispatchers_start

    dispatchers_start(campaign.pk)
    assert sorted("+" + send["to"] for send in sandbox.sends()) == sorted(m.contact.phone for m in messages[2:])
    for message in Message.objects.filter(pk__in=[m.pk for m in messages[:2]]):
        assert (message.status, message.skip_reason, message.dispatched_at) == (MessageStatus.SKIPPED, "control group", None)


def test_a_purchase_counts_only_inside_the_window_after_the_read(marketer, spring_sale):
    campaign, messages = campaign_with_messages(spring_sale, outcomes={"read": 3}, conversion_window_days=2, status=Campaign.Status.COMPLETED)
    read_at = timezone.now() - timedelta(days=10)
    Campaign.objects.filter(pk=campaign.pk).update(created_at=read_at - timedelta(days=1), launched_at=read_at - timedelta(hours=1))
    Message.objects.filter(campaign=campaign).update(read_at=read_at, created_at=read_at - timedelta(hours=1))
    first, second, third = (m.contact for m in messages)

    def purchase(contact, at, value):
        return {"phone": contact.phone, "name": "purchase", "occurred_at": at.isoformat(), "properties": {"value": value}}

    events = [
        purchase(first, read_at + timedelta(days=1), 10),  # inside
        purchase(first, read_at + timedelta(days=2), "2.50"),  # the window's last moment: inside
        purchase(second, read_at + timedelta(days=2, seconds=1), 20),  # a second too late
        purchase(third, read_at - timedelta(seconds=1), 30),  # before the read
        purchase(third, read_at + timedelta(hours=1), "a lot"),  # inside, but no amount: a conversion without revenue
    ]
    as_marketer = api_client(marketer)
    assert as_marketer.post("/api/v1/events", {"events": events}, format="json").json()["accepted"] == 5
    results = as_marketer.get(f"/api/v1/campaigns/{campaign.pk}/results").json()
    assert results["control"] is None and results["lift"] is None
    (group,) = results["groups"]
    assert (group["group"], group["recipients"], group["converted"], group["conversions"]) == ("", 3, 2, 3)
    assert Decimal(group["revenue"]) == Decimal("12.5") == Decimal(results["revenue"])
    assert group["conversion_rate"] == pytest.approx(2 / 3)

    # Counted another way after the campaign ended: a wider window, another event's value.
    changed = as_marketer.patch(f"/api/v1/campaigns/{campaign.pk}", {"conversion_window_days": 3}, format="json")
    assert changed.status_code == 200, changed.json()
    (group,) = as_marketer.get(f"/api/v1/campaigns/{campaign.pk}/results").json()["groups"]
    assert (group["converted"], Decimal(group["revenue"])) == (3, Decimal("32.5"))


def test_the_builder_sets_variants_and_the_hold_out_and_the_approver_sees_them(marketer, approver, spring_sale, templates, everyone):
    welcome_back = templates[("welcome_back", "en_US")]
    form = {
        "name": "Spring", "template": spring_sale.pk, "segment": everyone.pk, "tracked_url": "https://shop.example.com/spring",
        "send_at": "", "local_time": "", "expires_at": "", "max_per_day": "", "max_per_week": "",
        "param_0_source": "field", "param_0_key": "name", "param_0_fallback": "there", "param_1_source": "value", "param_1_key": "20%",
        "variant_A_share": "50", "variant_B_share": "50", "variant_B_template": welcome_back.pk,
        "variant_B_parameters": '[{"field": "name", "fallback": "there"}, {"value": "HELLO10"}]',
        "control_percent": "10", "conversion_event": "order_paid", "conversion_value_property": "total", "conversion_window_days": "5",
        "action": "submit_anyway",  # nobody is in the segment yet: the builder would warn first
    }  # fmt: skip
    response = client_for(marketer).post("/admin/campaigns/campaign/build/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    campaign = Campaign.objects.get()
    assert campaign.status == Campaign.Status.PENDING_APPROVAL
    assert campaign.variants == [{"share": 50}, {"share": 50, **WELCOME_BACK}]
    assert (campaign.control_percent, campaign.conversion_event, campaign.conversion_value_property, campaign.conversion_window_days) == (
        10, "order_paid", "total", 5
    )  # fmt: skip
    page = client_for(approver).get(f"/admin/campaigns/campaign/{campaign.pk}/review/").content.decode()
    assert "B: 50% of those messaged, template welcome_back (en_US)" in page
    assert "10% of the audience is never messaged (control group)" in page

    # Shares that do not add up come back to the form with the reason.
    response = client_for(marketer).post(f"/admin/campaigns/campaign/{campaign.pk}/build/", {**form, "variant_B_share": "40", "action": "save"})
    assert response.status_code == 200
    assert "the shares add up to 90; they must add up to 100" in response.content.decode()
