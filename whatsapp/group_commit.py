"""Group commit of webhook deliveries: the deliveries waiting in one web process stored by one INSERT.

Status deliveries arrive at three per sent message and each must be stored and committed before we
answer 200 (Meta does not send again what we acknowledged). Stored one by one, each costs a round
trip, a statement and a commit of its own; here the request threads hand their delivery to one
flusher thread per process and wait. The flusher stores everything waiting in one multi-row upsert,
which commits on its own (autocommit), and then releases the waiting threads with their rows. While
it writes, the next deliveries gather: under load the groups grow by themselves, and a lone delivery
waits for nobody (no timer). Opt-outs never come this way (whatsapp.services applies them in the
request's own transaction before it answers).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

logger = logging.getLogger(__name__)

GROUP_MAX = 200  # deliveries per INSERT: bounds the statement (a status body is about 600 bytes)
WAIT_SECONDS = 30.0  # a request waits this long for its group at most, then fails (500: Meta sends again)


@dataclass(eq=False)
class _Waiting:
    digest: str
    body: str
    received_at: datetime
    foreign_items: int
    done: threading.Lock = field(default_factory=threading.Lock)  # held until the group is committed
    row: tuple[int, bool] | None = None  # (delivery id, still to be processed)
    error: BaseException | None = None


class DeliveryGroupCommit:
    """Store deliveries in groups: ``store`` blocks until its delivery's group is committed.

    ``after_commit`` runs in the flusher once per group that holds a delivery still to be processed
    (the drain request), instead of once per delivery.
    """

    def __init__(self, *, table: str, after_commit: Callable[[], None]) -> None:
        self.table = table
        self.after_commit = after_commit
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._waiting: list[_Waiting] = []
        self._flusher_pid: int | None = None  # the process whose flusher runs (a fork starts its own)
        self._flusher: threading.Thread | None = None
        self._stopping = False

    def store(self, *, digest: str, body: str, received_at: datetime, foreign_items: int) -> tuple[int, bool]:
        """(delivery id, whether it still needs processing) once the row is committed."""
        waiting = _Waiting(digest, body, received_at, foreign_items)
        waiting.done.acquire()
        with self._lock:
            if self._stopping:
                raise RuntimeError("the webhook group commit is stopped")
            if self._flusher_pid != os.getpid():
                self._flusher_pid = os.getpid()
                self._flusher = threading.Thread(
                    target=self._flush_until_stopped, name="webhook-group-commit", daemon=True
                )
                self._flusher.start()
            self._waiting.append(waiting)
            self._arrived.notify()
        if not waiting.done.acquire(timeout=WAIT_SECONDS):
            raise TimeoutError("the webhook delivery's group was not committed in time")
        if waiting.row is None:
            raise waiting.error or RuntimeError("the webhook delivery's group failed")
        return waiting.row

    def stop(self) -> None:
        """Store what is waiting, then end the flusher and close its database connection (a worker's exit)."""
        with self._lock:
            self._stopping = True
            self._arrived.notify()
            flusher = self._flusher if self._flusher_pid == os.getpid() else None
        if flusher is not None:
            flusher.join(timeout=WAIT_SECONDS)

    def _flush_until_stopped(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._stopping:
                    self._arrived.wait()
                if not self._waiting:
                    connection.close()
                    return
                group, self._waiting = self._waiting[:GROUP_MAX], self._waiting[GROUP_MAX:]
            try:
                self._flush(group)
            except Exception:  # closing a broken connection failed: the next group opens a new one
                logger.exception("webhook group commit: closing the database connection failed")

    def _flush(self, group: list[_Waiting]) -> None:
        rows: dict[str, tuple[int, bool]] = {}
        try:
            connection.close_if_unusable_or_obsolete()  # as at the start of a request
            rows = self._stored(group)
        except Exception as exc:  # the flusher never dies: these requests answer 500 and Meta sends again
            logger.exception("storing a group of %s webhook deliveries failed", len(group))
            for waiting in group:
                waiting.error = waiting.error or exc
        finally:
            for waiting in group:
                waiting.done.release()
            # As at the end of a request: a connection past CONN_MAX_AGE (0: after each use) is closed.
            connection.close_if_unusable_or_obsolete()
        if any(pending for _, pending in rows.values()):
            try:
                self.after_commit()
            except Exception:  # robust, as transaction.on_commit(robust=True): the sweeper queues it later
                logger.exception("queueing a drain after a group of webhook deliveries failed")

    def _stored(self, group: list[_Waiting]) -> dict[str, tuple[int, bool]]:
        """Store the group, or each of its deliveries alone if the group fails (one bad row fails only itself)."""
        try:
            rows = self._upsert(group)
        except Exception as exc:
            if len(group) == 1:
                logger.exception("storing a webhook delivery failed; Meta will send it again")
                group[0].error = exc
                return {}
            logger.warning("storing a group of %s webhook deliveries failed; storing them one by one", len(group))
            rows = {}
            for waiting in group:
                connection.close_if_unusable_or_obsolete()
                rows.update(self._stored([waiting]))
            return rows
        for waiting in group:
            waiting.row = rows[waiting.digest]
        return rows

    def _upsert(self, group: list[_Waiting]) -> dict[str, tuple[int, bool]]:
        """One INSERT for the group, committed by itself; {digest: (id, still to be processed)}.

        The same body twice in a group is one row that counts the copy as a repeat. Rows are
        written in digest order, so two processes' groups wait on each other's rows in one order
        (no deadlock).
        """
        copies: dict[str, list[_Waiting]] = {}
        for waiting in group:
            copies.setdefault(waiting.digest, []).append(waiting)
        rows = [(digest, copies[digest][0].body, copies[digest][0].received_at, len(copies[digest]) - 1, copies[digest][0].foreign_items)
                for digest in sorted(copies)]  # fmt: skip
        assert connection.get_autocommit(), "a group is committed by its own statement"
        return deliveries_upsert(self.table, rows)


def deliveries_upsert(table: str, rows: list[tuple[str, str, datetime, int, int]]) -> dict[str, tuple[int, bool]]:
    """Insert deliveries, or count more arrivals of those stored already, in one statement.

    ``rows``: (body digest, body, received at, repeats beyond the first arrival, foreign items), each
    digest once. Returns {digest: (delivery id, whether it still needs processing)}.
    """
    values = ", ".join("(%s, %s, %s, %s, 0, '', %s)" for _ in rows)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (body_sha256, body, received_at, repeat_count, attempts, last_error, foreign_items)
            VALUES {values}
            ON CONFLICT (body_sha256) DO UPDATE SET repeat_count = {table}.repeat_count + EXCLUDED.repeat_count + 1
            RETURNING body_sha256, id, processed_at
            """,
            [value for row in rows for value in row],
        )
        return {digest: (delivery_id, processed_at is None) for digest, delivery_id, processed_at in cursor.fetchall()}
