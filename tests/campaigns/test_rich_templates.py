"""Templates with everything Meta allows: media and text headers, named parameters, quick replies,
copy-code coupons, limited-time offers and carousels, sent through the sandbox exactly as Meta documents."""

from __future__ import annotations

import json

import pytest
import requests
from django.conf import settings

from campaigns.models import Campaign, Message, MessageStatus, StaffTestNumber
from campaigns.services import campaign_create
from consent.keywords import STOP_PROMOTIONS_PAYLOAD
from consent.models import ConsentStatus
from consent.selectors import contact_consent_status
from core.audit import Actor
from tests.campaigns.test_sending import eager, run  # noqa: F401 (eager: autouse fixture, tasks run in this process)
from tests.factories import api_client, client_for, contacts_create, payload
from whatsapp.models import MessageTemplate

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]

SUMMER_IMAGE = "https://cdn.example.com/summer.jpg"
SUMMER = {"header": {"image": {"link": SUMMER_IMAGE}}, "body": [{"field": "name"}, {"value": "15%"}]}


def only_send(sandbox) -> dict:
    (send,) = sandbox.sends()
    return send


def test_an_image_header_url_button_and_quick_reply_template_goes_out_as_meta_documents(sandbox, templates, everyone, marketer, approver):
    (ana,) = contacts_create(1, name="Ana")
    campaign = run(templates[("summer_drop", "en_US")], everyone, marketer, approver, parameters=SUMMER, tracked_url="https://shop.example.com/summer")

    send = only_send(sandbox)
    message = Message.objects.get(campaign=campaign)
    assert message.status == MessageStatus.ACCEPTED
    token = send["components"][2]["parameters"][0]["text"]
    assert send["components"] == [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": SUMMER_IMAGE}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "15%"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": token}]},
        {"type": "button", "sub_type": "quick_reply", "index": "1", "parameters": [{"type": "payload", "payload": "Show me more"}]},
        {"type": "button", "sub_type": "quick_reply", "index": "2", "parameters": [{"type": "payload", "payload": STOP_PROMOTIONS_PAYLOAD}]},
    ]
    assert client_for().get(f"/r/{token}")["Location"] == "https://shop.example.com/summer"


def test_a_per_person_image_comes_from_a_contact_attribute_with_a_fallback(sandbox, templates, everyone, marketer, approver):
    contacts_create(1, name="Ana", attributes={"photo": "https://cdn.example.com/ana.jpg"})
    contacts_create(1, start=1, name="Ben")
    mapping = {"header": {"image": {"attribute": "photo", "fallback": SUMMER_IMAGE}}, "body": [{"field": "name"}, {"value": "15%"}]}
    run(templates[("summer_drop", "en_US")], everyone, marketer, approver, parameters=mapping, tracked_url="https://shop.example.com/summer")

    images = sorted(send["components"][0]["parameters"][0]["image"]["link"] for send in sandbox.sends())
    assert images == ["https://cdn.example.com/ana.jpg", SUMMER_IMAGE]


def test_a_carousel_goes_out_with_one_card_per_template_card(sandbox, templates, everyone, marketer, approver):
    contacts_create(1, name="Ana")
    mapping = {
        "body": [{"field": "name"}],
        "cards": [{"header": {"image": {"link": f"https://cdn.example.com/shoe{i}.jpg"}}, "body": [{"value": f"Shoe {i}"}]} for i in range(3)],
    }
    run(templates[("trail_picks_carousel", "en_US")], everyone, marketer, approver, parameters=mapping, tracked_url="https://shop.example.com/trail")

    send = only_send(sandbox)
    body, carousel = send["components"]
    assert body == {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}
    assert carousel["type"] == "carousel" and len(carousel["cards"]) == 3
    token = carousel["cards"][0]["components"][3]["parameters"][0]["text"]
    assert carousel["cards"][1] == {
        "card_index": 1,
        "components": [
            {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example.com/shoe1.jpg"}}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Shoe 1"}]},
            {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "More like this"}]},
            {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": token}]},
        ],
    }


def test_a_limited_time_offer_carries_its_expiry_and_coupon_code(sandbox, templates, everyone, marketer, approver):
    contacts_create(1, name="Ana")
    mapping = {
        "header": {"image": {"link": SUMMER_IMAGE}},
        "body": [{"field": "name"}, {"value": "FLASH25"}],
        "coupon_code": {"value": "FLASH25"},
        "limited_time_offer": {"expires_at": "2026-12-24T23:00:00Z"},
    }
    run(templates[("flash_offer", "en_US")], everyone, marketer, approver, parameters=mapping, tracked_url="https://shop.example.com/flash")

    components = only_send(sandbox)["components"]
    assert [c["type"] for c in components] == ["header", "body", "limited_time_offer", "button", "button"]
    assert components[2] == {
        "type": "limited_time_offer",
        "parameters": [{"type": "limited_time_offer", "limited_time_offer": {"expiration_time_ms": 1798153200000}}],
    }
    assert components[3] == {"type": "button", "sub_type": "copy_code", "index": "0", "parameters": [{"type": "coupon_code", "coupon_code": "FLASH25"}]}
    assert components[4]["sub_type"] == "url" and components[4]["index"] == "1"


def test_named_parameters_go_in_the_text_header_and_the_body(sandbox, templates, everyone, marketer, approver):
    contacts_create(1, name="Ana")
    mapping = {"header": [{"field": "name"}], "body": [{"value": "Friday"}]}
    run(templates[("vip_invite", "en_US")], everyone, marketer, approver, parameters=mapping)

    assert only_send(sandbox)["components"] == [
        {"type": "header", "parameters": [{"type": "text", "text": "Ana", "parameter_name": "first_name"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Friday", "parameter_name": "event_date"}]},
    ]


@pytest.mark.parametrize(
    ("template", "mapping", "reason"),
    [
        (
            "trail_picks_carousel",
            {"body": [{"field": "name"}], "cards": [{"header": {"image": {"link": SUMMER_IMAGE}}, "body": [{"value": "x"}]}] * 2},
            "the carousel has 3 cards",
        ),
        ("summer_drop", {**SUMMER, "header": {"image": {"link": "http://cdn.example.com/a.jpg"}}}, "public https:// address"),
        ("summer_drop", {**SUMMER, "header": {"video": {"link": SUMMER_IMAGE}}}, "the template's header is an image"),
        ("summer_drop", [{"field": "name"}, {"value": "15%"}], "this template also needs header image"),
        ("flash_offer", {**SUMMER, "body": [{"field": "name"}, {"value": "X"}], "coupon_code": {"value": "X"}}, "limited_time_offer: the template needs it"),
    ],
)
def test_a_mapping_that_does_not_fit_the_template_is_refused_with_a_clear_reason(templates, everyone, marketer, template, mapping, reason):
    response = api_client(marketer).post(
        "/api/v1/campaigns",
        {"name": "Rich", "template": template, "language": "en_US", "segment": everyone.pk, "parameters": mapping},
        format="json",
    )
    assert response.status_code == 400
    assert reason in response.json()["detail"]


def stale_copy(template: MessageTemplate) -> MessageTemplate:
    """Our stored copy from before the image header was added at Meta: the send will lack its header."""
    template.components = [c for c in template.components if c["type"] != "HEADER"]
    template.save(update_fields=["components"])
    return template


def test_a_send_missing_its_header_is_refused_by_whatsapp_and_the_campaign_pauses(sandbox, templates, everyone, marketer, approver):
    contacts_create(2)
    summer = stale_copy(templates[("summer_drop", "en_US")])
    campaign = run(summer, everyone, marketer, approver, parameters=[{"field": "name"}, {"value": "15%"}], tracked_url="https://shop.example.com/summer")

    assert sandbox.sends() == []
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED and "132012" in campaign.status_reason


def test_a_test_send_missing_its_header_shows_whatsapps_reason(sandbox, templates, everyone, marketer):
    (mara,) = contacts_create(1, start=900, name="Mara")
    StaffTestNumber.objects.create(user=marketer, contact=mara)
    summer = stale_copy(templates[("summer_drop", "en_US")])
    campaign = campaign_create(
        actor=Actor(user=marketer), name="Summer", template=summer, segment=everyone,
        parameters=[{"field": "name"}, {"value": "15%"}], tracked_url="https://shop.example.com/summer",
    )  # fmt: skip
    page = client_for(marketer).post(f"/admin/campaigns/campaign/{campaign.pk}/test-send/", follow=True).content.decode()
    assert "Test not sent: WhatsApp refused the test message" in page and "(error 132012)" in page
    assert sandbox.sends() == []


def test_pressing_our_stop_promotions_quick_reply_opts_the_person_out(sandbox, templates, everyone, marketer, approver, deliver):
    (ana,) = contacts_create(1, name="Ana")
    run(templates[("summer_drop", "en_US")], everyone, marketer, approver, parameters=SUMMER, tracked_url="https://shop.example.com/summer")
    send = only_send(sandbox)
    stop_payload = send["components"][4]["parameters"][0]["payload"]

    # The button's label is the business's own words; our payload is what identifies it.
    press = payload("inbound_button_stop_promotions.json", {"wamid.XYZ": send["wamid"], "4915123456789": ana.phone.lstrip("+")})
    press["entry"][0]["changes"][0]["value"]["messages"][0]["button"] = {"payload": stop_payload, "text": "No more offers"}
    assert deliver(press).status_code == 200

    assert contact_consent_status(ana) == ConsentStatus.OPTED_OUT
    assert ana.consent_events.latest("id").source == "optout_button"


def test_the_builder_preview_draws_header_media_body_footer_buttons_and_cards(templates, everyone, marketer):
    contacts_create(1, name="Ana")
    client = client_for(marketer)
    summer = templates[("summer_drop", "en_US")]
    form = {
        "name": "Summer", "template": summer.pk, "segment": everyone.pk, "tracked_url": "https://shop.example.com/summer",
        "param_0_source": "field", "param_0_key": "name", "param_1_source": "value", "param_1_key": "15%",
        "parameters_more": json.dumps({"header": {"image": {"link": SUMMER_IMAGE}}}),
    }  # fmt: skip
    data = client.post("/admin/campaigns/campaign/build/preview/", form).json()
    preview, html = data["preview"], data["html"]
    assert preview["header_media"] == {"kind": "image", "link": SUMMER_IMAGE}
    assert preview["body"] == "Hi Ana, the summer collection is here: 15% off for early birds."
    assert preview["footer"] == "Tap Stop promotions to opt out"
    assert [b["text"] for b in preview["buttons"]] == ["Shop the drop", "Show me more", "Stop promotions"]
    assert f'<img src="{SUMMER_IMAGE}"' in html and "Shop the drop" in html and "Tap Stop promotions to opt out" in html

    carousel = templates[("trail_picks_carousel", "en_US")]
    cards = [{"header": {"image": {"link": f"https://cdn.example.com/shoe{i}.jpg"}}, "body": [{"value": f"Shoe {i}"}]} for i in range(3)]
    form.update(template=carousel.pk, param_0_key="name", parameters_more=json.dumps({"cards": cards}))
    data = client.post("/admin/campaigns/campaign/build/preview/", form).json()
    assert data["preview"]["body"] == "Ana, three trail shoes picked for you:"
    assert [card["body"] for card in data["preview"]["cards"]] == ["Shoe 0: light and fast.", "Shoe 1: light and fast.", "Shoe 2: light and fast."]
    assert data["html"].count('class="rt-card"') == 3 and '<img src="https://cdn.example.com/shoe2.jpg"' in data["html"]
    assert [b["text"] for b in data["preview"]["cards"][0]["buttons"]] == ["More like this", "Shop"]

    # Cards not given yet: the carousel is still drawn, and the note says in words what each card needs.
    form.update(parameters_more='{"cards": []}')
    data = client.post("/admin/campaigns/campaign/build/preview/", form).json()
    assert [card["body"] for card in data["preview"]["cards"]] == ["{{1}}: light and fast."] * 3
    assert data["note"].startswith("Still to fill: card 1 image: no value chosen yet; card 1 {{1}}: no value chosen yet; card 2 image:")


# --- the sandbox checks every component against the template, as Meta does -------------------------


def sandbox_post(sandbox, template: dict) -> requests.Response:
    body = {"messaging_product": "whatsapp", "to": "4915123456789", "type": "template", "template": template}
    url = f"{sandbox.url}/v21.0/{settings.WHATSAPP_PHONE_NUMBER_ID}/messages"
    return requests.post(url, json=body, headers={"Authorization": f"Bearer {settings.WHATSAPP_ACCESS_TOKEN}"}, timeout=5)


SUMMER_COMPONENTS = [
    {"type": "header", "parameters": [{"type": "image", "image": {"link": SUMMER_IMAGE}}]},
    {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "15%"}]},
    {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "tok"}]},
]


@pytest.mark.parametrize(
    ("components", "code", "detail"),
    [
        (SUMMER_COMPONENTS[1:], 132012, "header: Format mismatch, expected IMAGE, received UNKNOWN"),
        ([{"type": "header", "parameters": [{"type": "video", "video": {"link": SUMMER_IMAGE}}]}, *SUMMER_COMPONENTS[1:]], 132012, "expected IMAGE, received VIDEO"),
        ([{"type": "header", "parameters": SUMMER_COMPONENTS[0]["parameters"] * 2}, *SUMMER_COMPONENTS[1:]], 132000, "exactly one parameter"),
        ([SUMMER_COMPONENTS[0], {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}, SUMMER_COMPONENTS[2]], 132000, "does not match"),
        (
            [*SUMMER_COMPONENTS, {"type": "button", "sub_type": "quick_reply", "index": "1", "parameters": [{"type": "text", "text": "x"}]}],
            132012, "quick_reply button takes a payload",
        ),
    ],
)
def test_the_sandbox_refuses_parameters_that_do_not_fit_the_template(sandbox, components, code, detail):
    response = sandbox_post(sandbox, {"name": "summer_drop", "language": {"code": "en_US"}, "components": components})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code and detail in error["error_data"]["details"]
    assert sandbox.sends() == []


def test_the_sandbox_refuses_a_carousel_with_fewer_cards_than_the_template(sandbox):
    card = {"card_index": 0, "components": [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": SUMMER_IMAGE}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Shoe"}]},
        {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "tok"}]},
    ]}  # fmt: skip
    template = {
        "name": "trail_picks_carousel", "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}, {"type": "carousel", "cards": [card, {**card, "card_index": 1}]}],
    }  # fmt: skip
    error = sandbox_post(sandbox, template).json()["error"]
    assert error["code"] == 132012 and "the template has 3 cards, the message has 2" in error["error_data"]["details"]


def test_the_sandbox_refuses_an_offer_without_its_expiry(sandbox):
    template = {"name": "flash_offer", "language": {"code": "en_US"}, "components": [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": SUMMER_IMAGE}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "FLASH25"}]},
        {"type": "button", "sub_type": "copy_code", "index": "0", "parameters": [{"type": "coupon_code", "coupon_code": "FLASH25"}]},
        {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "tok"}]},
    ]}  # fmt: skip
    error = sandbox_post(sandbox, template).json()["error"]
    assert error["code"] == 132012 and "expiration_time_ms" in error["error_data"]["details"]
