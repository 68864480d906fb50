"""Through a real Celery worker process: sandbox -> signed webhooks -> live server -> Redis -> worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from campaigns.models import Message, MessageStatus
from consent.models import ConsentStatus
from consent.selectors import contact_consent_status
from retarget.celery import app as celery_app
from tests.factories import queued, send_to
from whatsapp.models import WebhookDelivery

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def eventually(check, *, timeout: float = 40.0, what: str = "condition", log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}" + (f"; worker log:\n{log.read_text()}" if log else ""))


@pytest.fixture
def worker(sandbox, tmp_path):
    """A `celery -A retarget worker` process on this test database and this Redis database."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    database_url = f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    celery_app.control.purge()  # tasks left by earlier tests point at rows that no longer exist
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "WHATSAPP_GRAPH_URL": sandbox.url,
        "DB_CONN_MAX_AGE": "0",
        "PYTHONPATH": str(ROOT),
    }
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "retarget", "worker", "--pool=solo", "--loglevel=INFO",
             "-n", f"whatsapp-test-{os.getpid()}@%h", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        eventually(lambda: "ready." in log_path.read_text() or process.poll() is not None, timeout=60, what="the worker")
        assert process.poll() is None, log_path.read_text()
        yield log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def test_a_real_worker_applies_statuses_and_sends_the_stop_confirmation(live_sandbox, worker, contact_factory):
    contact = contact_factory("+4915123450099", "Stopper")  # the sandbox answers STOP to this number
    message = queued(contact)
    send_to(message)

    def message_read():
        message.refresh_from_db()
        return message.status == MessageStatus.READ

    eventually(message_read, what="the message to be read", log=worker)
    eventually(lambda: contact_consent_status(contact) == ConsentStatus.OPTED_OUT, what="the sandbox's STOP reply", log=worker)

    def reply_read():
        reply = Message.objects.filter(kind=Message.Kind.REPLY, contact=contact).first()
        return reply if reply and reply.status == MessageStatus.READ else None

    reply = eventually(reply_read, what="the STOP confirmation to be read", log=worker)
    template_send, text_send = live_sandbox.sends()
    assert template_send["wamid"] == message.wamid
    assert (text_send["type"], text_send["wamid"], text_send["text"]) == ("text", reply.wamid, reply.body)
    assert "no longer receive marketing messages" in reply.body
    eventually(lambda: not WebhookDelivery.objects.filter(processed_at__isnull=True).exists(), what="all deliveries processed")
    assert WebhookDelivery.objects.count() == 7  # 3 statuses + STOP for the template, 3 statuses for the reply
