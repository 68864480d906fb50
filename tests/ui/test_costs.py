"""Cost before approval and after sending: the review page, the dry-run API, the results page and the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.models import Campaign, Message
from campaigns.services import campaign_create, campaign_submit
from consent.models import Contact
from consent.services import ConsentChange, consent_record_many, contact_phone_fields
from core.audit import Actor
from tests.factories import OFFERS_NOTICE, api_client, campaign_with_messages, client_for, contacts_create, payload

pytestmark = pytest.mark.django_db

CARD = """# test card: two markets and the rest
market,countries,currency,marketing,utility,authentication,authentication_international,service
Germany,DE,EUR,0.1300,0.0500,0.0400,,0
France,FR,EUR,0.0800,0.0300,0.0300,,0
Other,*,EUR,0.0600,0.0070,0.0070,,0
"""
FRENCH = ["+33612345670", "+33612345671"]


@pytest.fixture
def rate_card(settings, tmp_path: Path) -> Path:
    path = tmp_path / "rates.csv"
    path.write_text(CARD)
    settings.WHATSAPP_RATE_CARD_FILE = str(path)
    return path


@pytest.fixture
def submitted(marketer, spring_sale, everyone, no_quiet_hours, rate_card) -> Campaign:
    """Three German and two French people opted in, one German who never did (not priced)."""
    contacts_create(3)
    contacts_create(1, start=50, opted_in=False)
    french = [Contact.objects.create(phone=number, name="Marie", **contact_phone_fields(number)) for number in FRENCH]
    consent_record_many(changes=[ConsentChange(contact=c, action="opt_in", source="web_form", evidence=OFFERS_NOTICE) for c in french])
    campaign = campaign_create(
        actor=Actor(user=marketer), name="Spring", template=spring_sale, segment=everyone,
        parameters=[{"field": "name", "fallback": "there"}, {"value": "20%"}],
    )  # fmt: skip
    return campaign_submit(campaign=campaign, actor=Actor(user=marketer))


def test_the_approver_sees_cost_audience_limit_headroom_and_exclusions_together(approver, submitted, settings):
    settings.WHATSAPP_MESSAGING_LIMIT = 250
    page = client_for(approver).get(f"/admin/campaigns/campaign/{submitted.pk}/review/").content.decode()

    # 3 x 0.13 (Germany, marketing) + 2 x 0.08 (France) = 0.55
    assert '<div class="rt-figure" id="dry-run-cost">EUR 0.55</div><div class="rt-caption">Estimated cost' in page
    assert "<td>Germany · marketing</td><td class=\"rt-num\">3</td><td class=\"rt-num\">0.1300</td><td class=\"rt-num\">0.39</td>" in page
    assert "<td>France · marketing</td><td class=\"rt-num\">2</td>" in page
    assert '<div class="rt-figure">6</div><div class="rt-caption">in the segment</div>' in page
    assert '<div class="rt-figure" id="dry-run-eligible">5</div>' in page
    assert '<div class="rt-figure" id="dry-run-headroom">250</div>' in page and "(of 250 a day)" in page
    assert "<td>Never opted in</td><td class=\"rt-num\">1</td>" in page


def test_the_dry_run_api_gives_the_estimated_cost(marketer, submitted):
    dry_run = api_client(marketer).get(f"/api/v1/campaigns/{submitted.pk}/dry-run").json()

    assert dry_run["estimated_cost"]["currency"] == "EUR" and dry_run["estimated_cost"]["total"] == "0.55"
    assert {line["market"]: line["messages"] for line in dry_run["estimated_cost"]["by_market"]} == {"Germany": 3, "France": 2}
    assert dry_run["messaging_headroom"] == 1000


def test_a_rate_card_broken_after_start_up_shows_its_error_on_the_review_page(approver, submitted, rate_card):
    rate_card.write_text(CARD + "Spain,ES,EUR,cheap,0.02,0.02,,0\n")

    page = client_for(approver).get(f"/admin/campaigns/campaign/{submitted.pk}/review/").content.decode()

    assert f"Cost not computed: {rate_card}, row 6: marketing &#x27;cheap&#x27; is not a number" in page
    assert 'id="dry-run-cost"' not in page and 'id="dry-run-eligible">5<' in page  # the rest of the dry run stands


def _status(message: Message, status: str, pricing: dict) -> dict:
    data = payload("status_delivered.json", {"wamid.XYZ": message.wamid, "msg:8f1c...": message.callback_data, "delivered": status})
    data["entry"][0]["changes"][0]["value"]["statuses"][0]["pricing"] = pricing
    return data


def test_the_results_show_the_actual_cost_from_the_status_webhooks_pricing(admin_client, marketer, spring_sale, rate_card, deliver):
    """Marketing priced by country, free windows at no cost; a card broken later shows its error there."""
    campaign, messages = campaign_with_messages(spring_sale, outcomes={"accepted": 5})
    regular = {"billable": True, "pricing_model": "PMP", "category": "marketing", "type": "regular"}
    deliver(_status(messages[0], "delivered", regular))
    deliver(_status(messages[1], "read", {**regular, "category": "marketing_lite"}))  # read at once, no "delivered"
    deliver(_status(messages[2], "delivered", {"pricing_model": "PMP", "category": "marketing", "type": "free_entry_point"}))
    deliver(_status(messages[3], "sent", regular))  # not delivered yet: not charged yet

    report = api_client(marketer).get(f"/api/v1/campaigns/{campaign.pk}/report").json()
    assert report["cost"]["total"] == "0.26" and report["cost"]["free"] == 1  # 2 x 0.13 (German numbers)
    page = admin_client.get(f"/admin/campaigns/campaign/{campaign.pk}/live/").content.decode()
    assert '<div class="rt-figure" id="actual-cost">EUR 0.26</div>' in page
    assert "<td>Free (customer service or entry-point window)</td><td class=\"rt-num\">1</td>" in page

    rate_card.write_text(CARD + "Austria,DE,EUR,0.0600,0.0300,0.0300,,0\n")
    page = admin_client.get(f"/admin/campaigns/campaign/{campaign.pk}/live/").content.decode()
    assert f"Cost not computed: {rate_card}, row 6: DE is already in the market &#x27;Germany&#x27;." in page
