"""The Cloud API client against the sandbox, over real HTTP."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.whatsapp.test_errors import TABLE
from whatsapp import client
from whatsapp.client import ErrorScope, WhatsAppError
from whatsapp.sandbox.errors import describe

SALE_COMPONENTS = [
    {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "20%"}]},
    {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "tok123"}]},
]


def send_sale(to: str = "+4915123456789", **overrides):
    arguments = {"to": to, "template_name": "spring_sale", "language": "en_US", "components": SALE_COMPONENTS}
    return client.send_template(**{**arguments, **overrides})


def test_a_template_send_is_accepted_and_logged_exactly(sandbox):
    result = send_sale(callback_data="msg:1234")

    assert result.wamid.startswith("wamid.")
    assert result.wa_id == "4915123456789"
    assert result.message_status == "accepted"
    [logged] = sandbox.sends()
    assert logged["wamid"] == result.wamid
    assert logged["to"] == "4915123456789"  # the leading + is dropped as Meta expects
    assert logged["template"] == {"name": "spring_sale", "language": "en_US", "category": "MARKETING"}
    assert logged["components"] == SALE_COMPONENTS
    assert logged["callback_data"] == "msg:1234"


def test_a_text_reply_is_accepted(sandbox):
    result = client.send_text(to="4915123456789", body="You will no longer receive offers.")

    assert result.message_status is None  # only template sends carry message_status
    [logged] = sandbox.sends()
    assert (logged["type"], logged["text"], logged["wamid"]) == (
        "text",
        "You will no longer receive offers.",
        result.wamid,
    )


def test_the_template_list_follows_paging_to_the_end(sandbox):
    templates = client.list_templates(page_size=2)

    names = [(t["name"], t["language"]) for t in templates]
    assert len(names) == 11 and len(set(names)) == 11
    assert ("spring_sale", "en_US") in names and ("restock_alert", "en_US") in names


@pytest.mark.parametrize(
    ("call", "code", "scope"),
    [
        (lambda: send_sale(template_name="no_such_template"), 132001, ErrorScope.CAMPAIGN),
        (
            lambda: send_sale(components=SALE_COMPONENTS[:1] + [{"type": "body", "parameters": []}]),
            100,
            ErrorScope.CAMPAIGN,
        ),
        (
            lambda: send_sale(
                components=[
                    SALE_COMPONENTS[0] | {"parameters": SALE_COMPONENTS[0]["parameters"][:1]},
                    SALE_COMPONENTS[1],
                ]
            ),
            132000,
            ErrorScope.CAMPAIGN,
        ),
        (lambda: send_sale(components=SALE_COMPONENTS[:1]), 131008, ErrorScope.CAMPAIGN),
        (lambda: send_sale(template_name="restock_alert", components=SALE_COMPONENTS[:1]), 132015, ErrorScope.CAMPAIGN),
        (lambda: send_sale(to="not-a-number"), 100, ErrorScope.CAMPAIGN),
        (lambda: client.send_text(to="4915123456789", body="   "), 100, ErrorScope.CAMPAIGN),
    ],
    ids=[
        "unknown-template",
        "duplicate-component",
        "param-count",
        "missing-url-param",
        "paused-template",
        "bad-to",
        "empty-text",
    ],
)
def test_refused_sends_raise_a_typed_error_and_are_not_logged(sandbox, call, code, scope):
    with pytest.raises(WhatsAppError) as caught:
        call()

    assert caught.value.code == code
    assert caught.value.scope is scope
    assert caught.value.stops_campaign
    assert caught.value.trace_id
    assert sandbox.sends() == []


def test_a_bad_token_stops_the_whole_account(sandbox, settings):
    settings.WHATSAPP_ACCESS_TOKEN = "expired-token"
    with pytest.raises(WhatsAppError) as caught:
        send_sale()

    assert (caught.value.code, caught.value.http_status, caught.value.scope) == (190, 401, ErrorScope.ACCOUNT)
    assert caught.value.stops_account and caught.value.stops_campaign
    with pytest.raises(WhatsAppError, match="#190"):
        client.list_templates()


def test_throttling_is_transient_and_marked_as_throughput(sandbox):
    sandbox.configure(throttle_rate=1.0)
    with pytest.raises(WhatsAppError) as caught:
        send_sale()

    assert caught.value.code == 130429
    assert caught.value.retry_later and caught.value.is_throughput
    assert not caught.value.stops_campaign
    assert sandbox.sends() == []


def test_a_server_error_is_transient(sandbox):
    sandbox.configure(server_error_rate=1.0)
    with pytest.raises(WhatsAppError) as caught:
        send_sale()

    assert (caught.value.http_status, caught.value.code, caught.value.scope) == (500, 131000, ErrorScope.TRANSIENT)
    assert not caught.value.reached_provider  # Meta answered with its error object: refused


def test_a_slow_answer_times_out_as_transient(sandbox, settings):
    settings.WHATSAPP_READ_TIMEOUT = 0.2
    sandbox.configure(latency=1.0)
    with pytest.raises(WhatsAppError) as caught:
        send_sale()

    assert caught.value.retry_later
    assert caught.value.code is None and caught.value.http_status is None
    assert "timeout" in caught.value.message
    assert caught.value.reached_provider  # the sandbox got the request: it may have been accepted


def test_a_call_given_up_on_before_a_sandbox_reset_is_not_logged_after_it(sandbox, settings):
    settings.WHATSAPP_READ_TIMEOUT = 0.1
    sandbox.configure(latency=0.5)
    with pytest.raises(WhatsAppError):
        send_sale(to="+4915123456700")
    sandbox.reset()  # the next test starts while the sandbox still holds that call

    send_sale(to="+4915123456701")
    time.sleep(1.0)  # past the held call's latency: it must not land in this test's log
    assert [send["to"] for send in sandbox.sends()] == ["4915123456701"]


def test_an_unreachable_api_is_transient(settings):
    from tests.sandbox_fixtures import free_port

    settings.WHATSAPP_GRAPH_URL = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(WhatsAppError) as caught:
        send_sale()

    assert caught.value.retry_later
    assert "Could not reach" in caught.value.message
    assert not caught.value.reached_provider


def test_sends_from_many_threads_share_the_pool_and_all_arrive(sandbox):
    sandbox.configure(latency=0.05)
    numbers = [f"+49151234560{i:02d}" for i in range(48)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(lambda number: send_sale(to=number), numbers))

    sends = sandbox.sends()
    assert sorted(s["wa_id"] for s in sends) == sorted(n.lstrip("+") for n in numbers)
    assert {r.wamid for r in results} == {s["wamid"] for s in sends}
    origin = f"{sandbox.url.rstrip('/')}/"
    assert client._pool(origin).connection_pool_kw["maxsize"] >= 64


@pytest.mark.parametrize(
    ("code", "scope", "flag"),
    [(131026, ErrorScope.RECIPIENT, "recipient_final"), (131047, ErrorScope.RECIPIENT, "recipient_final"),
     (131056, ErrorScope.PAIR_RATE, "is_pair_rate_limit"), (131048, ErrorScope.ACCOUNT, "stops_account"),
     (368, ErrorScope.ACCOUNT, "stops_account"), (131050, ErrorScope.RECIPIENT, "records_platform_optout")],
)  # fmt: skip
def test_recipient_and_account_errors_answered_by_the_api_are_typed(sandbox, code, scope, flag):
    sandbox.configure(failure_rules=[{"number": "4915123456789", "code": code, "at": "send"}])
    with pytest.raises(WhatsAppError) as caught:
        client.send_text(to="+4915123456789", body="Your order has shipped.")

    assert (caught.value.code, caught.value.scope) == (code, scope)
    assert getattr(caught.value, flag)
    send_sale(to="+4915123456700")  # other numbers are unaffected
    assert len(sandbox.sends()) == 1


@pytest.mark.parametrize(("code", "scope"), TABLE, ids=[str(code) for code, _ in TABLE])
def test_every_listed_code_answered_by_the_api_gets_its_scope(sandbox, code, scope):
    sandbox.configure(failure_rules=[{"number": "4915123456789", "code": code, "at": "send"}])
    with pytest.raises(WhatsAppError) as caught:
        send_sale()

    # The sandbox answers each code with the HTTP status Meta uses for it (401, 403, 500, 503...).
    assert (caught.value.code, caught.value.http_status, caught.value.scope) == (code, describe(code).http_status, scope)
    assert caught.value.is_known and not caught.value.reached_provider
    assert caught.value.explanation
    assert sandbox.sends() == []


def test_an_unknown_code_answered_by_the_api_is_retried_and_flagged(sandbox):
    sandbox.configure(failure_rules=[{"number": "4915123456789", "code": 139999, "at": "send"}])
    with pytest.raises(WhatsAppError) as caught:
        send_sale()

    assert caught.value.retry_later and not caught.value.is_known
    assert caught.value.unknown_code == 139999 and not caught.value.reached_provider
