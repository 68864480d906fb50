"""The sandbox's Meta behaviours of November 2026, each behind a switch, driven over HTTP.

The sandbox runs as its own process (``tests/sandbox_fixtures.py``); its webhooks go to a real local
HTTP receiver, so every body checked here is the signed JSON a production endpoint would get.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import requests
from django.conf import settings

from tests.sandbox_fixtures import free_port

USERNAME_USER = "4915123450777"
BSUID = "DE.1234567890123"
PARENT_BSUID = "DE.ENT.99887766"
FAST = {"sent_delay": 0.01, "delivered_delay": 0.01, "read_delay": 0.01}
SALE = {
    "name": "spring_sale",
    "language": {"code": "en_US"},
    "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "20%"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "tok123"}]},
    ],
}


def text_to(**address: str) -> dict:
    return {"messaging_product": "whatsapp", **address, "type": "text", "text": {"body": "Your order has shipped."}}


def sale_to(**address: str) -> dict:
    return {"messaging_product": "whatsapp", **address, "type": "template", "template": SALE, "biz_opaque_callback_data": "msg:42"}


def post(sandbox, body: dict) -> requests.Response:
    url = f"{sandbox.url}/{settings.WHATSAPP_API_VERSION}/{settings.WHATSAPP_PHONE_NUMBER_ID}/messages"
    return requests.post(url, json=body, headers={"Authorization": f"Bearer {settings.WHATSAPP_ACCESS_TOKEN}"}, timeout=5)


@pytest.fixture
def hooked(sandbox, webhook_receiver):
    """The sandbox posting its webhooks to a local receiver, with short status delays, one at a time (in order)."""
    sandbox.configure(webhook_url=webhook_receiver.url, webhook_concurrency=1, **FAST)
    return sandbox


def signed_deliveries(receiver) -> list[dict]:
    """Every delivery, after checking it is signed and addressed like Meta's."""
    bodies = []
    for raw, headers in receiver.deliveries:
        expected = hmac.new(settings.WHATSAPP_APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        assert headers["X-Hub-Signature-256"] == f"sha256={expected}"
        body = json.loads(raw)
        assert body["object"] == "whatsapp_business_account"
        for entry in body["entry"]:
            assert entry["id"] == settings.WHATSAPP_BUSINESS_ACCOUNT_ID
            for change in entry["changes"]:
                if change["field"] in ("messages", "user_preferences"):
                    assert change["value"]["metadata"]["phone_number_id"] == settings.WHATSAPP_PHONE_NUMBER_ID
        bodies.append(body)
    return bodies


def values(receiver, field: str = "messages") -> list[dict]:
    return [c["value"] for body in signed_deliveries(receiver) for e in body["entry"] for c in e["changes"] if c["field"] == field]


def statuses(receiver) -> list[dict]:
    return [status for value in values(receiver) for status in value.get("statuses", [])]


def wait_until(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# --- people known by a business-scoped user id --------------------------------------------------


def test_a_username_user_is_named_by_bsuid_and_never_by_phone_in_webhooks(hooked, webhook_receiver):
    hooked.configure(username_users=[{"number": USERNAME_USER, "user_id": BSUID, "username": "@ana", "parent_user_id": PARENT_BSUID}])

    answer = post(hooked, sale_to(recipient=BSUID))
    hooked.inbound(**{"from": USERNAME_USER, "text": "STOP"})
    hooked.inbound(**{"user_id": BSUID, "user_preference": "stop"})
    webhook_receiver.wait_for(5)  # sent, delivered, read, the STOP, the preference

    assert answer.status_code == 200
    assert answer.json()["contacts"] == [{"input": BSUID, "user_id": BSUID}]
    raw = b"".join(body for body, _ in webhook_receiver.deliveries).decode()
    assert USERNAME_USER not in raw and '"wa_id"' not in raw and '"from"' not in raw and '"recipient_id"' not in raw
    sent, delivered, read = statuses(webhook_receiver)
    assert [s["status"] for s in (sent, delivered, read)] == ["sent", "delivered", "read"]
    assert {(s["recipient_user_id"], s["recipient_parent_user_id"]) for s in (sent, delivered, read)} == {(BSUID, PARENT_BSUID)}
    status_contacts = [v["contacts"][0] for v in values(webhook_receiver) if v.get("statuses")]
    assert [c["profile"].get("username") for c in status_contacts] == [None, "@ana", "@ana"]  # not on sent
    (stop,) = [v for v in values(webhook_receiver) if v.get("messages")]
    assert stop["messages"][0]["from_user_id"] == BSUID and stop["messages"][0]["text"] == {"body": "STOP"}
    assert stop["contacts"] == [{"profile": {"name": "Sandbox user", "username": "@ana"}, "user_id": BSUID, "parent_user_id": PARENT_BSUID}]
    (preference,) = values(webhook_receiver, "user_preferences")
    assert preference["user_preferences"][0]["user_id"] == BSUID and preference["user_preferences"][0]["value"] == "stop"
    (send,) = hooked.sends()
    assert (send["recipient"], send["user_id"], send["to"]) == (BSUID, BSUID, None)


def test_a_send_to_a_username_users_phone_number_reports_both_ids(hooked, webhook_receiver):
    hooked.configure(username_users=[{"suffix": "0777"}], status_order=["sent"])

    answer = post(hooked, text_to(to=USERNAME_USER)).json()
    webhook_receiver.wait_for(1)

    derived = answer["contacts"][0]["user_id"]
    assert answer["contacts"][0]["wa_id"] == USERNAME_USER and derived.startswith("US.")
    (sent,) = statuses(webhook_receiver)
    # Sent to the phone number, so the status names it too (whatsapp-api-js ServerStatusPayload).
    assert (sent["recipient_id"], sent["recipient_user_id"]) == (USERNAME_USER, derived)


def test_before_phone_numbers_are_withheld_webhooks_carry_both_ids(hooked, webhook_receiver):
    hooked.configure(username_users=[{"number": USERNAME_USER, "user_id": BSUID, "hide_phone": False}])

    hooked.inbound(**{"from": USERNAME_USER, "text": "hello"})
    (value,) = [v for body in webhook_receiver.wait_for(1) for e in body["entry"] for v in [c["value"] for c in e["changes"]]]

    assert value["messages"][0]["from"] == USERNAME_USER and value["messages"][0]["from_user_id"] == BSUID
    assert value["contacts"][0]["wa_id"] == USERNAME_USER and value["contacts"][0]["user_id"] == BSUID


@pytest.mark.parametrize(
    ("address", "detail"),
    [({"recipient": "4915123456789"}, "not a valid business-scoped user id"),
     ({"recipient": BSUID, "to": "4915123456789"}, "either to"),
     ({}, "to is required")],
)  # fmt: skip
def test_a_bad_recipient_is_refused_with_code_100(sandbox, address, detail):
    answer = post(sandbox, text_to(**address))

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 100 and detail in error["message"] + error.get("error_data", {}).get("details", "")
    assert sandbox.sends() == []


def test_a_changed_bsuid_is_announced_by_a_system_message_and_used_afterwards(hooked, webhook_receiver):
    hooked.configure(username_users=[{"number": USERNAME_USER, "user_id": BSUID}])

    change = hooked.control("POST", "/_sandbox/user_id_change", {"from": USERNAME_USER, "new_user_id": "DE.777"})
    hooked.inbound(**{"from": USERNAME_USER, "text": "hi again"})
    webhook_receiver.wait_for(2)
    answer = post(hooked, text_to(recipient="DE.777")).json()

    assert (change["old_user_id"], change["new_user_id"]) == (BSUID, "DE.777")
    # Both were due at once: they may arrive in either order.
    (system,) = [v for v in values(webhook_receiver) if v["messages"][0]["type"] == "system"]
    (later,) = [v for v in values(webhook_receiver) if v["messages"][0]["type"] == "text"]
    assert "contacts" not in system  # system messages carry no contacts array
    (message,) = system["messages"]
    assert message["type"] == "system" and "from" not in message and message["from_user_id"] == BSUID
    assert message["system"]["type"] == "user_changed_user_id" and message["system"]["user_id"] == "DE.777"
    assert later["messages"][0]["from_user_id"] == "DE.777" and later["contacts"][0]["user_id"] == "DE.777"
    assert answer["contacts"] == [{"input": "DE.777", "user_id": "DE.777"}]


def test_a_person_without_a_bsuid_cannot_change_it(hooked):
    answer = requests.post(f"{hooked.url}/_sandbox/user_id_change", json={"from": "4915123456789"}, timeout=5)

    assert answer.status_code == 400 and "add their number to username_users" in answer.json()["error"]


# --- every error code on demand ----------------------------------------------------------------

# (code, HTTP status) as Meta's error code page lists them.
META_ERRORS = [
    (131042, 400), (131063, 400), (131064, 400), (131037, 400), (130472, 400), (130497, 403), (131030, 400),
    (131021, 400), (131057, 500), (132008, 400), (132068, 400), (132069, 400), (3, 500), (131049, 400),
    (131050, 400), (131026, 400), (130429, 400), (131056, 400), (132000, 400), (132001, 404), (132012, 400),
    (100, 400), (190, 401), (131000, 500), (131047, 400), (131051, 400), (133010, 400),
]  # fmt: skip


@pytest.mark.parametrize(("code", "http_status"), META_ERRORS)
def test_any_meta_error_code_answers_a_send_for_that_recipient(sandbox, code, http_status):
    sandbox.configure(send_faults=[{"code": code, "number": "4915123456789"}])

    refused = post(sandbox, text_to(to="+4915123456789"))
    other = post(sandbox, text_to(to="4915123456700"))

    assert refused.status_code == http_status
    error = refused.json()["error"]
    assert error["code"] == code and error["type"] == "OAuthException" and error["fbtrace_id"]
    assert error["message"].startswith(f"(#{code}) ") and len(error["message"]) > len(f"(#{code}) ")
    assert error["error_data"]["messaging_product"] == "whatsapp" and error["error_data"]["details"]
    assert "error_subcode" not in error  # gone since v16
    assert other.status_code == 200
    assert [s["wa_id"] for s in sandbox.sends()] == ["4915123456700"]
    assert sandbox.refused() == {str(code): 1}


def test_a_fault_rule_may_override_the_http_status_and_details(sandbox):
    sandbox.configure(send_faults=[{"code": 131000, "http_status": 503, "details": "upstream busy"}])

    answer = post(sandbox, text_to(to="4915123456789"))

    assert answer.status_code == 503
    assert (answer.json()["error"]["code"], answer.json()["error"]["error_data"]["details"]) == (131000, "upstream busy")


def test_the_next_n_sends_fail_and_the_following_one_succeeds(sandbox):
    sandbox.configure(send_faults=[{"code": 131000, "times": 2}])

    answers = [post(sandbox, text_to(to=f"49151234567{i:02d}")) for i in range(3)]

    assert [a.status_code for a in answers] == [500, 500, 200]
    assert [a.json()["error"]["code"] for a in answers[:2]] == [131000, 131000]
    assert len(sandbox.sends()) == 1


def test_an_error_can_target_a_person_known_only_by_bsuid(sandbox):
    sandbox.configure(send_faults=[{"code": 131050, "user_id": BSUID}])

    assert post(sandbox, text_to(recipient=BSUID)).json()["error"]["code"] == 131050
    assert post(sandbox, text_to(recipient="DE.42")).status_code == 200


# --- dirty failures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "http_status", "body_start", "content_type"),
    [("bare_500", 500, "", None), ("plain_500", 500, "Internal Server Error", "text/plain"),
     ("html_502", 502, "<html>", "text/html"), ("gateway_timeout_504", 504, "<html>", "text/html")],
)  # fmt: skip
def test_dirty_failures_answer_without_metas_json(sandbox, fault, http_status, body_start, content_type):
    sandbox.configure(send_faults=[{"fault": fault, "times": 1}])

    answer = post(sandbox, text_to(to="4915123456789"))

    assert answer.status_code == http_status and answer.text.startswith(body_start)
    if content_type:
        assert answer.headers["Content-Type"].startswith(content_type)
    with pytest.raises(ValueError):
        answer.json()
    assert sandbox.sends() == [] and sandbox.refused() == {fault: 1}
    assert post(sandbox, text_to(to="4915123456789")).status_code == 200  # times: 1


def test_a_cut_connection_after_the_body_hides_an_accepted_send_whose_statuses_still_flow(hooked, webhook_receiver):
    hooked.configure(send_faults=[{"fault": "cut_after_body", "number": "4915123456789"}])

    with pytest.raises(requests.ConnectionError):
        post(hooked, sale_to(to="4915123456789"))
    webhook_receiver.wait_for(3)

    (send,) = hooked.sends()
    assert (send["answered"], send["callback_data"], send["outcome"]) == ("cut_after_body", "msg:42", "accepted")
    flowed = statuses(webhook_receiver)
    assert [s["status"] for s in flowed] == ["sent", "delivered", "read"]
    assert {s["id"] for s in flowed} == {send["wamid"]} and {s["biz_opaque_callback_data"] for s in flowed} == {"msg:42"}


def test_a_gateway_timeout_may_hide_a_message_meta_took(hooked, webhook_receiver):
    hooked.configure(send_faults=[{"fault": "gateway_timeout_504", "accepted": True, "times": 1}])

    assert post(hooked, text_to(to="4915123456789")).status_code == 504
    webhook_receiver.wait_for(3)

    (send,) = hooked.sends()
    assert send["answered"] == "gateway_timeout_504" and hooked.refused() == {}
    assert {s["id"] for s in statuses(webhook_receiver)} == {send["wamid"]}


def test_the_older_outage_switch_still_answers_in_metas_json(sandbox):
    sandbox.configure(server_error_rate=1.0)

    answer = post(sandbox, text_to(to="4915123456789"))

    assert (answer.status_code, answer.json()["error"]["code"]) == (500, 131000)


# --- statuses -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "order",
    [["sent", "read"], ["sent", "read", "delivered"], ["sent", "delivered", "read", "played"], ["read"]],
    ids=["read-without-delivered", "delivered-after-read", "played", "read-only"],
)
def test_statuses_arrive_in_the_configured_order(hooked, webhook_receiver, order):
    hooked.configure(status_order=order, sent_delay=0.02, delivered_delay=0.05, read_delay=0.05)

    post(hooked, text_to(to="4915123456789"))
    webhook_receiver.wait_for(len(order))
    time.sleep(0.2)  # nothing more follows

    assert [s["status"] for s in statuses(webhook_receiver)] == order


def test_several_statuses_in_one_envelope_each_delivered_twice(hooked, webhook_receiver):
    hooked.configure(statuses_in_one_envelope=True, status_copies=2)

    post(hooked, text_to(to="4915123456789"))
    webhook_receiver.wait_for(2)
    time.sleep(0.2)

    first, second = [body for body, _ in webhook_receiver.deliveries]
    assert json.loads(first) == json.loads(second)  # the same envelope twice
    (value,) = values(webhook_receiver)[:1]
    assert [s["status"] for s in value["statuses"]] == ["sent", "delivered", "read"]
    assert hooked.webhooks()["delivered"] == 2


@pytest.mark.parametrize(
    ("switches", "expected"),
    [({}, {"billable": True, "pricing_model": "PMP", "category": "marketing", "type": "regular"}),
     ({"pricing_billable": None, "pricing_category": "marketing_lite", "pricing_type": "free_entry_point"},
      {"pricing_model": "PMP", "category": "marketing_lite", "type": "free_entry_point"}),
     ({"pricing_billable": False, "pricing_category": "service", "pricing_type": "free_customer_service"},
      {"billable": False, "pricing_model": "PMP", "category": "service", "type": "free_customer_service"})],
)  # fmt: skip
def test_pricing_carries_category_type_and_billable_per_switch(hooked, webhook_receiver, switches, expected):
    hooked.configure(status_order=["sent"], **switches)

    post(hooked, sale_to(to="4915123456789"))
    webhook_receiver.wait_for(1)

    assert statuses(webhook_receiver)[0]["pricing"] == expected


@pytest.mark.parametrize(
    ("changes", "error"),
    [({"status_order": ["seen"]}, "status_order"), ({"pricing_type": "gratis"}, "pricing_type"),
     ({"status_copies": 0}, "status_copies"), ({"send_faults": [{"fault": "boom"}]}, "send_faults[0].fault"),
     ({"send_faults": [{"number": "1"}]}, "needs either 'code'"),
     ({"username_users": [{"number": "1", "user_id": "nope"}]}, "is not a BSUID")],
)  # fmt: skip
def test_bad_switch_values_are_refused_with_a_clear_error(sandbox, changes, error):
    answer = requests.post(f"{sandbox.url}/_sandbox/config", json=changes, timeout=5)

    assert answer.status_code == 400 and error in answer.json()["error"]


def test_billable_takes_only_true_false_or_null_even_once_omitted(sandbox):
    sandbox.configure(pricing_billable=None)

    answer = requests.post(f"{sandbox.url}/_sandbox/config", json={"pricing_billable": "yes"}, timeout=5)

    assert answer.status_code == 400 and "pricing_billable: expected true, false or null" in answer.json()["error"]


# --- webhook redelivery -------------------------------------------------------------------------


def test_a_refused_webhook_is_redelivered_with_backoff_until_answered_200(hooked, webhook_receiver):
    hooked.configure(webhook_retries=-1, webhook_redelivery_base_delay=0.1, webhook_redelivery_window=30)
    webhook_receiver.answers = [500, 503, 404]

    hooked.inbound(**{"from": "4915123456789", "text": "STOP"})
    webhook_receiver.wait_for(4)
    hooked.wait_for_webhooks(delivered=1)

    bodies = [body for body, _ in webhook_receiver.deliveries]
    assert len(set(bodies)) == 1  # the very same signed bytes each time
    gaps = [later - earlier for earlier, later in zip(webhook_receiver.arrived, webhook_receiver.arrived[1:], strict=False)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39  # 0.1, 0.2, 0.4 s
    state = hooked.webhooks(log=True)
    assert (state["delivered"], state["failed"], state["redelivered"]) == (1, 0, 3)
    assert state["log"][0]["attempts"] == 4 and state["log"][0]["http_status"] == 200


def test_redelivery_gives_up_at_the_end_of_its_window(hooked, webhook_receiver):
    hooked.configure(webhook_retries=-1, webhook_redelivery_base_delay=0.05, webhook_redelivery_window=0.3)
    webhook_receiver.answers = [500] * 20

    hooked.inbound(**{"from": "4915123456789", "text": "hi"})
    state = hooked.wait_for_webhooks(delivered=1)

    # Attempts at 0, 0.05 and 0.15 s; the next (0.35 s) would fall outside the 0.3 s window.
    assert len(webhook_receiver.deliveries) == 3
    assert (state["delivered"], state["failed"], state["log"][0]["attempts"]) == (0, 1, 3)


def test_a_receiver_that_is_down_gets_the_webhook_once_it_is_back(hooked, webhook_receiver):
    down = f"http://127.0.0.1:{free_port()}/webhooks"
    hooked.configure(webhook_url=down, webhook_retries=-1, webhook_redelivery_base_delay=0.1)

    hooked.inbound(**{"from": "4915123456789", "text": "hi"})
    wait_until(lambda: hooked.webhooks()["redelivered"] >= 2)
    assert hooked.webhooks()["pending"] == 1  # still trying, not given up
    hooked.configure(webhook_url=webhook_receiver.url)
    hooked.wait_for_webhooks(delivered=1)

    (value,) = values(webhook_receiver)
    assert value["messages"][0]["text"] == {"body": "hi"}


def test_by_default_a_dead_receiver_stops_being_retried_after_three_redeliveries(hooked, webhook_receiver):
    webhook_receiver.answers = [500] * 10

    hooked.inbound(**{"from": "4915123456789", "text": "hi"})
    state = hooked.wait_for_webhooks(delivered=1)

    assert len(webhook_receiver.deliveries) == 4 and state["failed"] == 1


# --- template and account webhooks --------------------------------------------------------------


def notify(sandbox, **spec) -> dict:
    return sandbox.control("POST", "/_sandbox/notify", spec)


def test_a_paused_template_is_announced_refused_and_reapproved(hooked, webhook_receiver):
    notify(hooked, field="message_template_status_update", template="spring_sale", language="en_US",
           event="PAUSED", reason="Low quality: too many blocks", other_info={"title": "FIRST_PAUSE", "description": "paused"})  # fmt: skip
    webhook_receiver.wait_for(1)
    paused = post(hooked, sale_to(to="4915123456789"))
    notify(hooked, field="message_template_status_update", template="spring_sale", event="APPROVED")
    webhook_receiver.wait_for(2)
    approved = post(hooked, sale_to(to="4915123456789"))

    (body, _) = signed_deliveries(webhook_receiver)
    (entry,) = body["entry"]
    assert isinstance(entry["time"], int) and entry["changes"][0]["field"] == "message_template_status_update"
    assert entry["changes"][0]["value"] == {
        "message_template_id": 900000000000001, "message_template_name": "spring_sale",
        "message_template_language": "en_US", "event": "PAUSED", "reason": "Low quality: too many blocks",
        "message_template_category": "MARKETING", "other_info": {"title": "FIRST_PAUSE", "description": "paused"},
    }  # fmt: skip
    assert (paused.status_code, paused.json()["error"]["code"]) == (400, 132015)
    assert approved.status_code == 200


def test_disabled_and_rejected_templates_carry_their_details(hooked, webhook_receiver):
    notify(hooked, field="message_template_status_update", template="order_shipped", event="DISABLED")
    notify(hooked, field="message_template_status_update", template="welcome_back", event="REJECTED", reason="INCORRECT_CATEGORY")
    webhook_receiver.wait_for(2)

    by_event = {v["event"]: v for v in values(webhook_receiver, "message_template_status_update")}
    assert "disable_date" in by_event["DISABLED"]["disable_info"]
    assert by_event["REJECTED"]["reason"] == "INCORRECT_CATEGORY"
    assert post(hooked, text_to(to="4915123456789")).status_code == 200  # text sends are unaffected


def test_a_recategorised_template_is_announced_and_priced_in_its_new_category(hooked, webhook_receiver):
    hooked.configure(status_order=["sent"])
    notify(hooked, field="template_category_update", template="order_shipped", new_category="MARKETING")
    webhook_receiver.wait_for(1)
    body = {"messaging_product": "whatsapp", "to": "4915123456789", "type": "template",
            "template": {"name": "order_shipped", "language": {"code": "en_US"},
                         "components": [{"type": "body", "parameters": [{"type": "text", "text": "A-1"}]}]}}  # fmt: skip
    post(hooked, body)
    webhook_receiver.wait_for(2)

    (value,) = values(webhook_receiver, "template_category_update")
    assert (value["previous_category"], value["new_category"]) == ("UTILITY", "MARKETING")
    assert statuses(webhook_receiver)[0]["pricing"]["category"] == "marketing"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [({"field": "template_category_update", "template": "order_shipped", "new_category": "MARKETING", "impending": True},
      {"correct_category": "MARKETING", "new_category": "UTILITY"}),
     ({"field": "message_template_quality_update", "template": "spring_sale", "new_quality_score": "YELLOW"},
      {"previous_quality_score": "GREEN", "new_quality_score": "YELLOW", "message_template_name": "spring_sale"}),
     ({"field": "phone_number_quality_update", "event": "UPGRADE", "max_daily_conversations_per_business": "TIER_10K"},
      {"display_phone_number": "15550001111", "event": "UPGRADE", "max_daily_conversations_per_business": "TIER_10K"}),
     ({"field": "account_update", "event": "MM_LITE_TERMS_SIGNED"},
      {"phone_number": "15550001111", "event": "MM_LITE_TERMS_SIGNED"})],
    ids=["impending-category", "template-quality", "messaging-limit", "account"],
)  # fmt: skip
def test_account_and_template_webhooks_have_metas_shape(hooked, webhook_receiver, spec, expected):
    notify(hooked, **spec)
    (body,) = webhook_receiver.wait_for(1)

    (change,) = body["entry"][0]["changes"]
    assert change["field"] == spec["field"] and expected.items() <= change["value"].items()
    assert "current_limit" not in change["value"]  # removed by Meta in February 2026
    signed_deliveries(webhook_receiver)


def test_out_of_band_errors_arrive_in_the_change_value(hooked, webhook_receiver):
    notify(hooked, field="errors", code=131042)
    webhook_receiver.wait_for(1)

    (value,) = values(webhook_receiver)
    assert value["errors"] == [{
        "code": 131042, "title": "Business eligibility payment issue", "message": "Business eligibility payment issue",
        "error_data": {"details": "Message failed to send because there were one or more errors related to your payment method."},
    }]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "error"),
    [({"field": "message_template_status_update", "template": "nope", "event": "APPROVED"}, "no sandbox template 'nope'"),
     ({"field": "message_template_status_update", "template": "spring_sale", "event": "MAYBE"}, "event: expected one of"),
     ({"field": "weather"}, "field: expected one of")],
)  # fmt: skip
def test_a_bad_notify_request_is_refused_with_a_clear_error(hooked, spec, error):
    answer = requests.post(f"{hooked.url}/_sandbox/notify", json=spec, timeout=5)

    assert answer.status_code == 400 and error in answer.json()["error"]
