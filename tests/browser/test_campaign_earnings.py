"""The results page of an A/B campaign with a hold-out shows, side by side, what each variant and the
control group did and earned, in a real browser."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Campaign, Click, Message
from tests.factories import api_client, campaign_with_messages

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_the_results_page_compares_variants_and_the_hold_out(live_server, page, login, marketer, spring_sale):
    variants = [{"share": 50}, {"share": 50, "parameters": [{"field": "name", "fallback": "there"}, {"value": "30%"}]}]
    campaign, messages = campaign_with_messages(
        spring_sale, outcomes={"read": 4, "delivered": 4, "skipped:control group": 2},
        variants=variants, control_percent=20, status=Campaign.Status.COMPLETED, conversion_window_days=3,
    )  # fmt: skip
    # As materialisation assigns them: A and B each one read pair and one unread pair, two held out.
    a = messages[0:2] + messages[4:6]
    b = messages[2:4] + messages[6:8]
    control = messages[8:10]
    Message.objects.filter(pk__in=[m.pk for m in a]).update(variant="A")
    Message.objects.filter(pk__in=[m.pk for m in b]).update(variant="B")
    Message.objects.filter(pk__in=[m.pk for m in control]).update(variant="control")
    Click.objects.create(message=messages[4])  # an unread message of A clicked
    now = timezone.now()

    def purchase(message, value, at=now):
        return {"phone": message.contact.phone, "name": "purchase", "occurred_at": at.isoformat(), "properties": {"value": value}}

    events = [
        purchase(messages[0], 20), purchase(messages[1], 15.5), purchase(messages[4], 10),  # A: 3 of 4, 45.5
        purchase(messages[2], 30), purchase(messages[6], 99),  # B: 1 of 4 (the second neither read nor clicked)
        purchase(messages[8], 8), purchase(messages[9], 50, at=now - timedelta(days=1)),  # hold-out: 1 of 2 (one before)
    ]
    posted = api_client(marketer).post("/api/v1/events", {"events": events}, format="json")
    assert posted.status_code == 200 and posted.json()["accepted"] == 7, posted.json()

    login(marketer)
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/live/")
    table = page.locator("#earnings-table")
    expect(table.locator("thead th")).to_have_text(["", "Variant A", "Variant B", "Control (hold-out)", "All messaged"])

    def row(figure: str) -> list[str]:
        return table.locator(f"tr[data-figure={figure}] td").all_inner_texts()[1:]

    assert row("recipients") == ["4", "4", "2", "8"]
    assert row("read") == ["2", "2", "0", "4"]
    assert row("clicked") == ["1", "0", "0", "1"]
    assert row("converted") == ["3", "1", "1", "4"]
    assert row("revenue") == ["45.5", "30", "8", "75.5"]
    assert row("conversion_rate") == ["75.0%", "25.0%", "50.0%", "50.0%"]
    # Lift: (75 - 50) / 50 = +50 %, (25 - 50) / 50 = -50 %, (50 - 50) / 50 = 0.
    assert row("lift") == ["+50.0%", "-50.0%", "–", "+0.0%"]
    expect(page.locator("#earnings")).to_contain_text("A conversion is a purchase event within 3 days after the person read or clicked")
    expect(page.locator("#funnel-table")).to_contain_text("Hold-out (control group): never messaged")
