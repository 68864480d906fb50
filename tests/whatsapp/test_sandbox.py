"""The sandbox answers like the Cloud API: request shapes, token, errors and its control endpoints."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import requests
from django.conf import settings

from tests.sandbox_fixtures import ROOT, free_port

GOOD = {
    "messaging_product": "whatsapp",
    "to": "4915123456789",
    "type": "template",
    "template": {
        "name": "welcome_back",
        "language": {"code": "en_US"},
        "components": [
            {"type": "body", "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "Ana"},
                {"type": "text", "parameter_name": "discount_code", "text": "HELLO10"},
            ]},
        ],
    },
}  # fmt: skip


def post(sandbox, body, *, token: str | None = None, phone_number_id: str | None = None):
    url = f"{sandbox.url}/v21.0/{phone_number_id or settings.WHATSAPP_PHONE_NUMBER_ID}/messages"
    headers = {"Authorization": f"Bearer {token or settings.WHATSAPP_ACCESS_TOKEN}"}
    return requests.post(url, json=body, headers=headers, timeout=5)


def with_template(**changes) -> dict:
    return {**GOOD, "template": {**GOOD["template"], **changes}}


def test_a_named_template_send_is_accepted(sandbox):
    response = post(sandbox, GOOD)
    assert response.status_code == 200
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "4915123456789", "wa_id": "4915123456789"}]
    assert body["messages"][0]["message_status"] == "accepted"


@pytest.mark.parametrize(
    ("body", "http_status", "code", "detail"),
    [
        ({k: v for k, v in GOOD.items() if k != "messaging_product"}, 400, 100, "messaging_product"),
        ({**GOOD, "to": ""}, 400, 100, "to is required"),
        ({**GOOD, "type": "sticker"}, 400, 100, "Param type"),
        ({**GOOD, "template": "welcome_back"}, 400, 131008, "template"),
        (with_template(language="en_US"), 400, 131008, "language"),
        (with_template(components={"type": "body"}), 400, 100, "must be a list"),
        (with_template(components=[{"type": "footer", "parameters": []}]), 400, 100, "header, body, button"),
        (with_template(components=[{"type": "body", "parameters": [{"type": "text"}]}]), 400, 131008, "['text'] is required"),
        (with_template(components=[{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]), 400, 132000, "does not match"),
        (with_template(components=[{"type": "body", "parameters": [
            {"type": "text", "parameter_name": "name", "text": "Ana"}, {"type": "text", "parameter_name": "code", "text": "X"}]}]),
         400, 132012, "parameter_name"),
        (with_template(name="black_friday_teaser", components=[]), 404, 132001, "does not exist"),
        ({**GOOD, "type": "text", "text": {"body": "x" * 4097}}, 400, 100, "longer than"),
        ({**GOOD, "biz_opaque_callback_data": "x" * 513}, 400, 100, "512"),
    ],
)  # fmt: skip
def test_malformed_sends_get_metas_error_shape(sandbox, body, http_status, code, detail):
    response = post(sandbox, body)

    assert response.status_code == http_status
    error = response.json()["error"]
    assert error["code"] == code and error["type"] == "OAuthException" and error["fbtrace_id"]
    assert detail in error["message"] + error.get("error_data", {}).get("details", "")
    assert sandbox.sends() == []


def test_the_token_and_the_phone_number_id_are_checked(sandbox):
    missing = requests.post(f"{sandbox.url}/v21.0/{settings.WHATSAPP_PHONE_NUMBER_ID}/messages", json=GOOD, timeout=5)
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, 190)
    assert post(sandbox, GOOD, token="nope").json()["error"]["code"] == 190
    wrong_number = post(sandbox, GOOD, phone_number_id="123").json()["error"]
    assert (wrong_number["code"], wrong_number["error_subcode"]) == (100, 33)
    assert sandbox.sends() == []


def test_the_template_list_pages_with_limit_and_cursor(sandbox):
    headers = {"Authorization": f"Bearer {settings.WHATSAPP_ACCESS_TOKEN}"}
    url = f"{sandbox.url}/v21.0/{settings.WHATSAPP_BUSINESS_ACCOUNT_ID}/message_templates?limit=3"
    pages = []
    while url:
        page = requests.get(url, headers=headers, timeout=5).json()
        pages.append(len(page["data"]))
        url = page["paging"].get("next")
    assert pages == [3, 3, 3, 2]


def test_a_template_is_created_pending_and_refused_like_meta_refuses_it(sandbox):
    headers = {"Authorization": f"Bearer {settings.WHATSAPP_ACCESS_TOKEN}"}
    url = f"{sandbox.url}/v21.0/{settings.WHATSAPP_BUSINESS_ACCOUNT_ID}/message_templates"
    template = {"name": "order_ready", "language": "en_US", "category": "UTILITY",
                "components": [{"type": "BODY", "text": "Your order {{1}} is ready.", "example": {"body_text": [["A-1"]]}}]}  # fmt: skip

    created = requests.post(url, json=template, headers=headers, timeout=5)
    assert created.status_code == 200 and created.json() == {"id": created.json()["id"], "status": "PENDING", "category": "UTILITY"}
    listed = requests.get(url, params={"limit": 100}, headers=headers, timeout=5).json()["data"]
    assert [(t["id"], t["status"]) for t in listed if t["name"] == "order_ready"] == [(created.json()["id"], "PENDING")]

    again = requests.post(url, json=template, headers=headers, timeout=5).json()["error"]
    assert (again["code"], again["error_subcode"], again["error_user_title"]) == (100, 2388024, "Message template already exists")
    bad = requests.post(url, json={**template, "name": "Order Ready"}, headers=headers, timeout=5)
    assert bad.status_code == 400 and "Name: only lowercase letters" in bad.json()["error"]["error_user_msg"]
    assert requests.post(url, json=template, timeout=5).json()["error"]["code"] == 190
    other = f"{sandbox.url}/v21.0/999/message_templates"
    assert requests.post(other, json=template, headers=headers, timeout=5).json()["error"]["error_subcode"] == 33


def test_config_changes_are_validated_and_reset_restores_everything(sandbox):
    with pytest.raises(urllib.error.HTTPError):
        sandbox.configure(no_such_setting=1)
    with pytest.raises(urllib.error.HTTPError):
        sandbox.configure(read_rate=2)
    sandbox.configure(latency=0.01, throttle_rate=0.0)
    post(sandbox, GOOD)
    assert len(sandbox.sends()) == 1

    sandbox.reset()

    assert sandbox.sends() == []
    assert sandbox.control("GET", "/_sandbox/config")["latency"] == 0.0


def test_the_management_command_serves_the_sandbox_with_the_projects_credentials(tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RETARGET_VAR_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "whatsapp_sandbox", "--port", str(port), "--webhook-url", ""],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_sandbox/health", timeout=1)
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "the sandbox command did not start"
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/v21.0/{settings.WHATSAPP_PHONE_NUMBER_ID}/messages"
        ok = requests.post(url, json=GOOD, headers={"Authorization": f"Bearer {settings.WHATSAPP_ACCESS_TOKEN}"}, timeout=5)
        assert ok.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
