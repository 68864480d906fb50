"""A/B variants, a hold-out and conversion attribution, end to end with real workers and the sandbox.

Reads arrive as the sandbox's status webhooks, clicks through the tracked-link redirect, purchases
through the events API; the results API must give exactly the figures worked out by hand here.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Message, MessageStatus, Segment
from campaigns.variants import group_of
from consent.services import consent_revoke
from tests.campaigns.test_workers import approve_via_api, finished, live, processes, wait_until  # noqa: F401 (fixtures)
from tests.factories import api_client, contacts_create
from whatsapp.models import WebhookDelivery

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]

PARAMETERS = [{"field": "name", "fallback": "there"}, {"value": "20%"}]


def _tracked_link_token(send: dict) -> str:
    """The click token the sender put into the URL button of one sandbox send."""
    for component in send["components"]:
        if component.get("type") == "button" and component.get("sub_type") == "url":
            return component["parameters"][0]["text"]
    raise AssertionError(f"no tracked link in {send['components']}")


def _event(contact, at, name="purchase", **properties) -> dict:
    return {"phone": contact.phone, "name": name, "occurred_at": at.isoformat(), "properties": properties}


def test_two_variants_and_a_hold_out_give_conversions_revenue_and_lift_as_counted_by_hand(
    live, sandbox, templates, marketer, approver, client  # noqa: F811
):
    contacts_create(60)
    segment = Segment.objects.create(name="everyone", rules={"all": []})
    # Half the delivered messages are read (a fixed seed: the same half every run).
    sandbox.configure(read_rate=0.5, seed=17)
    as_marketer = api_client(marketer)
    body = {
        "name": "Spring A/B", "template": "spring_sale", "language": "en_US", "segment": segment.pk, "parameters": PARAMETERS,
        "tracked_url": "https://shop.example.com/spring",
        "variants": [
            {"share": 50},
            {"share": 50, "template": "welcome_back", "language": "en_US",
             "parameters": [{"field": "name", "fallback": "there"}, {"value": "HELLO10"}]},
        ],
        "control_percent": 10, "conversion_event": "purchase", "conversion_value_property": "value", "conversion_window_days": 1,
    }  # fmt: skip
    created = as_marketer.post("/api/v1/campaigns", body, format="json")
    assert created.status_code == 201, created.json()
    campaign_id = created.json()["id"]
    assert created.json()["variants"][1]["template"] == "welcome_back"
    assert as_marketer.post(f"/api/v1/campaigns/{campaign_id}/submit").status_code == 200
    approve_via_api(approver, campaign_id)
    campaign = finished(campaign_id)
    assert campaign.status == Campaign.Status.COMPLETED
    # Every status webhook posted and applied.
    wait_until(lambda: sandbox.webhooks()["pending"] == 0, timeout=120, what="the sandbox's status webhooks")
    wait_until(lambda: not WebhookDelivery.objects.filter(processed_at__isnull=True).exists(), timeout=120, what="the webhooks to be applied")

    messages = list(Message.objects.filter(campaign_id=campaign_id).select_related("contact"))
    groups = {group: [m for m in messages if m.variant == group] for group in ("A", "B", "control")}
    assert len(messages) == 60 and sum(map(len, groups.values())) == 60
    assert all(m.variant == group_of(campaign, m.contact_id) for m in messages)  # decided by the hash, in SQL as in Python
    control, a, b = groups["control"], groups["A"], groups["B"]
    assert 2 <= len(control) <= 12  # about 10%
    # The hold-out was never messaged; both variants were, each with its own template.
    assert {(m.status, m.skip_reason) for m in control} == {(MessageStatus.SKIPPED, "control group")}
    sends = {("+" + send["to"]): send for send in sandbox.sends()}
    assert not {m.contact.phone for m in control} & set(sends)
    assert set(sends) == {m.contact.phone for m in a + b}
    template_of = {phone: (send["template"] or {}).get("name") for phone, send in sends.items()}
    assert {template_of[m.contact.phone] for m in a} == {"spring_sale"}
    assert {template_of[m.contact.phone] for m in b} == {"welcome_back"}

    a_read = [m for m in a if m.read_at is not None]
    a_unread = [m for m in a if m.read_at is None]
    b_read = [m for m in b if m.read_at is not None]
    assert len(a_read) >= 2 and len(a_unread) >= 2 and len(b_read) >= 2, (len(a_read), len(a_unread), len(b_read))

    # A click through the tracked link of an unread message of A opens its attribution window.
    clicker = a_unread[0]
    assert client.get(f"/r/{_tracked_link_token(sends[clicker.contact.phone])}").status_code == 302
    # One B recipient opts out.
    consent_revoke(contact=b[0].contact, source="support")

    now = timezone.now()
    launched = campaign.launched_at
    events = [
        _event(a_read[0].contact, now, value=30),  # counted
        _event(a_read[1].contact, now, value=20),  # counted, twice: 25 from one person
        _event(a_read[1].contact, now, value="5"),
        _event(a_read[1].contact, a_read[1].read_at - timedelta(hours=1), value=100),  # before the read: outside
        _event(clicker.contact, now, value=12.5),  # counted through the click
        _event(a_unread[1].contact, now, value=50),  # neither read nor clicked: not counted
        _event(b_read[0].contact, now, value=40),  # counted
        _event(b_read[1].contact, now, name="product_viewed", value=99),  # not the conversion event
        _event(b_read[1].contact, now - timedelta(days=3), value=70),  # long before: outside
        _event(control[0].contact, now, value=10),  # the hold-out: counted from when it would have been sent
        _event(control[1].contact, launched - timedelta(hours=2), value=60),  # before the launch: outside
    ]
    posted = as_marketer.post("/api/v1/events", {"events": events}, format="json")
    assert posted.status_code == 200, posted.json()
    assert posted.json()["accepted"] == len(events)

    results = as_marketer.get(f"/api/v1/campaigns/{campaign_id}/results")
    assert results.status_code == 200
    data = results.json()
    by_group = {group["group"]: group for group in data["groups"]}
    assert list(by_group) == ["A", "B", "control"]
    rate_a, rate_b, rate_control = 3 / len(a), 1 / len(b), 1 / len(control)
    rate_messaged = 4 / (len(a) + len(b))
    expected = {
        "A": {"recipients": len(a), "sent": len(a), "read": len(a_read), "clicked": 1, "opted_out": 0,
              "converted": 3, "conversions": 4, "revenue": Decimal("67.5"), "conversion_rate": rate_a,
              "lift": (rate_a - rate_control) / rate_control},
        "B": {"recipients": len(b), "sent": len(b), "read": len(b_read), "clicked": 0, "opted_out": 1,
              "converted": 1, "conversions": 1, "revenue": Decimal("40"), "conversion_rate": rate_b,
              "lift": (rate_b - rate_control) / rate_control},
        "control": {"recipients": len(control), "sent": 0, "read": 0, "clicked": 0, "opted_out": 0,
                    "converted": 1, "conversions": 1, "revenue": Decimal("10"), "conversion_rate": rate_control, "lift": None},
    }  # fmt: skip
    for group, figures in expected.items():
        got = {name: (Decimal(by_group[group][name]) if name == "revenue" else by_group[group][name]) for name in figures}
        assert got == pytest.approx(figures), group
    assert Decimal(data["revenue"]) == Decimal("107.5")  # the messaged groups' revenue (not the hold-out's)
    assert data["lift"] == pytest.approx((rate_messaged - rate_control) / rate_control)
    assert data["messaged"]["converted"] == 4 and data["control"]["converted"] == 1
    assert data["conversion"] == {"event": "purchase", "value_property": "value", "window_days": 1}
