"""The consent locks a batch holds from its check until every HTTP call has returned."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections

from consent.models import ConsentState, Purpose

logger = logging.getLogger(__name__)

_lock_connections = threading.local()


def _lock_connection() -> Any:
    """A second connection of this process/thread, used only to hold the consent row locks."""
    cached = getattr(_lock_connections, "value", None)
    if cached is None or cached[0] != os.getpid():
        cached = (os.getpid(), connections.create_connection(DEFAULT_DB_ALIAS))
        _lock_connections.value = cached
    return cached[1]


def consent_locks_close() -> None:
    """Close this thread's lock connection (between tasks, so idle workers hold no extra connection)."""
    cached = getattr(_lock_connections, "value", None)
    if cached is not None and cached[0] == os.getpid():
        cached[1].close()
    _lock_connections.value = None


@contextmanager
def consent_locks(contact_ids: list[int]) -> Iterator[None]:
    """Hold FOR UPDATE locks on the contacts' marketing ConsentState rows for the ``with`` body.

    The locks live on their own connection so this process can commit its own writes (the
    SENDING marks before the HTTP calls) while still holding them. Rows are locked in contact
    order, so two batches never deadlock. SQLite (development) serialises writers anyway.
    """
    if connection.vendor != "postgresql" or not contact_ids:
        yield
        return
    lock_db = _lock_connection()
    lock_db.close_if_unusable_or_obsolete()
    lock_db.ensure_connection()
    lock_db.set_autocommit(False)
    try:
        with lock_db.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = %s", [f"{settings.CAMPAIGN_LOCK_TIMEOUT_SECONDS}s"])
            cursor.execute(
                f"""
                SELECT state.id FROM {ConsentState._meta.db_table} AS state
                JOIN {Purpose._meta.db_table} AS purpose ON purpose.id = state.purpose_id
                WHERE purpose.code = %s AND state.contact_id = ANY(%s)
                ORDER BY state.contact_id
                FOR UPDATE OF state
                """,
                [Purpose.MARKETING, sorted(contact_ids)],
            )
            cursor.fetchall()
        yield
    finally:
        try:
            lock_db.rollback()
            lock_db.set_autocommit(True)
        except Exception:  # a broken lock connection is replaced next time; its locks die with it
            logger.exception("could not release the consent locks cleanly")
            lock_db.close()
