"""Creating a message template from the admin: Meta's rules, the submission to the sandbox, its review."""

from __future__ import annotations

import json

import pytest

from core.models import AuditEntry
from tests.factories import process_pending_deliveries
from whatsapp.models import MessageTemplate
from whatsapp.template_sync import template_sync

CREATE_URL = "/admin/whatsapp/messagetemplate/create/"

SUMMER = {
    "name": "autumn_drop", "language": "en_US", "category": "MARKETING", "parameter_format": "POSITIONAL",
    "header_format": "IMAGE", "header_example": "4::aW1hZ2UvanBlZw==:autumn",
    "body_text": "Hi {{1}}, the autumn collection is here: {{2}} off for early birds.", "body_examples": "Ana\n15%",
    "footer_text": "Tap Stop promotions to opt out",
    "button_0_type": "URL", "button_0_text": "Shop the drop", "button_0_value": "https://shop.example.com/r/{{1}}",
    "button_0_example": "https://shop.example.com/r/tok123",
    "button_1_type": "QUICK_REPLY", "button_1_text": "Stop promotions",
}  # fmt: skip


def _remote(sandbox, name: str) -> list[dict]:
    return [t for t in sandbox.control("GET", "/_sandbox/config")["templates"] if t.startswith(f"{name}/")]


@pytest.mark.django_db
def test_a_marketer_submits_a_template_and_it_is_stored_pending_with_meta_s_id(sandbox, marketer, admin_client_for):
    response = admin_client_for(marketer).post(CREATE_URL, SUMMER, follow=True)

    assert response.redirect_chain[-1][0] == "/admin/whatsapp/messagetemplate/"
    assert "Template autumn_drop (en_US) submitted to WhatsApp: pending review." in response.content.decode()
    template = MessageTemplate.objects.get(name="autumn_drop")
    assert (template.status, template.category, template.parameter_names) == ("PENDING", "MARKETING", ["1", "2"])
    assert template.external_id and template.url_button_base == "https://shop.example.com/r/"
    assert _remote(sandbox, "autumn_drop") == ["autumn_drop/en_US PENDING"]
    # What Meta received: its components, with the examples its review needs.
    assert template.components == [
        {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2UvanBlZw==:autumn"]}},
        {"type": "BODY", "text": SUMMER["body_text"], "example": {"body_text": [["Ana", "15%"]]}},
        {"type": "FOOTER", "text": "Tap Stop promotions to opt out"},
        {"type": "BUTTONS", "buttons": [
            {"type": "URL", "text": "Shop the drop", "url": "https://shop.example.com/r/{{1}}", "example": ["https://shop.example.com/r/tok123"]},
            {"type": "QUICK_REPLY", "text": "Stop promotions"},
        ]},
    ]  # fmt: skip
    entry = AuditEntry.objects.get(action="whatsapp.template_submit")
    assert (entry.actor, entry.details["name"], entry.details["status"]) == (marketer, "autumn_drop", "PENDING")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"name": "Autumn Drop"}, "Name: only lowercase letters, digits and underscores"),
        ({"body_text": "{{1}}, the autumn collection is here."}, "Body: may not start or end with a variable"),
        ({"body_examples": "Ana"}, "Body: give one example value for each of its 2 variable(s)."),
        ({"body_text": "Hi {{1}}, {{3}} off today."}, "Body: variables must be numbered {{1}} to {{2}} without gaps."),
        ({"header_example": ""}, "Header: an image header needs an example"),
        ({"button_0_example": ""}, "Buttons, button 1: a URL with a {{1}} suffix needs an example"),
        ({"button_1_text": "Stop all promotional messages now"}, "Text: Ensure this value has at most 25 characters"),
        ({"footer_text": "Reply {{1}}"}, "Footer: may not contain variables."),
    ],
)
def test_a_template_meta_would_refuse_is_explained_next_to_the_form_and_not_submitted(sandbox, marketer, admin_client_for, changes, said):
    response = admin_client_for(marketer).post(CREATE_URL, {**SUMMER, **changes})

    assert response.status_code == 200
    page = response.content.decode().replace("&#x27;", "'").replace("&quot;", '"')
    assert said in page or said.split(": ", 1)[1] in page
    assert not MessageTemplate.objects.exists() and _remote(sandbox, "autumn_drop") == []


@pytest.mark.django_db
def test_a_name_that_exists_at_whatsapp_shows_meta_s_refusal_in_words(sandbox, marketer, admin_client_for):
    # spring_sale/en_US exists at WhatsApp but was never synced here: only Meta knows it.
    response = admin_client_for(marketer).post(CREATE_URL, {**SUMMER, "name": "spring_sale"})

    page = response.content.decode().replace("&#x27;", "'")
    assert "WhatsApp refused the template (error 100): Message template already exists There is already en_US content" in page
    assert not MessageTemplate.objects.exists()


@pytest.mark.django_db
def test_a_carousel_is_submitted_through_the_advanced_json(sandbox, marketer, admin_client_for):
    card = {"components": [
        {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::card"]}},
        {"type": "BODY", "text": "The {{1}} is light and fast.", "example": {"body_text": [["Trail runner"]]}},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "More like this"},
                                        {"type": "URL", "text": "Shop", "url": "https://shop.example.com/r/{{1}}", "example": ["https://shop.example.com/r/tok"]}]},
    ]}  # fmt: skip
    components = [{"type": "BODY", "text": "Hi {{1}}, three picks for you.", "example": {"body_text": [["Ana"]]}}, {"type": "CAROUSEL", "cards": [card, card]}]
    client = admin_client_for(marketer)

    one_card = client.post(CREATE_URL, {"name": "trail_picks_two", "language": "en_US", "category": "MARKETING",
                                        "parameter_format": "POSITIONAL", "components_json": json.dumps([components[0], {"type": "CAROUSEL", "cards": [card]}])})  # fmt: skip
    assert "Carousel: 2 to 10 cards." in one_card.content.decode()

    client.post(CREATE_URL, {"name": "trail_picks_two", "language": "en_US", "category": "MARKETING",
                             "parameter_format": "POSITIONAL", "components_json": json.dumps(components)})  # fmt: skip
    assert MessageTemplate.objects.get(name="trail_picks_two").status == "PENDING"


@pytest.mark.django_db
def test_only_people_allowed_to_add_templates_reach_the_page(sandbox, marketer, approver, admin_client_for):
    assert f'href="{CREATE_URL}">Create a message template' in admin_client_for(marketer).get("/admin/").content.decode()
    assert "Create a message template" not in admin_client_for(approver).get("/admin/").content.decode()
    assert admin_client_for(approver).get(CREATE_URL).status_code == 403
    assert admin_client_for(approver).post(CREATE_URL, SUMMER).status_code == 403
    assert _remote(sandbox, "autumn_drop") == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_review_arrives_by_webhook_and_the_sync_agrees(live_sandbox, marketer, admin_client_for):
    admin_client_for(marketer).post(CREATE_URL, SUMMER)
    template_sync()  # the sync finds it PENDING at WhatsApp, as stored
    assert MessageTemplate.objects.get(name="autumn_drop").status == "PENDING"

    live_sandbox.control("POST", "/_sandbox/notify", {"field": "message_template_status_update", "template": "autumn_drop", "event": "APPROVED"})
    live_sandbox.wait_for_webhooks(delivered=1)
    process_pending_deliveries()

    assert MessageTemplate.objects.get(name="autumn_drop").status == "APPROVED"
    template_sync()
    assert MessageTemplate.objects.get(name="autumn_drop").status == "APPROVED"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_rejection_arrives_by_webhook_with_its_reason(live_sandbox, marketer, admin_client_for):
    admin_client_for(marketer).post(CREATE_URL, SUMMER)

    live_sandbox.control("POST", "/_sandbox/notify", {"field": "message_template_status_update", "template": "autumn_drop", "event": "REJECTED", "reason": "INCORRECT_CATEGORY"})
    live_sandbox.wait_for_webhooks(delivered=1)
    process_pending_deliveries()

    template = MessageTemplate.objects.get(name="autumn_drop")
    assert (template.status, template.status_reason) == ("REJECTED", "INCORRECT_CATEGORY")


@pytest.mark.django_db
def test_an_authentication_template_is_meta_s_preset_with_a_copy_code_button(sandbox, marketer, admin_client_for):
    response = admin_client_for(marketer).post(CREATE_URL, {
        "name": "login_code", "language": "en_US", "category": "AUTHENTICATION", "parameter_format": "POSITIONAL",
        "security_recommendation": "on", "code_expiration_minutes": "10",
        "body_text": "Ignored: WhatsApp writes the text",
    })  # fmt: skip

    assert response.status_code == 302
    template = MessageTemplate.objects.get(name="login_code")
    assert (template.status, template.category) == ("PENDING", "AUTHENTICATION")
    assert template.components == [
        {"type": "BODY", "add_security_recommendation": True},
        {"type": "FOOTER", "code_expiration_minutes": 10},
        {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]},
    ]


@pytest.mark.django_db
def test_an_authentication_template_with_its_own_text_or_links_is_refused(sandbox, marketer, admin_client_for):
    components = [{"type": "BODY", "text": "Your code is {{1}} - visit us!"}, {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Go", "url": "https://a.example"}]}]
    response = admin_client_for(marketer).post(CREATE_URL, {
        "name": "login_code", "language": "en_US", "category": "AUTHENTICATION", "parameter_format": "POSITIONAL",
        "components_json": json.dumps(components),
    })  # fmt: skip

    page = response.content.decode()
    assert "Authentication body: WhatsApp writes the text itself; leave it out." in page
    assert "Authentication: exactly one one-time-password button" in page
    assert not MessageTemplate.objects.exists()


@pytest.mark.django_db
def test_a_submission_without_an_answer_says_it_may_have_been_created(sandbox, marketer, admin_client_for, settings):
    settings.WHATSAPP_READ_TIMEOUT = 0.2
    sandbox.configure(latency=1.0)

    page = admin_client_for(marketer).post(CREATE_URL, SUMMER).content.decode()

    assert "No readable answer from WhatsApp: the template may have been created. Sync the templates before trying again." in page
    assert not MessageTemplate.objects.exists()


@pytest.mark.django_db
def test_named_variables_in_a_text_header_and_the_body_carry_their_named_examples(sandbox, marketer, admin_client_for):
    admin_client_for(marketer).post(CREATE_URL, {
        "name": "vip_evening", "language": "de", "category": "MARKETING", "parameter_format": "NAMED",
        "header_format": "TEXT", "header_text": "Für {{first_name}}", "header_example": "Ana",
        "body_text": "Unser VIP-Abend ist am {{event_date}} ab {{event_time}} Uhr. Bring jemanden mit!", "body_examples": "Freitag\n19",
    })  # fmt: skip

    template = MessageTemplate.objects.get(name="vip_evening")
    assert (template.parameter_format, template.parameter_names) == ("NAMED", ["event_date", "event_time"])
    assert template.components == [
        {"type": "HEADER", "format": "TEXT", "text": "Für {{first_name}}",
         "example": {"header_text_named_params": [{"param_name": "first_name", "example": "Ana"}]}},
        {"type": "BODY", "text": "Unser VIP-Abend ist am {{event_date}} ab {{event_time}} Uhr. Bring jemanden mit!",
         "example": {"body_text_named_params": [{"param_name": "event_date", "example": "Freitag"}, {"param_name": "event_time", "example": "19"}]}},
    ]  # fmt: skip


@pytest.mark.django_db
def test_a_limited_time_offer_with_a_coupon_is_submitted_and_a_footer_beside_it_is_refused(sandbox, marketer, admin_client_for):
    offer = {
        "name": "flash_sale", "language": "en_US", "category": "MARKETING", "parameter_format": "POSITIONAL",
        "offer_text": "Expiring offer!", "offer_expires": "on",
        "body_text": "Good news, {{1}}! Use code {{2}} to get 25% off everything.", "body_examples": "Ana\nFLASH25",
        "button_0_type": "COPY_CODE", "button_0_value": "FLASH25",
        "button_1_type": "URL", "button_1_text": "Shop now", "button_1_value": "https://shop.example.com/r/{{1}}",
        "button_1_example": "https://shop.example.com/r/tok123",
    }  # fmt: skip
    client = admin_client_for(marketer)

    refused = client.post(CREATE_URL, {**offer, "footer_text": "Terms apply"}).content.decode()
    assert "Limited-time offer: a template with an offer has no footer." in refused

    client.post(CREATE_URL, offer)
    template = MessageTemplate.objects.get(name="flash_sale")
    assert template.components[0] == {"type": "LIMITED_TIME_OFFER", "limited_time_offer": {"text": "Expiring offer!", "has_expiration": True}}
    assert template.components[2] == {"type": "BUTTONS", "buttons": [
        {"type": "COPY_CODE", "example": "FLASH25"},
        {"type": "URL", "text": "Shop now", "url": "https://shop.example.com/r/{{1}}", "example": ["https://shop.example.com/r/tok123"]},
    ]}  # fmt: skip


CAROUSEL = {
    "name": "trail_picks", "language": "en_US", "category": "MARKETING", "parameter_format": "POSITIONAL",
    "body_text": "Hi {{1}}, three picks for you.", "body_examples": "Ana",
    "card_count": "3", "card_header_format": "IMAGE", "card_header_example": "4::card",
    "card_bodies": "The {{1}} is light and fast.\nThe {{1}} grips on rock.\nThe {{1}} is {{2}} off.",
    "card_body_examples": "Trail runner\nMountain grip\nForest lite | 15%",
    "card_button_0_type": "QUICK_REPLY", "card_button_0_text": "More like this",
    "card_button_1_type": "URL", "card_button_1_text": "Shop", "card_button_1_value": "https://shop.example.com/r/{{1}}",
    "card_button_1_example": "https://shop.example.com/r/tok",
}  # fmt: skip


@pytest.mark.django_db
def test_a_carousel_is_built_from_the_form_one_card_per_line(sandbox, marketer, admin_client_for):
    response = admin_client_for(marketer).post(CREATE_URL, CAROUSEL)

    assert response.status_code == 302
    body, carousel = MessageTemplate.objects.get(name="trail_picks").components
    assert body == {"type": "BODY", "text": "Hi {{1}}, three picks for you.", "example": {"body_text": [["Ana"]]}}
    buttons = {"type": "BUTTONS", "buttons": [
        {"type": "QUICK_REPLY", "text": "More like this"},
        {"type": "URL", "text": "Shop", "url": "https://shop.example.com/r/{{1}}", "example": ["https://shop.example.com/r/tok"]},
    ]}  # fmt: skip
    header = {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::card"]}}
    assert carousel == {"type": "CAROUSEL", "cards": [
        {"components": [header, {"type": "BODY", "text": "The {{1}} is light and fast.", "example": {"body_text": [["Trail runner"]]}}, buttons]},
        {"components": [header, {"type": "BODY", "text": "The {{1}} grips on rock.", "example": {"body_text": [["Mountain grip"]]}}, buttons]},
        {"components": [header, {"type": "BODY", "text": "The {{1}} is {{2}} off.", "example": {"body_text": [["Forest lite", "15%"]]}}, buttons]},
    ]}  # fmt: skip


@pytest.mark.django_db
def test_a_carousel_with_a_card_missing_its_text_or_a_footer_of_its_own_is_refused(sandbox, marketer, admin_client_for):
    client = admin_client_for(marketer)

    missing = client.post(CREATE_URL, {**CAROUSEL, "card_bodies": "The {{1}} is light and fast.\nThe {{1}} grips on rock."})
    assert "Carousel: every card needs the same components" in missing.content.decode()
    footer = client.post(CREATE_URL, {**CAROUSEL, "footer_text": "Terms apply"})
    assert "Carousel: a carousel template has a body and cards only" in footer.content.decode()
    assert not MessageTemplate.objects.exists()


# A 1x1 PNG: a real image file, as a marketer would pick one.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360f8cf"
    "c0f01f0005000201e5270ede0000000049454e44ae426082"
)


def _file(name: str, data: bytes, content_type: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.mark.django_db
def test_a_sample_image_is_uploaded_to_whatsapp_and_its_handle_is_the_header_example(sandbox, marketer, admin_client_for):
    import hashlib

    form = {**SUMMER, "header_example": "", "header_example_file": _file("autumn.png", PNG, "image/png")}
    response = admin_client_for(marketer).post(CREATE_URL, form)

    assert response.status_code == 302, response.content.decode()[:3000]
    [upload] = sandbox.control("GET", "/_sandbox/uploads")["uploads"]
    assert (upload["file_name"], upload["file_type"], upload["file_length"]) == ("autumn.png", "image/png", len(PNG))
    assert upload["sha256"] == hashlib.sha256(PNG).hexdigest()  # the file's own bytes reached WhatsApp
    header = MessageTemplate.objects.get(name="autumn_drop").components[0]
    assert header == {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": [upload["handle"]]}}


@pytest.mark.django_db
def test_every_carousel_card_gets_the_uploaded_sample_s_handle(sandbox, marketer, admin_client_for):
    form = {**CAROUSEL, "card_header_example": "", "card_header_example_file": _file("card.png", PNG, "image/png")}
    assert admin_client_for(marketer).post(CREATE_URL, form).status_code == 302
    [upload] = sandbox.control("GET", "/_sandbox/uploads")["uploads"]
    _, carousel = MessageTemplate.objects.get(name="trail_picks").components
    assert {json.dumps(card["components"][0]) for card in carousel["cards"]} == {
        json.dumps({"type": "HEADER", "format": "IMAGE", "example": {"header_handle": [upload["handle"]]}})
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("upload", "said"),
    [
        (("autumn.gif", b"GIF89a", "image/gif"), "The sample for an image header must be a JPEG or PNG image, not image/gif."),
        (("autumn.png", b"", "image/png"), "The submitted file is empty."),
        (("autumn.png", PNG * (5 * 1024**2 // len(PNG) + 1), "image/png"), "; WhatsApp takes at most 5 MB for an image header."),
    ],
)
def test_a_sample_file_whatsapp_would_not_take_is_refused_before_anything_is_uploaded(sandbox, marketer, admin_client_for, upload, said):
    response = admin_client_for(marketer).post(CREATE_URL, {**SUMMER, "header_example": "", "header_example_file": _file(*upload)})
    assert response.status_code == 200
    assert said in response.content.decode()
    assert sandbox.control("GET", "/_sandbox/uploads")["uploads"] == []
    assert not MessageTemplate.objects.filter(name="autumn_drop").exists()


@pytest.mark.django_db
def test_without_the_app_id_the_upload_is_refused_in_words_and_nothing_is_created(sandbox, marketer, admin_client_for, settings):
    settings.WHATSAPP_APP_ID = ""
    response = admin_client_for(marketer).post(CREATE_URL, {**SUMMER, "header_example": "", "header_example_file": _file("a.png", PNG, "image/png")})
    assert response.status_code == 200
    assert "The sample file a.png could not be uploaded to WhatsApp: WHATSAPP_APP_ID is not set" in response.content.decode()
    assert _remote(sandbox, "autumn_drop") == [] and not MessageTemplate.objects.filter(name="autumn_drop").exists()


@pytest.mark.django_db
def test_an_upload_cut_off_by_a_proxy_creates_nothing_and_says_so(sandbox, marketer, admin_client_for):
    sandbox.configure(upload_fault="bare_500")
    response = admin_client_for(marketer).post(CREATE_URL, {**SUMMER, "header_example": "", "header_example_file": _file("a.png", PNG, "image/png")})
    assert response.status_code == 200
    page = response.content.decode()
    assert "The sample file a.png could not be uploaded to WhatsApp: Unexpected answer from the WhatsApp API: HTTP 500" in page
    assert "Nothing was created." in page
    assert _remote(sandbox, "autumn_drop") == [] and not MessageTemplate.objects.filter(name="autumn_drop").exists()
