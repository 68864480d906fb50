"""The sandbox knows several business numbers: each takes sends at its own /{phone-number-id}/messages,
counts them, keeps its own throughput and names itself in the webhooks' metadata."""

from __future__ import annotations

import urllib.error

import pytest
import requests
from django.conf import settings

from tests.factories import SECOND_DISPLAY_NUMBER, SECOND_NUMBER_ID

SECOND = {"phone_number_id": SECOND_NUMBER_ID, "display_phone_number": SECOND_DISPLAY_NUMBER}
FAST = {"sent_delay": 0.01, "delivered_delay": 0.01, "read_delay": 0.01}


def text_from(sandbox, phone_number_id: str, to: str = "4915123456789") -> requests.Response:
    url = f"{sandbox.url}/{settings.WHATSAPP_API_VERSION}/{phone_number_id}/messages"
    body = {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "Your order has shipped."}}
    return requests.post(url, json=body, headers={"Authorization": f"Bearer {settings.WHATSAPP_ACCESS_TOKEN}"}, timeout=5)


def test_each_number_takes_and_counts_its_own_sends(sandbox):
    sandbox.configure(more_numbers=[SECOND])

    answers = [text_from(sandbox, SECOND_NUMBER_ID), text_from(sandbox, SECOND_NUMBER_ID), text_from(sandbox, settings.WHATSAPP_PHONE_NUMBER_ID)]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    log = sandbox.control("GET", "/_sandbox/sends")
    assert log["by_number"] == {SECOND_NUMBER_ID: 2, settings.WHATSAPP_PHONE_NUMBER_ID: 1}
    assert [send["phone_number_id"] for send in log["sends"]] == [SECOND_NUMBER_ID, SECOND_NUMBER_ID, settings.WHATSAPP_PHONE_NUMBER_ID]


def test_a_number_it_does_not_know_is_refused_as_meta_does(sandbox):
    answer = text_from(sandbox, SECOND_NUMBER_ID)  # not configured in the sandbox

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 100
    assert sandbox.sends() == []


def test_each_number_refuses_sends_beyond_its_own_throughput(sandbox):
    sandbox.configure(more_numbers=[{**SECOND, "throughput": 1}])

    first, second = text_from(sandbox, SECOND_NUMBER_ID), text_from(sandbox, SECOND_NUMBER_ID)
    main = text_from(sandbox, settings.WHATSAPP_PHONE_NUMBER_ID)  # no limit on the main number

    assert first.status_code == 200 and main.status_code == 200
    assert second.status_code == 429 and second.json()["error"]["code"] == 130429
    assert sandbox.refused() == {"130429": 1}


def test_a_numbers_statuses_and_the_messages_people_write_to_it_carry_its_metadata(sandbox, webhook_receiver):
    sandbox.configure(more_numbers=[SECOND], webhook_url=webhook_receiver.url, status_order=["sent"], **FAST)

    text_from(sandbox, SECOND_NUMBER_ID)
    sandbox.inbound(**{"from": "4915123456789", "text": "Hello", "to": SECOND_NUMBER_ID})
    sandbox.inbound(**{"from": "4915123456789", "text": "Hello main"})
    sandbox.wait_for_webhooks(delivered=3)

    metadata = {
        (change["value"].get("statuses") or change["value"]["messages"])[0].get("status", "message"): change["value"]["metadata"]
        for change in webhook_receiver.changes()
        if change["value"].get("statuses") or change["value"]["messages"][0]["text"]["body"] == "Hello"
    }
    assert metadata == {
        "sent": {"display_phone_number": SECOND_DISPLAY_NUMBER, "phone_number_id": SECOND_NUMBER_ID},
        "message": {"display_phone_number": SECOND_DISPLAY_NUMBER, "phone_number_id": SECOND_NUMBER_ID},
    }
    main = next(c for c in webhook_receiver.changes() if c["value"].get("messages") and c["value"]["messages"][0]["text"]["body"] == "Hello main")
    assert main["value"]["metadata"]["phone_number_id"] == settings.WHATSAPP_PHONE_NUMBER_ID


@pytest.mark.parametrize("numbers", [[{"phone_number_id": "abc"}], [{**SECOND, "throughput": -1}], [SECOND, SECOND]])
def test_a_bad_list_of_numbers_is_refused_with_a_clear_error(sandbox, numbers):
    with pytest.raises(urllib.error.HTTPError) as refused:
        sandbox.configure(more_numbers=numbers)

    assert "more_numbers" in refused.value.read().decode()
