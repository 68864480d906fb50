"""The sandbox's phone pages over HTTP: what a phone received, drawn from the template's components and
escaped, and the page's buttons coming back as signed webhooks, as Meta would deliver them."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.factories import sign
from whatsapp.client import send_template, send_text
from whatsapp.sandbox_links import sandbox_phone_url

NUMBER = "4915123450001"
HOSTILE = "<script>alert('x')</script> & \"friends\""


def get(url: str) -> tuple[int, dict, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def post_form(url: str, fields: dict[str, str], headers: dict[str, str] | None = None) -> tuple[int, dict, str]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), method="POST", headers=headers or {})
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def spring_sale_to(number: str, name: str) -> str:
    result = send_template(
        to="+" + number, template_name="spring_sale", language="en_US",
        components=[
            {"type": "body", "parameters": [{"type": "text", "text": name}, {"type": "text", "text": "20%"}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "tok-42"}]},
        ],
    )  # fmt: skip
    return result.wamid


def test_the_phone_page_shows_the_template_as_the_phone_would_escaped(sandbox):
    wamid = spring_sale_to(NUMBER, HOSTILE)
    send_text(to="+" + NUMBER, body="Thanks <b>for</b> writing")

    status, headers, page = get(f"{sandbox.url}/_sandbox/phones/{NUMBER}")

    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "script-src" not in headers["Content-Security-Policy"] and "default-src 'none'" in headers["Content-Security-Policy"]
    assert '<div class="h">Spring sale</div>' in page
    assert "Hi &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;friends&quot;, our spring sale is on: 20% off" in page
    assert "<script" not in page and "<b>" not in page and "Thanks &lt;b&gt;for&lt;/b&gt; writing" in page
    assert '<div class="f">Reply STOP to unsubscribe</div>' in page
    assert '<a href="https://shop.example.com/r/tok-42" rel="noreferrer noopener" target="_blank">Shop now</a>' in page
    # The quick-reply button is a form that names the message it answers.
    assert f'<input type="hidden" name="context" value="{wamid}">' in page and ">Stop promotions</button>" in page

    _, _, index = get(f"{sandbox.url}/_sandbox/phones")
    assert f'<a href="/_sandbox/phones/{NUMBER}">+{NUMBER}</a> · 2 messages' in index


def test_pressing_a_quick_reply_sends_the_signed_button_webhook(sandbox, webhook_receiver, settings):
    sandbox.configure(webhook_url=webhook_receiver.url, sent_delay=60.0)  # statuses later: only the press arrives
    wamid = spring_sale_to(NUMBER, "Ana")

    status, headers, _ = post_form(
        f"{sandbox.url}/_sandbox/phones/{NUMBER}/reply",
        {"context": wamid, "button": "Stop promotions", "payload": "Stop promotions"},
        headers={"Origin": sandbox.url},
    )

    assert status == 303 and headers["Location"] == f"/_sandbox/phones/{NUMBER}"
    (body,) = webhook_receiver.wait_for(1)
    raw, delivered_headers = webhook_receiver.deliveries[0]
    assert delivered_headers["X-Hub-Signature-256"] == sign(raw, settings.WHATSAPP_APP_SECRET)
    value = body["entry"][0]["changes"][0]["value"]
    (message,) = value["messages"]
    assert message["from"] == NUMBER and message["type"] == "button"
    assert message["button"] == {"payload": "Stop promotions", "text": "Stop promotions"}
    assert message["context"]["id"] == wamid
    _, _, page = get(f"{sandbox.url}/_sandbox/phones/{NUMBER}")
    assert "pressed a button" in page


def test_a_typed_stop_goes_out_as_a_text_message(sandbox, webhook_receiver):
    sandbox.configure(webhook_url=webhook_receiver.url)

    status, _, _ = post_form(f"{sandbox.url}/_sandbox/phones/{NUMBER}/reply", {"text": "STOP"})

    assert status == 303
    (body,) = webhook_receiver.wait_for(1)
    assert body["entry"][0]["changes"][0]["value"]["messages"][0]["text"] == {"body": "STOP"}


def test_a_form_posted_from_another_site_is_refused(sandbox, webhook_receiver):
    sandbox.configure(webhook_url=webhook_receiver.url)

    status, _, page = post_form(f"{sandbox.url}/_sandbox/phones/{NUMBER}/reply", {"text": "STOP"}, headers={"Origin": "https://evil.example"})

    assert status == 403 and "only works from the sandbox" in page
    assert sandbox.webhooks()["pending"] == 0 and webhook_receiver.deliveries == []


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [({"text": "  "}, 400, "Write a message first."), ({"text": "hi"}, 409, "no webhook_url")],
)
def test_an_empty_message_or_a_sandbox_without_webhooks_says_why(sandbox, fields, status, words):
    answer, _, page = post_form(f"{sandbox.url}/_sandbox/phones/{NUMBER}/reply", fields)

    assert answer == status and words in page


def test_links_to_the_phone_page_only_while_talking_to_the_sandbox(sandbox, settings):
    assert sandbox_phone_url(phone="+49 151 2345 0001") == f"{sandbox.url}/_sandbox/phones/4915123450001"
    settings.WHATSAPP_GRAPH_URL = "https://graph.facebook.com"
    assert sandbox_phone_url(phone="+4915123450001") is None

