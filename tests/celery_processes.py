"""Celery worker and beat processes for the end-to-end tests, started once per test session.

Worker start-up (two Celery processes and four pool children importing Django) took seconds in each of
the eight modules that use them. They share one set now: ``pytest_collection_modifyitems`` in
tests/conftest.py runs the tests that use it last, so no other test runs while they are up, and each
module still starts with the app's Redis state cleared (``processes`` in tests/campaigns/test_workers.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from retarget.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[1]


def wait_until(predicate: Callable[[], object], *, timeout: float, what: str, interval: float = 0.1):
    """Poll ``predicate``; the timeouts are generous bounds for a loaded machine, not expectations."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Processes:
    """Celery worker and beat processes pointed at the test database, Redis and the sandbox."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.running: dict[str, subprocess.Popen] = {}

    def _start(self, name: str, args: list[str], *, ready: str) -> None:
        log = self.log_dir / f"{name}.log"
        with open(log, "ab") as out:
            # A session of its own: the worker and its pool children can be killed together.
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "retarget", *args],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.running[name] = process
        wait_until(lambda: process.poll() is not None or ready in log.read_text(errors="replace"), timeout=60, what=f"{name} to start")
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{log.read_text(errors='replace')[-3000:]}")

    def start_worker(self, name: str, *, concurrency: int = 4) -> None:
        self._start(
            name,
            ["worker", "-n", f"{name}@%h", "--concurrency", str(concurrency), "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            ready=f"{name}@",  # completed below by "ready."
        )  # fmt: skip
        log = self.log_dir / f"{name}.log"
        wait_until(lambda: "ready." in log.read_text(errors="replace"), timeout=60, what=f"{name} to be ready")

    def start_beat(self) -> None:
        self._start("beat", ["beat", "--loglevel", "INFO", "-s", str(self.log_dir / "beat-schedule")], ready="beat: Starting")

    def kill(self, name: str) -> None:
        """SIGKILL the worker and its pool processes at once, as when a machine dies."""
        process = self.running.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self, name: str) -> None:
        process = self.running.pop(name)
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


@pytest.fixture(scope="session")
def celery_processes(django_db_setup, django_db_blocker, sandbox_server):
    database = connection.settings_dict
    auth = database["USER"] + (f":{database['PASSWORD']}" if database.get("PASSWORD") else "")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"postgres://{auth}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "DB_CONN_MAX_AGE": "0",
        "WHATSAPP_GRAPH_URL": sandbox_server.url,
        "CAMPAIGN_SEND_RATE": "1000",
        "CAMPAIGN_BATCH_SIZE": "50",
        "CAMPAIGN_LEASE_SECONDS": "4",
        "CAMPAIGN_TICK_SECONDS": "0.5",
        "CAMPAIGN_RETRY_BASE_SECONDS": "0.5",
        "CAMPAIGN_DISPATCH_SECONDS": "10",
        "CAMPAIGN_DISPATCHERS": "2",  # two campaigns at once share the 4 worker processes
    }
    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # no tasks or token buckets from earlier runs
    # A directory of our own: pytest sessions running in parallel prune each other's basetemp.
    log_dir = Path(tempfile.mkdtemp(prefix="retarget-campaign-workers-"))
    running = Processes(env, log_dir)
    try:
        running.start_beat()
        running.start_worker("main", concurrency=4)
        yield running
    finally:
        running.stop_all()
        shutil.rmtree(log_dir, ignore_errors=True)


def workers_idle() -> bool:
    """No task running or waiting in the worker but beat's tick (which has nothing to do once the
    campaigns are stopped); asked over the broker, as `celery inspect` does."""
    inspect = celery_app.control.inspect(timeout=2.0, limit=1)  # one worker runs at a time
    active, reserved = inspect.active(), inspect.reserved()
    if not active or not reserved:  # no answer (yet)
        return False
    tasks = [task for tasks in (*active.values(), *reserved.values()) for task in tasks]
    return all(task["name"] == "campaigns.tasks.campaigns_tick_task" for task in tasks)



def app_state_in_redis_clear() -> None:
    """Delete what the app keeps in the test Redis database (its ``retarget:`` keys and Django's cache),
    leaving the broker's queues and bindings to the running worker."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    for pattern in ("retarget:*", ":1:*"):
        for key in client.scan_iter(pattern, count=1000):
            client.delete(key)
