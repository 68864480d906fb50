"""In a real browser: a marketer builds a campaign on each rich kind of template (image header with a
link button and quick replies; a media card carousel), previews it, sends a test to their own number,
and the WhatsApp sandbox receives exactly the components Meta documents for such a send
(developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates: header image parameter,
body text parameters, one ``button`` component per button with ``sub_type`` and ``index``; and the
"media card carousel templates" guide: a ``carousel`` component whose ``cards`` carry ``card_index`` and
their own header, body and buttons). A template created in the admin shows up approved once the
sandbox approves it."""

from __future__ import annotations

import json

import pytest
from django.db import connections
from playwright.sync_api import expect

from campaigns.models import Campaign, Message, StaffTestNumber
from campaigns.tracking import click_token
from consent.keywords import STOP_PROMOTIONS_PAYLOAD
from tests.factories import contacts_create, process_pending_deliveries
from whatsapp.models import MessageTemplate

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SUMMER_IMAGE = "https://cdn.example.com/summer-drop.jpg"
CARD_IMAGES = [f"https://cdn.example.com/trail-{n}.jpg" for n in range(3)]
SHOES = ["Trail runner", "Mountain grip", "Forest lite"]


@pytest.fixture
def tester(db, marketer):
    """The marketer's own number, opted in like a customer's, for test sends."""
    (mara,) = contacts_create(1, start=900, name="Mara Marketer")
    StaffTestNumber.objects.create(user=marketer, contact=mara)
    return mara


def build(page, live_server, *, name: str, template: str, extra: dict) -> None:
    page.goto(f"{live_server.url}/admin/campaigns/campaign/build/")
    page.fill("#id_name", name)
    page.select_option("#id_template", label=template)
    page.select_option("#id_segment", label="everyone")
    page.select_option("[name=param_0_source]", "field")
    page.fill("[name=param_0_key]", "name")
    page.fill("#id_tracked_url", "https://shop.example.com/drop")
    page.fill("#id_parameters_more", json.dumps(extra))


def save_and_test_send(page, name: str) -> tuple[Campaign, Message]:
    page.get_by_role("button", name="Save draft").click()
    page.get_by_role("button", name="Send a test to my number").click()
    expect(page.locator(".messagelist")).to_contain_text("Test sent to your number")
    campaign = Campaign.objects.get(name=name)
    return campaign, Message.objects.get(kind=Message.Kind.TEST)


def only_template_send(sandbox) -> dict:
    (send,) = [s for s in sandbox.sends() if s["type"] == "template"]
    return send


def test_an_image_header_link_and_quick_reply_campaign_is_built_previewed_and_test_sent(
    sandbox, live_server, page, login, marketer, templates, everyone, tester
):
    login(marketer)
    build(page, live_server, name="Summer drop", template="summer_drop (en_US)", extra={"header": {"image": {"link": SUMMER_IMAGE}}})
    page.select_option("[name=param_1_source]", "value")
    page.fill("[name=param_1_key]", "15%")

    preview = page.locator("#message-preview")
    expect(preview.locator("[data-part=header-media] img")).to_have_attribute("src", SUMMER_IMAGE)
    expect(preview.locator("[data-part=body]")).to_have_text("Hi Mara Marketer, the summer collection is here: 15% off for early birds.")
    expect(preview.locator("[data-part=footer]")).to_have_text("Tap Stop promotions to opt out")
    expect(preview.locator("[data-part=buttons] > div")).to_have_count(3)
    expect(preview.locator("[data-part=buttons]")).to_contain_text("https://shop.example.com/drop (tracked)")

    campaign, message = save_and_test_send(page, "Summer drop")

    send = only_template_send(sandbox)
    assert send["to"] == tester.phone.lstrip("+")
    assert (send["template"]["name"], send["template"]["language"]) == ("summer_drop", "en_US")
    assert send["components"] == [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": SUMMER_IMAGE}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Mara Marketer"}, {"type": "text", "text": "15%"}]},
        {"type": "button", "sub_type": "url", "index": "0",
         "parameters": [{"type": "text", "text": click_token(message_id=message.pk, campaign_id=campaign.pk)}]},
        {"type": "button", "sub_type": "quick_reply", "index": "1", "parameters": [{"type": "payload", "payload": "Show me more"}]},
        {"type": "button", "sub_type": "quick_reply", "index": "2", "parameters": [{"type": "payload", "payload": STOP_PROMOTIONS_PAYLOAD}]},
    ]  # fmt: skip


def test_a_carousel_campaign_is_built_previewed_and_test_sent(sandbox, live_server, page, login, marketer, templates, everyone, tester):
    cards = [{"header": {"image": {"link": image}}, "body": [{"value": shoe}]} for image, shoe in zip(CARD_IMAGES, SHOES, strict=True)]
    login(marketer)
    build(page, live_server, name="Trail picks", template="trail_picks_carousel (en_US)", extra={"cards": cards})

    preview = page.locator("#message-preview")
    expect(preview.locator("[data-part=body]")).to_have_text("Mara Marketer, three trail shoes picked for you:")
    expect(preview.locator("[data-part=cards] .rt-card")).to_have_count(3)
    for index, (image, shoe) in enumerate(zip(CARD_IMAGES, SHOES, strict=True)):
        card = preview.locator(f"[data-card='{index}']")
        expect(card.locator("img")).to_have_attribute("src", image)
        expect(card.locator(".rt-body")).to_have_text(f"{shoe}: light and fast.")

    campaign, message = save_and_test_send(page, "Trail picks")

    token = click_token(message_id=message.pk, campaign_id=campaign.pk)
    send = only_template_send(sandbox)
    assert send["template"]["name"] == "trail_picks_carousel"
    assert send["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Mara Marketer"}]},
        {"type": "carousel", "cards": [
            {"card_index": index, "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"link": image}}]},
                {"type": "body", "parameters": [{"type": "text", "text": shoe}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "More like this"}]},
                {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": token}]},
            ]}
            for index, (image, shoe) in enumerate(zip(CARD_IMAGES, SHOES, strict=True))
        ]},
    ]  # fmt: skip


def test_a_template_created_in_the_admin_is_shown_approved_after_whatsapp_approves_it(
    sandbox, live_server, page, login, marketer, monkeypatch
):
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    sandbox.configure(webhook_url=f"{live_server.url}/webhooks/whatsapp")
    login(marketer)
    page.goto(f"{live_server.url}/admin/whatsapp/messagetemplate/")
    page.get_by_role("link", name="Create a template").click()

    page.fill("#id_name", "Autumn Drop")  # Meta takes lowercase and underscores only
    page.select_option("#id_header_format", "IMAGE")
    page.fill("#id_header_example", "4::aW1hZ2UvanBlZw==:autumn")
    page.fill("#id_body_text", "Hi {{1}}, the autumn collection is here: {{2}} off for early birds.")
    page.fill("#id_body_examples", "Ana\n15%")
    page.select_option("[name=button_0_type]", "URL")
    page.fill("[name=button_0_text]", "Shop the drop")
    page.fill("[name=button_0_value]", "https://shop.example.com/r/{{1}}")
    page.fill("[name=button_0_example]", "https://shop.example.com/r/tok123")
    page.select_option("[name=button_1_type]", "QUICK_REPLY")
    page.fill("[name=button_1_text]", "Stop promotions")
    page.get_by_role("button", name="Submit to WhatsApp for review").click()
    expect(page.locator("#template-problems")).to_contain_text("Name: only lowercase letters, digits and underscores")

    page.fill("#id_name", "autumn_drop")
    page.get_by_role("button", name="Submit to WhatsApp for review").click()
    expect(page.locator(".messagelist")).to_contain_text("Template autumn_drop (en_US) submitted to WhatsApp: pending review.")
    row = page.locator("#result_list tr", has_text="autumn_drop")
    expect(row).to_contain_text("Pending review")

    sandbox.control("POST", "/_sandbox/notify", {"field": "message_template_status_update", "template": "autumn_drop", "event": "APPROVED"})
    sandbox.wait_for_webhooks(delivered=1)
    process_pending_deliveries()
    page.reload()
    expect(row).to_contain_text("Approved")
    assert MessageTemplate.objects.get(name="autumn_drop").is_sendable
