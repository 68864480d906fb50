"""The Marketing Messages API (POST /{phone-number-id}/marketing_messages): the client against the sandbox.

What Meta documents and the sandbox reproduces: the same template body and answer as /messages, with
``product_policy``; marketing templates only (134100 otherwise, 100 for a non-template); a number not
onboarded refused with 131055 under STRICT; /messages refusing marketing with 131063 once marketing is
off on the Cloud API. Each refusal gets a scope and an explanation that says what the admin must do.
"""

from __future__ import annotations

import pytest
import requests
from django.conf import settings

from tests.whatsapp.test_client import SALE_COMPONENTS, send_sale
from whatsapp import client
from whatsapp.client import ErrorScope, WhatsAppError
from whatsapp.numbers import marketing_messages_api_for

NUMBER_ID = "100000000000001"  # the sandbox's (and the test settings') phone number id


def send_shipping_notice(**overrides):
    components = [{"type": "body", "parameters": [{"type": "text", "text": "A-1001"}]}]
    arguments = {"to": "+4915123456789", "template_name": "order_shipped", "language": "en_US", "components": components}
    return client.send_template(**{**arguments, **overrides})


def test_a_marketing_template_goes_to_marketing_messages_with_the_same_body_and_answer(sandbox):
    result = send_sale(callback_data="msg:77", marketing_messages_api=True)

    assert result.wamid.startswith("wamid.") and result.message_status == "accepted" and result.wa_id == "4915123456789"
    (logged,) = sandbox.sends()
    assert logged["endpoint"] == "marketing_messages" and logged["product_policy"] == "STRICT"
    assert logged["template"]["name"] == "spring_sale" and logged["components"] == SALE_COMPONENTS
    assert logged["callback_data"] == "msg:77" and logged["wamid"] == result.wamid


def test_without_the_switch_a_template_goes_to_messages(sandbox):
    send_sale()
    (logged,) = sandbox.sends()
    assert logged["endpoint"] == "messages" and "product_policy" not in logged


def test_a_utility_template_is_refused_by_the_marketing_messages_api_and_pauses_the_campaign(sandbox):
    with pytest.raises(WhatsAppError) as caught:
        send_shipping_notice(marketing_messages_api=True)

    error = caught.value
    assert error.code == 134100 and error.scope is ErrorScope.CAMPAIGN and not error.reached_provider
    assert "marketing templates only" in error.explanation and sandbox.sends() == []


def test_a_number_not_onboarded_is_refused_and_told_how_to_fix_it(sandbox):
    sandbox.configure(marketing_messages_api_onboarded=False)
    with pytest.raises(WhatsAppError) as caught:
        send_sale(marketing_messages_api=True)

    error = caught.value
    assert error.code == 131055 and error.stops_account and not error.reached_provider
    assert "not finished Marketing Messages API onboarding" in error.explanation
    assert "WHATSAPP_MARKETING_MESSAGES_API=0" in error.explanation and sandbox.sends() == []


def test_without_strict_a_number_not_onboarded_falls_back_to_the_cloud_api_as_meta_does(sandbox):
    sandbox.configure(marketing_messages_api_onboarded=False)
    body = {
        "messaging_product": "whatsapp", "to": "4915123456789", "type": "template",
        "template": {"name": "spring_sale", "language": {"code": "en_US"}, "components": SALE_COMPONENTS},
    }  # fmt: skip
    answer = requests.post(
        f"{sandbox.url}/{settings.WHATSAPP_API_VERSION}/{NUMBER_ID}/marketing_messages",
        json=body, headers={"Authorization": f"Bearer {settings.WHATSAPP_ACCESS_TOKEN}"}, timeout=10,
    )  # fmt: skip

    assert answer.status_code == 200
    (logged,) = sandbox.sends()
    assert logged["endpoint"] == "messages" and logged["fallback"] is True


def test_a_free_form_text_is_refused_by_the_marketing_messages_api(sandbox):
    body = {"messaging_product": "whatsapp", "to": "4915123456789", "type": "text", "text": {"body": "hi"}}
    answer = requests.post(
        f"{sandbox.url}/{settings.WHATSAPP_API_VERSION}/{NUMBER_ID}/marketing_messages",
        json=body, headers={"Authorization": f"Bearer {settings.WHATSAPP_ACCESS_TOKEN}"}, timeout=10,
    )  # fmt: skip

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 100 and error["error_data"]["details"] == "Message must be a template message."


def test_marketing_off_on_the_cloud_api_refuses_marketing_only_and_says_to_switch(sandbox):
    sandbox.configure(marketing_blocked_on_cloud_api=True)
    with pytest.raises(WhatsAppError) as caught:
        send_sale()

    error = caught.value
    assert error.code == 131063 and error.stops_account and not error.reached_provider
    assert "Switch the number to the Marketing Messages API" in error.explanation
    assert "WHATSAPP_MARKETING_MESSAGES_API=1" in error.explanation
    assert send_shipping_notice().wamid  # utility templates still go through /messages
    assert send_sale(marketing_messages_api=True).wamid  # and marketing through the MM API
    assert [send["endpoint"] for send in sandbox.sends()] == ["messages", "marketing_messages"]


@pytest.mark.django_db  # our numbers are read from the settings and the sending-number table
def test_only_marketing_templates_of_a_switched_number_take_the_marketing_messages_api(settings):
    settings.WHATSAPP_MARKETING_MESSAGES_API = False
    assert not marketing_messages_api_for(category="MARKETING", phone_number_id=NUMBER_ID)
    settings.WHATSAPP_MARKETING_MESSAGES_API = True
    assert marketing_messages_api_for(category="MARKETING", phone_number_id=NUMBER_ID)
    for category in ("UTILITY", "AUTHENTICATION", "SERVICE", ""):
        assert not marketing_messages_api_for(category=category, phone_number_id=NUMBER_ID)
    assert not marketing_messages_api_for(category="MARKETING", phone_number_id="199999999999999")  # not our number
