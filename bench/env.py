"""Where the benchmarks run: their own database and Redis db on the configured servers.

Derived from ``DATABASE_URL``/``REDIS_URL`` (default: the local servers) so that a benchmark never
touches anyone's data: the database name gets a ``_bench`` suffix (it is dropped and created again
on every run) and Redis uses db ``BENCH_REDIS_DB`` (default 8), emptied on every run.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
LOCAL_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/retarget"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"


def bench_database_url() -> str:
    """DATABASE_URL's server with a database of the benchmark's own (``<name>_bench``)."""
    parts = urlsplit(os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or LOCAL_DATABASE_URL)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit(f"make bench needs PostgreSQL; DATABASE_URL is {parts.scheme}://...")
    name = parts.path.lstrip("/") or "retarget"
    if not name.endswith("_bench"):
        name = f"{name}_bench"
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def bench_redis_url() -> str:
    """REDIS_URL's server, db BENCH_REDIS_DB (8 unless set)."""
    parts = urlsplit(os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL") or LOCAL_REDIS_URL)
    db = os.environ.get("BENCH_REDIS_DB", "8")
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


def bench_environment() -> dict[str, str]:
    """The environment of the benchmark and of every process it starts (production-like: DEBUG off)."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=bench_database_url(),
        REDIS_URL=bench_redis_url(),
        DJANGO_SETTINGS_MODULE="retarget.settings",
        DEBUG="0",  # DEBUG keeps every query in memory: it would distort time and memory
        SECRET_KEY=env.get("BENCH_SECRET_KEY", "bench-secret-key-not-for-production-0123456789abcdefghijkl"),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        SUPPRESSION_HASH_KEY=env.get("BENCH_SUPPRESSION_HASH_KEY", "bench-suppression-hash-key-not-for-production-0123"),
        WHATSAPP_SANDBOX="1",  # production settings against the sandbox on this machine
        WHATSAPP_ACCESS_TOKEN="sandbox-token",
        WHATSAPP_APP_SECRET="sandbox-app-secret",
        WHATSAPP_VERIFY_TOKEN="sandbox-verify-token",
        LOG_LEVEL=env.get("BENCH_LOG_LEVEL", "WARNING"),
        RETARGET_VAR_DIR=str(ROOT / "var" / "bench"),
        PYTHONPATH=str(ROOT),
    )
    return env


def django_setup() -> None:
    """Point this process at the benchmark database and set Django up."""
    os.environ.update(bench_environment())
    import django

    django.setup()
