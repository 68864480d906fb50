"""A stand-in for PostgreSQL's autovacuum, for stacks on a server that runs without it.

Production PostgreSQL runs autovacuum (the default); the server of our CI machines is configured with
``autovacuum = off``, a server setting the stacks must not change. Without it nothing is vacuumed or
analysed while a campaign sends: dead row versions of ``campaigns_message`` pile up (every message row
is updated three times), its statistics stay those of an empty table, and the planner picks index
scans that read the whole campaign per claim or tick. Figures measured so would describe no real
deployment.

So a stack on such a server runs this thread. Every ``autovacuum_naptime`` (read from the server:
60 s by default) it does for the stack's database what autovacuum's launcher would, with the server's
own thresholds (https://www.postgresql.org/docs/15/routine-vacuuming.html#AUTOVACUUM):

- VACUUM a table when its dead rows exceed ``autovacuum_vacuum_threshold + autovacuum_vacuum_scale_factor
  x reltuples`` (50 + 20%), or its rows inserted since the last vacuum exceed
  ``autovacuum_vacuum_insert_threshold + autovacuum_vacuum_insert_scale_factor x reltuples`` (1,000 + 20%);
- ANALYZE it when its rows changed since the last analyse exceed ``autovacuum_analyze_threshold +
  autovacuum_analyze_scale_factor x reltuples`` (50 + 10%).

A table never analysed counts as empty (``reltuples`` -1 is read as 0), as autovacuum reads it. The work
runs in the stack's PostgreSQL, so its CPU counts where autovacuum's would.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import closing
from typing import Any

import psycopg2
from psycopg2 import sql

logger = logging.getLogger(__name__)

_SETTINGS = (
    "autovacuum_naptime", "autovacuum_vacuum_threshold", "autovacuum_vacuum_scale_factor",
    "autovacuum_vacuum_insert_threshold", "autovacuum_vacuum_insert_scale_factor",
    "autovacuum_analyze_threshold", "autovacuum_analyze_scale_factor",
)  # fmt: skip

_DUE = """
SELECT s.schemaname, s.relname,
       s.n_dead_tup > %(vacuum_threshold)s + %(vacuum_scale)s * greatest(c.reltuples, 0)
       OR s.n_ins_since_vacuum > %(insert_threshold)s + %(insert_scale)s * greatest(c.reltuples, 0) AS vacuum,
       s.n_mod_since_analyze > %(analyze_threshold)s + %(analyze_scale)s * greatest(c.reltuples, 0) AS analyze
FROM pg_stat_user_tables AS s JOIN pg_class AS c ON c.oid = s.relid
"""


def autovacuum_is_off(database_url: str) -> bool:
    with closing(psycopg2.connect(database_url)) as connection, connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        return cursor.fetchone()[0] == "off"


class AutovacuumStandIn:
    """``start()`` a thread that vacuums and analyses the database as autovacuum would; ``stop()`` it."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.vacuums = 0
        self.analyzes = 0
        self.seconds = 0.0
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="autovacuum-stand-in", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=120)

    def summary(self) -> dict[str, Any]:
        return {"vacuums": self.vacuums, "analyzes": self.analyzes, "seconds": round(self.seconds, 1)}

    def _run(self) -> None:
        naptime = 60.0
        while not self._stopped.wait(naptime):
            try:
                naptime = self.run_once()
            except psycopg2.Error as exc:  # a drill may terminate the connection or stop the server: next round
                logger.warning("autovacuum stand-in: %s", exc.__class__.__name__)

    def run_once(self) -> float:
        """One launcher round over the database; returns the naptime to wait before the next."""
        with closing(psycopg2.connect(self.database_url, application_name="autovacuum-stand-in")) as connection:
            connection.autocommit = True  # VACUUM cannot run in a transaction
            with connection.cursor() as cursor:
                values = {}
                for name in _SETTINGS:
                    cursor.execute("SELECT setting FROM pg_settings WHERE name = %s", [name])
                    values[name] = float(cursor.fetchone()[0])
                cursor.execute(_DUE, {
                    "vacuum_threshold": values["autovacuum_vacuum_threshold"], "vacuum_scale": values["autovacuum_vacuum_scale_factor"],
                    "insert_threshold": values["autovacuum_vacuum_insert_threshold"],
                    "insert_scale": values["autovacuum_vacuum_insert_scale_factor"],
                    "analyze_threshold": values["autovacuum_analyze_threshold"], "analyze_scale": values["autovacuum_analyze_scale_factor"],
                })  # fmt: skip
                for schema, table, vacuum, analyze in cursor.fetchall():
                    if self._stopped.is_set() or not (vacuum or analyze):
                        continue
                    started = time.monotonic()
                    command = "VACUUM (ANALYZE) {}" if vacuum and analyze else "VACUUM {}" if vacuum else "ANALYZE {}"
                    cursor.execute(sql.SQL(command).format(sql.Identifier(schema, table)))
                    self.seconds += time.monotonic() - started
                    self.vacuums += bool(vacuum)
                    self.analyzes += bool(analyze)
        return values["autovacuum_naptime"]  # seconds (pg_settings' unit for it)
