"""Writing many changed rows back in one statement.

Django's ``bulk_update`` builds a ``CASE WHEN pk = ... THEN ...`` expression per field and row: for
a batch of 100 messages and 14 fields it costs about 120 ms of CPU. On PostgreSQL one
``UPDATE ... FROM (VALUES ...)`` does the same in about 3 ms.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Field, Model
from django.db.models.options import Options
from psycopg2.extras import execute_values


def rows_update(model: type[Model], objects: Sequence[Model], fields: Sequence[str]) -> None:
    """Write ``fields`` of ``objects`` (rows of ``model``) in one statement; like ``bulk_update``."""
    if not objects:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(objects, fields)
        return
    meta = model._meta
    columns = [_column(meta, meta.pk.name), *(_column(meta, name) for name in fields)]
    names = ", ".join(f'"{field.column}"' for field in columns)
    assignments = ", ".join(f'"{field.column}" = v."{field.column}"' for field in columns[1:])
    rows = [[field.get_db_prep_save(getattr(obj, field.attname), connection) for field in columns] for obj in objects]
    with connection.cursor() as cursor:
        execute_values(
            cursor.cursor,
            f'UPDATE "{meta.db_table}" AS t SET {assignments} FROM (VALUES %s) AS v({names}) '
            f'WHERE t."{meta.pk.column}" = v."{meta.pk.column}"',
            rows,
            template="(" + ", ".join(f"%s::{field.db_type(connection)}" for field in columns) + ")",
            page_size=len(rows),
        )


def _column(meta: Options, name: str) -> Field:
    field = meta.get_field(name)
    if not isinstance(field, Field) or not field.concrete:
        raise ValueError(f"{meta.label}.{name} is not a column: rows_update writes columns of the table only.")
    return field
