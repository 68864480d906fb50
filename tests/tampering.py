"""Changing append-only records the way only someone with the database owner's rights can: around the guards.

The verify command must find what this does; nothing in the application can do it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, models


@contextmanager
def triggers_disabled(model: type[models.Model]) -> Iterator[None]:
    """As the table's owner, switch its append-only trigger off for the block (inside the test's transaction)."""
    table = connection.ops.quote_name(model._meta.db_table)
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        # Deferred foreign-key checks from the test's inserts must run first: ALTER TABLE refuses pending ones.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def tamper(model: type[models.Model], pk: int, **fields: Any) -> None:
    """Overwrite columns of one row, bypassing the model's append-only QuerySet and the trigger."""
    with triggers_disabled(model):
        assert models.QuerySet(model).filter(pk=pk).update(**fields) == 1


def tamper_delete(model: type[models.Model], pk: int) -> None:
    with triggers_disabled(model):
        models.QuerySet(model).filter(pk=pk)._raw_delete(connection.alias)
