"""Whether a failed call may have reached Meta, decided by the client, against real sockets.

The sandbox answers like Meta; the failures in between (a proxy's HTML 502, a connection cut after
the request was read, a server that never accepts) come from a tiny HTTP server of our own.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.sandbox_fixtures import free_port
from whatsapp import client
from whatsapp.client import ErrorScope, WhatsAppError, never_left

SALE = [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "20%"}]}]
BSUID = "DE.13491208655302741918"


def send_sale(**address: str):
    address = address or {"to": "+4915123456789"}
    return client.send_template(template_name="spring_sale", language="en_US", components=SALE, **address)


@dataclass
class Received:
    method: str
    path: str
    body: dict


def http_answer(status: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def json_answer(status: str, payload: dict) -> bytes:
    return http_answer(status, json.dumps(payload).encode(), "application/json")


@dataclass
class FakeGraph:
    """A one-behaviour HTTP server: ``answer`` is the raw bytes to send, None to cut the connection."""

    url: str
    answer: bytes | None = None
    hang: bool = False
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def _read_request(sock: socket.socket) -> Received:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        body += sock.recv(65536)
    method, path, _ = lines[0].split(" ", 2)
    return Received(method, path, json.loads(body) if body else {})


@pytest.fixture
def fake_graph(settings) -> Iterator[FakeGraph]:
    state = FakeGraph(url="")

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            state.received.append(_read_request(self.request))
            if state.hang:  # read the whole request, then never answer
                state.release.wait(10)
            elif state.answer is not None:
                self.request.sendall(state.answer)
            # else: the request was read in full and the connection is closed without a byte

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.WHATSAPP_GRAPH_URL = state.url
    settings.WHATSAPP_READ_TIMEOUT = 0.5
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


def caught_error(call: Callable[[], object]) -> WhatsAppError:
    with pytest.raises(WhatsAppError) as caught:
        call()
    return caught.value


# --- certainly not sent -------------------------------------------------------------------------


def test_a_refused_connection_never_left(settings):
    settings.WHATSAPP_GRAPH_URL = f"http://127.0.0.1:{free_port()}"

    error = caught_error(send_sale)

    assert not error.reached_provider and never_left(error)
    assert error.retry_later and error.http_status is None


def test_a_connect_timeout_never_left(settings):
    # A listener that never accepts: once its queue is full, the kernel drops further connection attempts.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(listener.getsockname())
        fillers.append(filler)
    settings.WHATSAPP_GRAPH_URL = f"http://127.0.0.1:{listener.getsockname()[1]}"
    settings.WHATSAPP_CONNECT_TIMEOUT = 0.3
    try:
        error = caught_error(send_sale)
    finally:
        for sock in [*fillers, listener]:
            sock.close()

    assert not error.reached_provider
    assert "connect" in error.message and error.retry_later


def test_metas_json_error_is_a_refusal(fake_graph):
    fake_graph.answer = json_answer(
        "400 Bad Request",
        {"error": {"message": "(#131026) Message undeliverable", "type": "OAuthException", "code": 131026,
                   "error_data": {"messaging_product": "whatsapp", "details": "Not a WhatsApp user."},
                   "fbtrace_id": "AbC"}},
    )  # fmt: skip

    error = caught_error(send_sale)

    assert (error.code, error.scope, error.reached_provider) == (131026, ErrorScope.RECIPIENT, False)
    assert error.details == "Not a WhatsApp user." and len(fake_graph.received) == 1


def test_metas_json_server_error_is_a_refusal_too(fake_graph):
    fake_graph.answer = json_answer(
        "500 Internal Server Error", {"error": {"message": "(#131000) Something went wrong", "code": 131000}}
    )

    error = caught_error(send_sale)

    assert (error.code, error.http_status, error.reached_provider, error.retry_later) == (131000, 500, False, True)


def test_an_unreachable_proxy_never_left(settings, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    settings.WHATSAPP_GRAPH_URL = "http://graph-behind-a-dead-proxy.invalid"  # its own origin: proxies are read once per origin

    error = caught_error(send_sale)

    assert not error.reached_provider and error.retry_later


def test_a_send_through_the_environments_proxy_arrives(fake_graph, settings, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", fake_graph.url)  # the fake server plays the proxy: it answers for Meta
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    settings.WHATSAPP_GRAPH_URL = "http://graph-behind-a-proxy.invalid"
    fake_graph.answer = accepted({"input": "+4915123456789", "wa_id": "4915123456789"})

    result = send_sale()

    assert result.wamid == "wamid.HBgM1"
    assert fake_graph.received[0].path.startswith("http://graph-behind-a-proxy.invalid/")  # asked as a proxy


# --- may have been accepted ---------------------------------------------------------------------


def test_a_read_timeout_may_have_reached_meta(fake_graph):
    fake_graph.hang = True

    error = caught_error(send_sale)

    assert error.reached_provider and not never_left(error)
    assert "timeout" in error.message and error.retry_later
    assert fake_graph.received[0].body["to"] == "4915123456789"  # the request was written in full


def test_a_connection_cut_after_the_body_was_read_may_have_reached_meta(fake_graph):
    fake_graph.answer = None

    error = caught_error(send_sale)

    assert error.reached_provider and error.http_status is None
    assert fake_graph.received[0].body["template"]["name"] == "spring_sale"


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (http_answer("500 Internal Server Error", b"", "text/plain"), 500),
        (http_answer("502 Bad Gateway", b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"), 502),
        (http_answer("504 Gateway Timeout", b"<html><body>504 Gateway Time-out</body></html>", "text/html"), 504),
        (json_answer("502 Bad Gateway", {"error": "upstream unavailable"}), 502),  # JSON, but not Meta's
    ],
    ids=["bare-500", "html-502", "html-504", "foreign-json-502"],
)
def test_an_answer_without_metas_error_body_may_have_reached_meta(fake_graph, answer, status):
    fake_graph.answer = answer

    error = caught_error(send_sale)

    assert (error.http_status, error.code, error.scope) == (status, None, ErrorScope.TRANSIENT)
    assert error.reached_provider and not never_left(error)
    assert f"HTTP {status}" in error.message


def test_a_success_without_a_message_id_may_have_reached_meta(fake_graph):
    fake_graph.answer = json_answer("200 OK", {"messaging_product": "whatsapp", "messages": []})

    error = caught_error(send_sale)

    assert error.reached_provider and "no message id" in error.message


# --- addressing by business-scoped user id ------------------------------------------------------


def accepted(contact: dict) -> bytes:
    return json_answer(
        "200 OK",
        {"messaging_product": "whatsapp", "contacts": [contact],
         "messages": [{"id": "wamid.HBgM1", "message_status": "accepted"}]},
    )  # fmt: skip


def test_a_person_known_only_by_a_bsuid_is_addressed_by_recipient(fake_graph, settings):
    fake_graph.answer = accepted({"input": BSUID, "user_id": BSUID})

    result = send_sale(recipient=BSUID)

    [request] = fake_graph.received
    assert request.method == "POST"
    assert request.path == f"/{settings.WHATSAPP_API_VERSION}/{settings.WHATSAPP_PHONE_NUMBER_ID}/messages"
    assert request.body["recipient"] == BSUID and "to" not in request.body
    assert request.body["type"] == "template" and request.body["recipient_type"] == "individual"
    assert (result.wamid, result.user_id, result.wa_id) == ("wamid.HBgM1", BSUID, "")


def test_a_text_reply_to_a_bsuid_is_addressed_by_recipient(fake_graph):
    fake_graph.answer = accepted({"input": BSUID, "user_id": BSUID})

    client.send_text(recipient=BSUID, body="You will no longer receive offers.")

    assert fake_graph.received[0].body["recipient"] == BSUID and "to" not in fake_graph.received[0].body


def test_the_phone_number_wins_when_both_are_known(fake_graph):
    fake_graph.answer = accepted({"input": "4915123456789", "wa_id": "4915123456789"})

    result = send_sale(to="+4915123456789", recipient=BSUID)

    assert fake_graph.received[0].body["to"] == "4915123456789" and "recipient" not in fake_graph.received[0].body
    assert (result.wa_id, result.user_id) == ("4915123456789", "")


def test_a_send_without_any_address_is_refused_before_any_call(fake_graph):
    with pytest.raises(ValueError, match="phone number"):
        send_sale(to="  ", recipient="")
    assert fake_graph.received == []


def test_the_default_api_version_is_current():
    from django.conf import settings as django_settings

    major = int(django_settings.WHATSAPP_API_VERSION.lstrip("v").split(".")[0])
    assert major >= 25
