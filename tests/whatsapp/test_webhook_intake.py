"""The thin intake (whatsapp/intake.py) under the real gunicorn: what Meta's POSTs get without Django's middleware.

retarget.wsgi answers ``POST /webhooks/whatsapp`` itself and hands every other request to Django; these
tests post over HTTP to gunicorn serving it on the test database, with no Celery worker running, so
anything applied by the time the answer arrives was applied before the answer.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection

from conversations.models import InboundMessage
from tests.factories import payload, sign
from tests.sandbox_fixtures import ROOT, free_port
from whatsapp.models import WebhookDelivery

# serialized_rollback: the flush after each test leaves no rows (the role groups) that a later
# serialized-rollback test (tests/whatsapp/test_worker.py) would insert again.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(scope="module")
def web_url(tmp_path_factory, django_db_setup, django_db_blocker) -> Iterator[str]:
    port, log = free_port(), tmp_path_factory.mktemp("intake") / "gunicorn.log"
    with django_db_blocker.unblock():
        database = urllib.parse.urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"])
    # DB_CONN_MAX_AGE=0: no connection is left open on the test database between requests.
    env = {**os.environ, "DATABASE_URL": urllib.parse.urlunsplit(database), "DB_CONN_MAX_AGE": "0"}
    command = [
        sys.executable, "-m", "gunicorn", "-c", "python:retarget.gunicorn_conf", "retarget.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "gthread", "--threads", "2",
    ]  # fmt: skip
    with open(log, "w") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/webhooks/whatsapp"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _post(url: str, body: bytes, signature: str | None, method: str = "POST") -> tuple[int, str, bytes]:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "garbage"], ids=["missing", "wrong", "garbage"])
def test_a_badly_signed_stop_is_refused_and_changes_nothing(web_url, opted_in_contact, signature):
    status, content_type, content = _post(web_url, json.dumps(payload("inbound_text_stop.json")).encode(), signature)

    assert (status, content_type) == (403, "application/json")
    assert json.loads(content) == {"error": "Missing or invalid X-Hub-Signature-256."}
    assert WebhookDelivery.objects.count() == 0
    assert InboundMessage.objects.count() == 0
    assert opted_in_contact.consent_states.get().status == "opted_in"


def test_a_signed_stop_has_taken_effect_when_the_200_arrives(web_url, opted_in_contact):
    body = json.dumps(payload("inbound_text_stop.json")).encode()

    status, _, content = _post(web_url, body, sign(body))

    assert (status, content) == (200, b"OK")
    assert opted_in_contact.consent_states.get().status == "opted_out"  # no worker runs: applied in the request
    assert WebhookDelivery.objects.get().body.encode() == body


def test_a_signed_status_is_stored_as_received_for_the_workers(web_url):
    body = json.dumps(payload("status_delivered.json")).encode()

    assert _post(web_url, body, sign(body))[:1] == (200,)
    assert _post(web_url, body, sign(body))[:1] == (200,)  # Meta repeats deliveries: stored once

    delivery = WebhookDelivery.objects.get()
    assert (delivery.body.encode(), delivery.repeat_count, delivery.processed_at) == (body, 1, None)


def test_a_body_over_the_size_limit_is_a_413_and_not_stored(web_url):
    envelope = payload("status_delivered.json")
    envelope["entry"][0]["changes"][0]["value"]["padding"] = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    body = json.dumps(envelope).encode()

    status, _, content = _post(web_url, body, sign(body))

    assert status == 413
    assert json.loads(content)["limit"] == "DATA_UPLOAD_MAX_MEMORY_SIZE"
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"object": "whatsapp_business_account", "entry": [\x00]}', "The body is not JSON."),
        (b'{"object": "whatsapp_business_account", "entry": ' + b"[" * 40 + b"]" * 40 + b"}", "nested more than 32 levels deep"),
        (b'{"object": "page", "entry": []}', "'object' must be 'whatsapp_business_account'."),
    ],
    ids=["nul", "deep", "not-whatsapp"],
)
def test_a_signed_body_that_is_not_an_envelope_is_a_400_and_not_stored(web_url, body, reason):
    status, _, content = _post(web_url, body, sign(body))

    assert status == 400
    assert reason in json.loads(content)["error"]
    assert WebhookDelivery.objects.count() == 0


def test_a_message_to_a_number_that_is_not_ours_is_stored_and_counted_but_not_applied(web_url, opted_in_contact):
    envelope = payload("inbound_text_stop.json")
    envelope["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999999999999999"
    body = json.dumps(envelope).encode()

    assert _post(web_url, body, sign(body))[0] == 200

    assert WebhookDelivery.objects.get().foreign_items == 1
    assert opted_in_contact.consent_states.get().status == "opted_in"


def test_the_handshake_and_other_methods_still_go_through_django(web_url):
    query = urllib.parse.urlencode({"hub.mode": "subscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "42"})
    with urllib.request.urlopen(f"{web_url}?{query}", timeout=10) as response:
        assert (response.status, response.read()) == (200, b"42")

    assert _post(web_url, b"{}", None, method="PUT")[0] == 405


def _wsgi_post(body: bytes, **environ: str) -> tuple[str, bytes]:
    """POST to retarget.wsgi.application in this process, as a WSGI server would."""
    from retarget.wsgi import application

    request = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/webhooks/whatsapp", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
        "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json", "HTTP_X_HUB_SIGNATURE_256": sign(body), "wsgi.errors": sys.stderr, **environ,
    }  # fmt: skip
    answer: list[str] = []
    content = b"".join(application(request, lambda status, headers, *_: answer.append(status)))
    return answer[0], content


def test_a_delivery_over_plain_http_is_redirected_by_django_when_https_is_required(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    body = json.dumps(payload("status_delivered.json")).encode()

    status, _ = _wsgi_post(body)
    assert status.startswith("301")
    assert WebhookDelivery.objects.count() == 0

    status, content = _wsgi_post(body, HTTP_X_FORWARDED_PROTO="https")
    assert (status, content) == ("200 OK", b"OK")
    assert WebhookDelivery.objects.count() == 1


def test_a_delivery_for_a_host_we_do_not_serve_is_refused_by_django(settings):
    body = json.dumps(payload("status_delivered.json")).encode()

    status, _ = _wsgi_post(body, HTTP_HOST="attacker.example")

    assert status.startswith("400")
    assert WebhookDelivery.objects.count() == 0
