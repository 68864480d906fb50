"""Fixtures every test directory may use; plain helpers are in tests/factories.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import time
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core import serializers
from django.db import transaction
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from django.test import Client
from rest_framework.test import APIClient

from campaigns.models import FrequencyCapPolicy, Segment
from consent.models import OptInForm, Purpose
from consent.services import purpose_get
from core.append_only import TEST_FLUSH_SETTING
from core.signals import access_audit_paused
from tests import factories
from whatsapp.models import MessageTemplate
from whatsapp.numbers import numbers_forget
from whatsapp.sandbox.catalog import default_templates
from whatsapp.template_sync import templates_store

pytest_plugins = ["tests.sandbox_fixtures", "tests.celery_processes"]

SERVICE_MISSING = "service missing:"


@receiver(connection_created)
def _test_flush_allowed(sender, connection, **kwargs) -> None:
    """Transactional tests empty every table between tests with TRUNCATE, which the append-only
    triggers refuse unless the session says it is the test suite's (see core.append_only)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET {TEST_FLUSH_SETTING} = 'on'")


@pytest.fixture(scope="session", autouse=True)
def _serialized_contents_in_every_context(request) -> None:
    """Give every database connection the serialized test data, whatever context it is made in.

    Django keeps connections per context (asgiref ``Local``), and Playwright's sync API runs the test in
    another one once the browser has started there, so the test gets a fresh connection. Django only
    restores a ``serialized_rollback`` test's data (roles with their permissions, content types...) and
    keeps post_migrate quiet on flush when the connection carries ``_test_serialized_contents``: without
    it the data is silently not restored and the first logged-in marketer has no permissions (403).
    """
    if "django_db_setup" not in request.fixturenames and not _session_uses_db(request.session):
        return
    request.getfixturevalue("django_db_setup")
    from django.db import connections

    contents = {
        alias: connections[alias]._test_serialized_contents
        for alias in connections
        if hasattr(connections[alias], "_test_serialized_contents")
    }
    create_connection = connections.create_connection

    def create_connection_with_contents(alias: str):
        connection = create_connection(alias)
        if alias in contents:
            connection._test_serialized_contents = contents[alias]
        return connection

    connections.create_connection = create_connection_with_contents


@pytest.fixture(scope="session", autouse=True)
def _serialized_restores_in_bulk():
    """Restore the serialized data (every transactional test does, see below) with one INSERT per table.

    Django saves the ~300 restored rows one by one (an UPDATE that finds nothing, then an INSERT, and
    the group permissions one call each): a few hundred round trips before every transactional test,
    which added up to minutes of the suite. The rows restored are the same, with the same keys, and
    the same constraint check follows. No save signal is sent: ours only act on non-raw saves of
    users and tokens (core.signals), and no user or token is in the serialized data.

    Unaudited: restoring re-adds the role groups' permissions; audited, those grants were chained from
    an audit head that the restore then set back, breaking the chain it verifies.
    """
    from django.db.backends.base.creation import BaseDatabaseCreation

    restore = BaseDatabaseCreation.deserialize_db_from_string

    def restore_in_bulk(self, data: str) -> None:
        with access_audit_paused():
            serialized_data_restore(self.connection, data)

    BaseDatabaseCreation.deserialize_db_from_string = restore_in_bulk  # type: ignore[method-assign]
    yield
    BaseDatabaseCreation.deserialize_db_from_string = restore  # type: ignore[method-assign]


def serialized_data_restore(connection, data: str) -> None:
    """What ``deserialize_db_from_string`` restores, written per table rather than per row.

    As there, a row already present is overwritten (the first transactional test, or one after
    non-transactional tests, finds the data still in place), and a restored object's many-to-many
    relations end up exactly the serialized ones.
    """
    alias = connection.alias
    rows: dict[type, list] = defaultdict(list)
    relations: dict[type, list] = defaultdict(list)  # many-to-many rows, per through table
    owners: dict[tuple[type, str], list] = defaultdict(list)  # whose many-to-many rows are replaced
    with transaction.atomic(using=alias), connection.constraint_checks_disabled():
        for restored in serializers.deserialize("json", StringIO(data), using=alias):
            instance = restored.object
            rows[type(instance)].append(instance)
            for name, targets in (restored.m2m_data or {}).items():
                field = instance._meta.get_field(name)
                through = field.remote_field.through
                source, target = field.m2m_field_name(), field.m2m_reverse_field_name()
                owners[(through, source)].append(instance.pk)
                relations[through] += [through(**{f"{source}_id": instance.pk, f"{target}_id": pk}) for pk in targets]
        for model, instances in rows.items():
            pk = model._meta.pk
            fields = [f.name for f in model._meta.concrete_fields if f is not pk]
            upsert = {"update_conflicts": True, "unique_fields": [pk.name], "update_fields": fields} if fields else {"ignore_conflicts": True}
            model._base_manager.using(alias).bulk_create(instances, **upsert)
        for (through, source), pks in owners.items():
            through._base_manager.using(alias).filter(**{f"{source}_id__in": pks}).delete()
        for through, instances in relations.items():
            through._base_manager.using(alias).bulk_create(instances)
        tables = {model._meta.db_table for model in (*rows, *relations)}
        connection.check_constraints(table_names=tables)


@pytest.fixture(scope="session", autouse=True)
def _flush_empties_only_filled_tables():
    """The flush after each transactional test empties the tables that have rows, and only those.

    Django's flush TRUNCATEs every table in one statement; PostgreSQL gives each of the ~265 tables and
    indexes a new file for it, 1-2 s per flush on this machine, empty tables included, and there is
    one after every transactional test. A DELETE of the few tables a test filled takes milliseconds.
    The tables whose rows cannot be deleted (the append-only ledger and audit log) are still
    truncated, with the tables that refer to them. The database ends as empty as after a TRUNCATE.
    """
    if not _uses_postgres():
        yield
        return
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate_all = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if reset_sequences or not tables:  # identities restarted: only TRUNCATE does that
            return truncate_all(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        return filled_tables_flush_sql(self.connection, tables)

    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]
    yield
    DatabaseOperations.sql_flush = truncate_all  # type: ignore[method-assign]


def filled_tables_flush_sql(connection, tables: list[str]) -> list[str]:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(f"SELECT %s WHERE EXISTS (SELECT FROM {quote(table)})" for table in tables), list(tables))
        filled = [table for (table,) in cursor.fetchall()]
        # A trigger on DELETE (tgtype bit 8) is what keeps a table append-only (core/append_only.py).
        cursor.execute(
            "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE NOT t.tgisinternal AND t.tgtype & 8 <> 0 AND c.relname = ANY(%s) AND pg_table_is_visible(c.oid)",
            [filled],
        )
        append_only = {table for (table,) in cursor.fetchall()}
    sql = [f"TRUNCATE {', '.join(quote(table) for table in sorted(append_only))} CASCADE;"] if append_only else []
    # Every foreign key is checked at commit (Django declares them DEFERRABLE INITIALLY DEFERRED): any order.
    return sql + [f"DELETE FROM {quote(table)};" for table in filled if table not in append_only]


def _session_uses_db(session) -> bool:
    return any("django_db_setup" in getattr(item, "fixturenames", ()) for item in session.items)


def _uses_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def _restores_serialized_data(item) -> None:
    """Every transactional test restores the serialized data (roles, permissions, content types).

    A plain transactional test's flush re-creates the role groups through post_migrate; the next test
    that restores the serialized data then inserts them twice and fails, and so does every test after
    it. One rule for all avoids that order-dependent failure.
    """
    marker = item.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction") and not marker.kwargs.get("serialized_rollback"):
        item.add_marker(pytest.mark.django_db(**{**marker.kwargs, "serialized_rollback": True}), append=False)


def pytest_collection_modifyitems(config, items):
    # Last (after pytest-django's ordering), in their order: the tests of the session's Celery worker
    # and beat, which must not run beside any other test (tests/celery_processes.py).
    items[:] = [item for item in items if "processes" not in item.fixturenames] + [
        item for item in items if "processes" in item.fixturenames
    ]
    for item in items:
        _restores_serialized_data(item)
        if item.get_closest_marker("postgres") and not _uses_postgres():
            item.add_marker(pytest.mark.skip(reason=f"{SERVICE_MISSING} PostgreSQL (set DATABASE_URL)"))
        if item.get_closest_marker("redis") and not settings.REDIS_URL:
            item.add_marker(pytest.mark.skip(reason=f"{SERVICE_MISSING} Redis (set REDIS_URL)"))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    missing = [
        rep for rep in terminalreporter.stats.get("skipped", []) if SERVICE_MISSING in str(getattr(rep, "longrepr", ""))
    ]
    if missing:
        terminalreporter.write_line(f"{len(missing)} tests skipped because PostgreSQL or Redis is missing", yellow=True)


def _user(username: str, *groups: str, **extra) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username, is_staff=True, **extra)
    for name in groups:
        # get_or_create: transactional tests flush the groups the migration created.
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


@pytest.fixture
def marketer(db) -> User:
    return _user("mara", "Marketer")


@pytest.fixture
def approver(db) -> User:
    return _user("abe", "Approver")


@pytest.fixture
def support(db) -> User:
    return _user("sue", "Support")


@pytest.fixture
def outsider(db) -> User:
    """A logged-in account with no role: every protected page and endpoint must refuse it."""
    return User.objects.create_user(username="otto", password="pw-otto")


@pytest.fixture(autouse=True)
def _sending_numbers_read_afresh() -> Iterator[None]:
    """Our numbers are cached per process: a number a test added (and rolled back) is not the next test's."""
    numbers_forget()
    yield
    numbers_forget()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    """The role fixtures create users with passwords; the production hasher is slow on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser(username="root", password="pw-root", email="root@example.com")


@pytest.fixture
def visitor_ip() -> str:
    """An address of its own per test, so per-IP counters in the shared cache never leak between tests."""
    return factories.new_visitor_ip()


@pytest.fixture
def api_client() -> Callable[[User | None], APIClient]:
    """An API client sending ``Authorization: Token <key>`` for the user (none for ``None``)."""
    return factories.api_client


@pytest.fixture
def admin_client_for(visitor_ip: str) -> Callable[[User], Client]:
    def make(user: User) -> Client:
        client = Client(REMOTE_ADDR=visitor_ip)
        client.force_login(user)
        return client

    return make


@pytest.fixture
def optin_form(db) -> OptInForm:
    return OptInForm.objects.create(
        slug="acme",
        business_name="Acme Shoes",
        message_description="offers, restock alerts and news",
        frequency="up to 4 messages a month",
        privacy_policy_url="https://acme.example/privacy",
        notice_text=factories.NOTICE_TEXT,
        notice_version="2026-11",
        purpose=purpose_get(Purpose.MARKETING),  # recreated after a flush by another transactional test
    )


@pytest.fixture
def templates(db) -> dict[tuple[str, str], MessageTemplate]:
    """The sandbox's templates, stored as the template sync stores them."""
    templates_store(remote_templates=default_templates())
    return {(t.name, t.language): t for t in MessageTemplate.objects.all()}


@pytest.fixture
def spring_sale(templates) -> MessageTemplate:
    """MARKETING, two body parameters ({{1}} name, {{2}} discount) and a tracked URL button."""
    return templates[("spring_sale", "en_US")]


@pytest.fixture
def no_quiet_hours(db) -> None:
    """Quiet hours off, so that what is sent does not depend on the hour the tests run at."""
    FrequencyCapPolicy.objects.update_or_create(pk=1, defaults={"quiet_hours_start": time(0), "quiet_hours_end": time(0)})


@pytest.fixture
def everyone(db) -> Segment:
    return Segment.objects.create(name="everyone", rules={"all": []})


@pytest.fixture
def deliver(client):
    """POST a signed payload to the webhook, then run the worker-side processing; returns the response."""

    def _deliver(data: dict | bytes, *, process: bool = True):
        response = factories.post_webhook(client, data)
        if process:
            factories.process_pending_deliveries()
        return response

    return _deliver
