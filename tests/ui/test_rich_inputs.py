"""The builder's inputs for a rich template's header, coupon, offer and carousel cards: a marketer
fills them instead of typing JSON, they save the same structure the JSON box does, a link WhatsApp
could not fetch is refused next to its input in words, and the Advanced JSON box shows the same data."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.test import override_settings

from campaigns.models import Campaign
from tests.factories import client_for, contacts_create
from tests.ui.test_builder import BUILD, form_data

pytestmark = pytest.mark.django_db

PREVIEW = "/admin/campaigns/campaign/build/preview/"
CARD_IMAGES = [f"https://cdn.example.com/trail-{n}.jpg" for n in range(3)]
SHOES = ["Trail runner", "Mountain grip", "Forest lite"]


def carousel_inputs() -> dict:
    fields = {"rich_source": "fields"}
    for index, (image, shoe) in enumerate(zip(CARD_IMAGES, SHOES, strict=True)):
        fields[f"rich_card_{index}_link"] = image
        fields[f"rich_card_{index}_param_0_source"] = "value"
        fields[f"rich_card_{index}_param_0_key"] = shoe
    return fields


def carousel_form(templates, everyone, **changes) -> dict:
    carousel = templates[("trail_picks_carousel", "en_US")]
    data = form_data(carousel, everyone, **{"name": "Trail picks", "tracked_url": "https://shop.example.com/drop", **changes})
    del data["param_1_source"], data["param_1_key"]
    return data


def error_beside(page: str, block_id: str) -> str:
    """The text of the errors shown in the block (an input's row) with this id or data-card."""
    block = page.split(block_id, 1)[1].split("</fieldset>", 1)[0] if "data-card" in block_id else page.split(block_id, 1)[1].split('class="help"', 1)[0]
    return block.split('class="errorlist', 1)[1].split("</ul>", 1)[0] if 'class="errorlist' in block else ""


def test_the_carousel_inputs_save_the_same_structure_as_the_json_box(marketer, templates, everyone):
    client = client_for(marketer)
    page = client.get(BUILD).content.decode()
    # The inputs are on the page, the JSON box only behind "Advanced".
    assert 'id="rich-parts"' in page and "<summary>Advanced: the same as JSON</summary>" in page

    response = client.post(BUILD, carousel_form(templates, everyone, **carousel_inputs()))
    assert response.status_code == 302
    by_inputs = Campaign.objects.get(name="Trail picks")

    cards = [{"header": {"image": {"link": image}}, "body": [{"value": shoe}]} for image, shoe in zip(CARD_IMAGES, SHOES, strict=True)]
    client.post(BUILD, carousel_form(templates, everyone, name="Trail picks JSON", parameters_more=json.dumps({"cards": cards})))
    by_json = Campaign.objects.get(name="Trail picks JSON")
    assert by_inputs.parameters == by_json.parameters == {"body": [{"field": "name", "fallback": "there"}], "cards": cards}

    # Opened again: the inputs hold the saved values, and the Advanced box the same as JSON.
    reopened = client.get(f"/admin/campaigns/campaign/{by_json.pk}/build/").content.decode()
    assert f'value="{CARD_IMAGES[2]}"' in reopened and 'value="Forest lite"' in reopened
    assert "&quot;Forest lite&quot;" in reopened.split('name="parameters_more"')[1].split("</textarea>")[0]


@override_settings(TIME_ZONE="Europe/Berlin")
def test_the_header_link_coupon_and_offer_inputs_save_what_the_json_box_would(marketer, templates, everyone):
    flash = templates[("flash_offer", "en_US")]
    inputs = {
        "rich_source": "fields", "rich_header_link": "https://cdn.example.com/flash.jpg",
        "rich_coupon_source": "attribute", "rich_coupon_key": "coupon", "rich_coupon_fallback": "FLASH25",
        "rich_offer_expires_at": "2030-01-01T09:30",  # the site's time zone, as the input says
    }  # fmt: skip
    response = client_for(marketer).post(BUILD, form_data(flash, everyone, name="Flash", param_1_source="value", param_1_key="FLASH25", **inputs))
    assert response.status_code == 302
    campaign = Campaign.objects.get(name="Flash")
    assert campaign.parameters["header"] == {"image": {"link": "https://cdn.example.com/flash.jpg"}}
    assert campaign.parameters["coupon_code"] == {"attribute": "coupon", "fallback": "FLASH25"}
    expires = datetime.fromisoformat(campaign.parameters["limited_time_offer"]["expires_at"])
    assert expires == datetime(2030, 1, 1, 8, 30, tzinfo=UTC)  # 09:30 in Berlin


def test_a_link_whatsapp_cannot_fetch_is_refused_next_to_its_input_in_words(marketer, templates, everyone):
    client = client_for(marketer)
    inputs = carousel_inputs() | {"rich_card_1_link": "http://cdn.example.com/trail-1.jpg"}
    response = client.post(BUILD, carousel_form(templates, everyone, **inputs))
    assert response.status_code == 200 and not Campaign.objects.exists()
    page = response.content.decode()
    assert "Give a public link that starts with https://" in error_beside(page, 'data-card="1"')
    assert "JPEG or PNG image of at most 5 MB" in error_beside(page, 'data-card="1"')
    assert error_beside(page, 'data-card="0"') == "" and "Traceback" not in page
    assert "parameters.cards" not in page.split('id="rich-fields"')[1].split('id="rich-advanced"')[0]

    flash = templates[("flash_offer", "en_US")]
    bad_header = {"rich_source": "fields", "rich_header_link": "cdn.example.com/flash.jpg", "rich_coupon_key": "X", "rich_offer_expires_at": "2030-01-01T09:30"}
    page = client.post(BUILD, form_data(flash, everyone, **bad_header)).content.decode()
    assert "Give a public link that starts with https://" in error_beside(page, 'id="rich-header-media"')


def test_a_missing_card_value_is_asked_for_next_to_its_input(marketer, templates, everyone):
    inputs = carousel_inputs() | {"rich_card_2_param_0_key": ""}
    response = client_for(marketer).post(BUILD, carousel_form(templates, everyone, **inputs))
    assert response.status_code == 200 and not Campaign.objects.exists()
    assert "Fill this in: the template needs it." in error_beside(response.content.decode(), 'data-card="2"')


def test_the_preview_follows_the_inputs_and_the_json_box_follows_too(marketer, templates, everyone):
    contacts_create(1, name="Ana")
    client = client_for(marketer)
    data = client.post(PREVIEW, carousel_form(templates, everyone, **carousel_inputs())).json()
    assert [card["body"] for card in data["preview"]["cards"]] == [f"{shoe}: light and fast." for shoe in SHOES]
    assert json.loads(data["rich"]["parameters_more"])["cards"][1] == {"header": {"image": {"link": CARD_IMAGES[1]}}, "body": [{"value": SHOES[1]}]}

    # Typed in the Advanced box instead: the inputs are filled from it.
    cards = [{"header": {"image": {"link": image}}, "body": [{"value": shoe.upper()}]} for image, shoe in zip(CARD_IMAGES, SHOES, strict=True)]
    data = client.post(PREVIEW, carousel_form(templates, everyone, rich_source="json", parameters_more=json.dumps({"cards": cards}))).json()
    assert data["preview"]["cards"][0]["body"] == "TRAIL RUNNER: light and fast."
    assert (data["rich"]["rich_card_0_link"], data["rich"]["rich_card_0_param_0_key"]) == (CARD_IMAGES[0], "TRAIL RUNNER")
