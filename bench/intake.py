"""Webhook intake alone: ``python -m bench.intake [deliveries] [wsgi application]`` (default 6,000).

Benchmark 5's first half without the rest of the stack: gunicorn as the stack starts it (2 processes
x 8 threads) on the benchmark's database, signed "sent" status deliveries posted by
``bench.webhooks.post_all`` (2 processes x 16 threads), no Celery worker. A drain is marked as
running (its flag set, as a draining worker keeps it) so each delivery costs what it costs while
statuses stream in. Prints one JSON line: accepted/s, p50/p99 and the CPU per accepted delivery of
gunicorn (master and workers) and of the database's PostgreSQL backends. The database
(``<name>_bench_intake``) is created and migrated on the first run and emptied on later ones.
BENCH_WEB_WORKERS / BENCH_WEB_THREADS try other gunicorn sizes (default 2 x 8).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from contextlib import closing
from urllib.parse import urlsplit

import psycopg2

from bench.cpu import CpuMeter, postgres_pids, process_tree
from bench.env import ROOT, bench_database_url, bench_environment
from bench.webhooks import post_all, status_bodies

PHONE_NUMBER_ID, WABA_ID = "100000000000001", "100000000000002"


def _database(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    server = psycopg2.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres", dbname="postgres")
    server.autocommit = True
    with closing(server), server.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        fresh = cursor.fetchone() is None
        if fresh:
            cursor.execute(f'CREATE DATABASE "{name}"')
    if fresh:
        env = {**bench_environment(), "DATABASE_URL": url}
        subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    with closing(psycopg2.connect(url)) as connection, connection.cursor() as cursor:
        cursor.execute("TRUNCATE whatsapp_webhookdelivery CASCADE")
        connection.commit()


def main(deliveries: int, application: str = "retarget.wsgi:application") -> dict:
    url = bench_database_url().rstrip("/") + "_intake"
    _database(url)
    env = {
        **bench_environment(), "DATABASE_URL": url,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_BUSINESS_ACCOUNT_ID": WABA_ID,
    }  # fmt: skip
    os.environ.update(env)
    import django

    django.setup()
    from django.core.cache import cache

    from whatsapp.services import DRAIN_FLAG

    cache.set(DRAIN_FLAG, 1, timeout=3600)
    port = 18000 + os.getpid() % 1000
    command = [
        sys.executable, "-m", "gunicorn", "-c", "python:retarget.gunicorn_conf", application,
        "--bind", f"127.0.0.1:{port}", "--workers", os.environ.get("BENCH_WEB_WORKERS", "2"),
        "--worker-class", "gthread", "--threads", os.environ.get("BENCH_WEB_THREADS", "8"),
        "--timeout", "60", "--error-logfile", "-",
    ]  # fmt: skip
    web = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr)
    webhook_url = f"http://127.0.0.1:{port}/webhooks/whatsapp"
    try:
        query = "hub.mode=subscribe&hub.verify_token=sandbox-verify-token&hub.challenge=up"
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"{webhook_url}?{query}", timeout=2) as response:
                    if response.read() == b"up":
                        break
            except OSError:
                time.sleep(0.1)
        messages = [(f"wamid.{uuid.uuid4().hex}", "4915100000000", f"msg:{n}") for n in range(deliveries)]
        bodies = status_bodies(
            messages, statuses=("sent",), app_secret=env["WHATSAPP_APP_SECRET"], waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID
        )
        database = urlsplit(url).path.lstrip("/")
        groups = {"web": lambda: process_tree(web.pid), "postgresql": lambda: postgres_pids(database)}
        with CpuMeter(groups) as meter:
            result = post_all(url=webhook_url, bodies=bodies, processes=2, threads=16)
        cpu = meter.seconds()
    finally:
        web.terminate()
        web.wait(timeout=30)
        cache.delete(DRAIN_FLAG)
    with closing(psycopg2.connect(url)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM whatsapp_webhookdelivery")
        stored = cursor.fetchone()[0]
    accepted = max(result["accepted"], 1)
    return {
        "application": application, "accepted": result["accepted"], "stored": stored, "accepted_per_s": round(result["accepted_per_s"], 1),
        "p50_ms": round(result["p50_ms"], 1), "p99_ms": round(result["p99_ms"], 1),
        "web_cpu_ms_per_delivery": round(1000 * cpu["web"] / accepted, 3),
        "postgresql_cpu_ms_per_delivery": round(1000 * cpu["postgresql"] / accepted, 3),
        "generator_cpu_ms_per_delivery": round(1000 * result["generator_cpu_s"] / accepted, 3),
        "load_average": [round(value, 1) for value in os.getloadavg()],
    }  # fmt: skip


if __name__ == "__main__":
    # "retarget.wsgi:django_application": the same deliveries through Django's whole stack, for comparison.
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 6000, *sys.argv[2:3])))
