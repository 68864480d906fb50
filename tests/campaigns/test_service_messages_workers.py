"""Service messages through real worker processes: a broker restart and a SIGKILLed worker.

A keyword reply (the answer to STOP), a double opt-in confirmation template and a support answer
are each queued through their public path (a signed webhook, the opt-in page, the support page)
and sent by a Celery worker process to the WhatsApp sandbox. Shown for each:

- queued while the broker is down (its task is lost with the broker's data), it is sent exactly
  once after the broker is back, by the sweep beat runs every minute;
- a worker SIGKILLed while its call is out never causes a second send: the row becomes UNKNOWN
  (the call may have reached WhatsApp), and the sandbox saw at most the one call.

The broker is a redis-server of this module's own (the machine's shared Redis is never restarted);
the record of calls, the send tokens and the cache stay on the test Redis database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import Client
from kombu import pools as kombu_pools

from campaigns.models import Message, MessageStatus
from campaigns.sending import inflight
from campaigns.sending.service import service_messages_sweep
from consent.models import OptInForm
from retarget.celery import app as celery_app
from tests.campaigns.test_workers import ROOT, Processes, wait_until, workers_idle
from tests.factories import WA_ID, contacts_create, inbound, new_visitor_ip, payload, phone, post_webhook
from tests.sandbox_fixtures import free_port
from whatsapp.services import webhook_deliveries_requeue

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]

LEASE_SECONDS = 4  # a killed worker's rows are recovered this long after their claim
CALL_SECONDS = 3.0  # the sandbox's answer time while a worker is killed: the kill lands mid-call


class Broker:
    """A redis-server of our own as the Celery broker, keeping nothing on disk: a restart loses its tasks."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 (the server writes to it while it runs)
        with log:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.directory)],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        wait_until(lambda: self._answers(client), timeout=30, what="the broker to start")

    def _answers(self, client: redis.Redis) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited:\n{(self.directory / 'redis.log').read_text(errors='replace')[-2000:]}")
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None


def _test_process_broker_use(url: str | None) -> None:
    """Point this process's Celery app (what queues tasks after commit) at ``url``, or back at its settings."""
    if url is None:
        os.environ.pop("CELERY_BROKER_URL", None)
    else:
        os.environ["CELERY_BROKER_URL"] = url  # read before the settings' broker_url (celery.app.utils)
    if celery_app._pool is not None:  # connections to the old broker
        celery_app._pool.force_close_all()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    # kombu keeps producer pools per connection in a registry of its own: the one of the broker we
    # leave was closed above, and later tests must get a fresh one, not "Acquire on closed pool".
    kombu_pools.reset()


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    directory = Path(tempfile.mkdtemp(prefix="retarget-service-broker-"))
    running = Broker(directory)
    running.start()
    previous = os.environ.get("CELERY_BROKER_URL")
    _test_process_broker_use(running.url)
    try:
        yield running
    finally:
        _test_process_broker_use(previous)
        running.stop()
        shutil.rmtree(directory, ignore_errors=True)


class Workers(Processes):
    """One worker process at a time; a replacement gets a new name, so its "ready." is its own."""

    started = 0

    def start(self) -> None:
        self.started += 1
        self.start_worker(f"service{self.started}", concurrency=2)

    def kill_current(self) -> None:
        self.kill(f"service{self.started}")


@pytest.fixture(scope="module")
def workers(broker, django_db_setup, django_db_blocker, sandbox_server) -> Iterator[Workers]:
    database = connection.settings_dict
    auth = database["USER"] + (f":{database['PASSWORD']}" if database.get("PASSWORD") else "")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CELERY_BROKER_URL": broker.url,
        "DATABASE_URL": f"postgres://{auth}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "DB_CONN_MAX_AGE": "0",
        "WHATSAPP_GRAPH_URL": sandbox_server.url,
        "CAMPAIGN_SEND_RATE": "1000",
        "CAMPAIGN_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    shared = redis.Redis.from_url(settings.REDIS_URL)
    for key in shared.scan_iter("retarget:send-*"):  # no send pause another test left behind
        shared.delete(key)
    log_dir = Path(tempfile.mkdtemp(prefix="retarget-service-workers-"))
    running = Workers(env, log_dir)
    try:
        running.start()
        yield running
    finally:
        running.stop_all()
        shutil.rmtree(log_dir, ignore_errors=True)


@pytest.fixture
def live(workers, broker, sandbox, templates) -> Iterator[Workers]:
    """A worker and the broker running (again, after an earlier test stopped them); idle at the end."""
    if not broker.running:
        broker.start()
    if not workers.running:
        workers.start()
    yield workers
    # The test database is emptied next (TRUNCATE would wait for a worker holding a row).
    if not broker.running:
        broker.start()
    if not workers.running:
        workers.start()
    sandbox.configure(latency=0.0)
    wait_until(workers_idle, timeout=120, what="the worker to finish its tasks", interval=0.3)


# --- the three public paths ------------------------------------------------------------------------


def stop_confirmation() -> Message:
    """A person sends STOP: the signed webhook opts them out in the request and queues the reply."""
    (person,) = contacts_create(1, start=1)
    wa_id = person.phone.lstrip("+")
    response = post_webhook(Client(), payload("inbound_text_stop.json", {WA_ID: wa_id, "wamid.ABC": f"wamid.stop.{wa_id}"}))
    assert response.status_code == 200
    return Message.objects.get(contact=person, kind=Message.Kind.REPLY)


def double_optin_confirmation(form: OptInForm) -> Message:
    """A person signs up on an opt-in page with double opt-in: the confirmation template is queued."""
    form.double_opt_in, form.confirmation_template, form.confirmation_template_language = True, "optin_confirmation", "en_US"
    form.save()
    number = phone(2)
    response = Client(REMOTE_ADDR=new_visitor_ip()).post(
        f"/optin/{form.slug}/", {"phone": number, "consent": "yes", "notice_version": form.notice_version}
    )
    assert (response.status_code, response["Location"]) == (302, f"/optin/{form.slug}/confirm/")
    return Message.objects.get(contact__phone=number, kind=Message.Kind.CONFIRMATION)


def support_answer(support) -> Message:
    """Support answers a person who wrote a minute ago, on the support page."""
    (person,) = contacts_create(1, start=3)
    inbound(person, "Do you ship to Austria?", minutes_ago=1)
    client = Client(REMOTE_ADDR=new_visitor_ip())
    client.force_login(support)
    response = client.post(f"/admin/support/people/{person.pk}/reply/", {"body": "Yes, we ship to Austria."})
    assert response.status_code == 302
    return Message.objects.get(contact=person, kind=Message.Kind.REPLY)


@pytest.fixture(params=["keyword_reply", "double_optin_confirmation", "support_answer"])
def queue_message(request) -> Callable[[], Message]:
    """Queue one service message through its public path; returns its row."""
    if request.param == "double_optin_confirmation":
        form = request.getfixturevalue("optin_form")
        return lambda: double_optin_confirmation(form)
    if request.param == "support_answer":
        support = request.getfixturevalue("support")
        return lambda: support_answer(support)
    return stop_confirmation


# --- what beat and the sandbox tell ----------------------------------------------------------------


def beat_sweeps() -> list[str]:
    """What beat runs every minute (here without waiting for a message to be 30 s old): the webhook
    deliveries' requeue and the service messages' sweep. Returns the messages queued for sending."""
    webhook_deliveries_requeue(older_than_seconds=1)
    return service_messages_sweep(older_than_seconds=1)


def poll(predicate: Callable[[], object], *, timeout: float, interval: float = 0.2) -> object:
    """Poll ``predicate`` until it holds or ``timeout`` passes; returns its last result (either outcome is allowed)."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()) and time.monotonic() < deadline:
        time.sleep(interval)
    return result


def sends_of(sandbox, message: Message) -> list[dict]:
    return [send for send in sandbox.sends() if send["callback_data"] == message.callback_data]


def call_started(message: Message) -> bool:
    """The worker recorded the call in Redis, as it does just before it starts (campaigns/sending/inflight.py)."""
    message.refresh_from_db()
    if message.status != MessageStatus.SENDING or message.claim_token is None:
        return False
    calls, _ = inflight._keys(message.claim_token)
    return bool(redis.Redis.from_url(settings.REDIS_URL).sismember(calls, message.pk.hex))


def status_of(message: Message) -> str:
    message.refresh_from_db()
    return message.status


# --- the tests -------------------------------------------------------------------------------------


def test_a_message_queued_while_the_broker_is_down_is_sent_once_by_the_sweep(live, broker, sandbox, queue_message):
    broker.stop()
    message = queue_message()  # its task cannot be queued: the row waits in the outbox
    broker.start()  # empty: whatever it held is lost too

    assert status_of(message) == MessageStatus.QUEUED
    assert sends_of(sandbox, message) == []
    wait_until(lambda: str(message.pk) in beat_sweeps(), timeout=30, what="the sweep to queue the message", interval=0.5)
    # The worker reconnects to the restarted broker by itself and takes the sweep's task.
    wait_until(lambda: status_of(message) == MessageStatus.ACCEPTED, timeout=90, what="the message to be sent", interval=0.2)

    (send,) = sends_of(sandbox, message)
    assert send["wamid"] == message.wamid
    assert str(message.pk) not in beat_sweeps()  # sent: the next sweep leaves it alone
    wait_until(workers_idle, timeout=60, what="the worker to finish its tasks", interval=0.3)
    assert len(sends_of(sandbox, message)) == 1


def test_a_worker_killed_during_the_call_never_sends_it_twice(live, sandbox, queue_message):
    sandbox.configure(latency=CALL_SECONDS)
    message = queue_message()
    wait_until(lambda: call_started(message), timeout=60, what="the worker to start the call", interval=0.05)
    time.sleep(CALL_SECONDS / 3)  # let the request reach the sandbox (a fresh worker opens its connection first)
    live.kill_current()  # SIGKILL, pool and all, while the call waits for its answer
    sandbox.configure(latency=0.0)
    live.start()  # a replacement, which would take the message if it were queued again

    def recovered() -> bool:
        beat_sweeps()
        return status_of(message) != MessageStatus.SENDING

    # Once the lease has run out, the sweep recovers the row: the call had started, so the message
    # may have reached WhatsApp and is never sent again.
    wait_until(recovered, timeout=60, what="the sweep to recover the row", interval=0.5)
    # The sandbox logs a call it received once its answer time is over, even with its client gone;
    # a kill before the request left would leave nothing to log (and the row UNKNOWN all the same).
    poll(lambda: sends_of(sandbox, message), timeout=CALL_SECONDS + 10)
    wait_until(workers_idle, timeout=60, what="the replacement to finish its tasks", interval=0.3)
    assert len(sends_of(sandbox, message)) <= 1, "messaged twice"
    assert status_of(message) == MessageStatus.UNKNOWN  # until its status webhook tells
    assert str(message.pk) not in beat_sweeps()
