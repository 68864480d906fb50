"""Records that may only be added to (the consent ledger, the audit log), and the one way to scrub them.

Three layers keep them unchanged:

1. ``save()``/``delete()`` on the models and ``update()``/``delete()`` on their QuerySets raise
   AppendOnlyError (``AppendOnlyQuerySet``), so no code path of ours can change a row by accident.
2. On PostgreSQL a trigger (see ``append_only_trigger_sql``) refuses UPDATE, DELETE and TRUNCATE
   from any client, raw SQL included.
3. Both tables are hash-chained, so a change made around the trigger (by the database owner, who
   can disable it) is found by ``manage.py verify_consent_ledger``.

Erasure is the one exception: inside ``erasure_scope(contact_id)`` the QuerySet's
``erasure_update`` may change a model's ``ERASABLE_FIELDS`` (the personal evidence) and nothing
else. On PostgreSQL the scope is a transaction-local setting, ``retarget.erasure``, which the
trigger checks together with the columns changed; it ends with the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import connection, migrations, models


class AppendOnlyError(Exception):
    """A change or deletion of a record that may only ever be added to."""


# The contact whose evidence an erasure is scrubbing, in this thread's current transaction.
_erasure_contact: ContextVar[str] = ContextVar("erasure_contact", default="")

ERASURE_SETTING = "retarget.erasure"
# Set only on the test database's connections (tests/conftest.py): the flush between transactional
# tests empties every table with TRUNCATE. Production never sets it.
TEST_FLUSH_SETTING = "retarget.allow_truncate"


class AppendOnlyQuerySet(models.QuerySet):
    """A QuerySet that cannot change or delete rows; ``erasure_update`` is the one way to scrub them."""

    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError(f"{self.model._meta.verbose_name_plural} are append-only: they cannot be changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{self.model._meta.verbose_name_plural} are append-only: they cannot be deleted.")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        raise AppendOnlyError(f"{self.model._meta.verbose_name_plural} are append-only: they cannot be changed.")

    def erasure_update(self, **fields: Any) -> int:
        """Scrub personal evidence during an erasure (inside ``erasure_scope``); other fields are refused."""
        if not _erasure_contact.get():
            raise AppendOnlyError("Personal evidence can only be scrubbed by an erasure (consent.rights.contact_erase).")
        allowed = set(getattr(self.model, "ERASABLE_FIELDS", ()))
        refused = sorted(set(fields) - allowed)
        if refused:
            raise AppendOnlyError(f"An erasure may not change {', '.join(refused)} of {self.model._meta.verbose_name_plural}.")
        return super().update(**fields)


@contextmanager
def erasure_scope(contact_id: int) -> Iterator[None]:
    """Open the narrow erasure path for one contact until the block (and on PostgreSQL, the transaction) ends."""
    if not connection.in_atomic_block:
        raise RuntimeError("An erasure scope must run inside a transaction: the trigger's setting is transaction-local.")
    token = _erasure_contact.set(str(contact_id))
    _erasure_setting_apply(str(contact_id))
    try:
        yield
        # On success the rest of the transaction runs without it; after an error the rollback ends it.
        _erasure_setting_apply("")
    finally:
        _erasure_contact.reset(token)


def _erasure_setting_apply(value: str) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # set_config(..., true) is SET LOCAL: it ends with the transaction whatever happens.
            cursor.execute("SELECT set_config(%s, %s, true)", [ERASURE_SETTING, value])


def append_only_trigger_sql(*, table: str, function: str, erasure_check: str) -> tuple[str, str]:
    """SQL creating (and dropping) the trigger that keeps ``table`` append-only on PostgreSQL.

    ``erasure_check`` is a boolean SQL expression over OLD and NEW, given that the erasure setting
    is on: the one UPDATE allowed. Columns it does not name must stay as they were, which the
    caller checks by comparing ``to_jsonb(OLD)`` and ``to_jsonb(NEW)`` without the erasable ones,
    so a column added later is protected without touching the trigger.
    """
    create = f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    erasure text := coalesce(current_setting('{ERASURE_SETTING}', true), '');
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF coalesce(current_setting('{TEST_FLUSH_SETTING}', true), '') = 'on' THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION '{table} is append-only: TRUNCATE refused' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'UPDATE' AND erasure <> '' AND ({erasure_check}) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '{table} is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Record a new entry instead; only an erasure may scrub personal evidence.';
END;
$$;
DROP TRIGGER IF EXISTS {table}_append_only ON {table};
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {function}();
DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {function}();
"""
    drop = f"""
DROP TRIGGER IF EXISTS {table}_append_only ON {table};
DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};
DROP FUNCTION IF EXISTS {function}();
"""
    return create, drop


def append_only_trigger_operation(*, table: str, function: str, erasure_check: str) -> migrations.RunPython:
    """A migration operation creating the trigger on PostgreSQL; SQLite (development) keeps the Python guards."""
    create, drop = append_only_trigger_sql(table=table, function=function, erasure_check=erasure_check)

    def run(sql: str) -> Callable[[Any, Any], None]:
        def apply(apps: Any, schema_editor: Any) -> None:
            if schema_editor.connection.vendor == "postgresql":
                schema_editor.execute(sql, params=None)  # no parameters: the function body holds a literal %

        return apply

    return migrations.RunPython(run(create), run(drop))


def unchanged_except_sql(columns: tuple[str, ...]) -> str:
    """SQL: every column of the row but ``columns`` is as it was."""
    removed = " - ".join(f"'{column}'" for column in columns)
    return f"(to_jsonb(NEW) - {removed}) = (to_jsonb(OLD) - {removed})"
