"""The benchmark database: dropped, created and migrated at the start of a run."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import urlsplit

import psycopg2
from psycopg2 import sql

from bench.env import ROOT, bench_environment


def _server(url: str) -> tuple[object, str]:
    """A connection to the server's ``postgres`` database, and the benchmark database's name."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.endswith("_bench") and "_bench_" not in name:
        raise SystemExit(f"refusing to drop {name!r}: benchmark databases end with _bench")
    admin = psycopg2.connect(
        host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres", password=parts.password, dbname="postgres"
    )
    admin.autocommit = True
    return admin, name


def database_drop(url: str) -> None:
    admin, name = _server(url)
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.close()


def database_recreate(url: str) -> None:
    """Drop (closing its connections) and create the database named in ``url``; then migrate it."""
    database_drop(url)
    admin, name = _server(url)
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()
    env = {**bench_environment(), "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
