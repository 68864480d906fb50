"""The drills' harness (bench/stack.py): real processes up, one worker killed and back, nothing left behind."""

from __future__ import annotations

import os

import psycopg2
import pytest
import requests
from django.conf import settings

from bench.stack import Stack

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _server_url(database: str) -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{database}"


def _process_group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_stack_runs_the_real_processes_survives_a_worker_kill_and_leaves_nothing_behind(tmp_path):
    database = f"retarget_stack_test_{os.getpid()}"
    stack = Stack(_server_url(database), settings.REDIS_URL, workers=2, worker_concurrency=1, beat=False,
                  drop_database_on_exit=True, log_dir=tmp_path)  # fmt: skip
    with stack:
        handshake = {"hub.mode": "subscribe", "hub.verify_token": stack.verify_token, "hub.challenge": "up"}
        assert requests.get(stack.webhook_url, params=handshake, timeout=10).text == "up"  # gunicorn serves the app
        assert stack.sql("SELECT count(*) FROM whatsapp_messagetemplate")[0][0] > 0  # synced from the sandbox
        stack.kill_worker(0)
        assert (stack.worker_running(0), stack.worker_running(1)) == (False, True)
        stack.restart_worker(0)
        assert stack.worker_running(0)
        groups = [process.popen.pid for process in stack.processes.values()]

    assert not [pgid for pgid in groups if _process_group_alive(pgid)]
    with psycopg2.connect(_server_url("postgres")) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
        assert cursor.fetchone() is None
