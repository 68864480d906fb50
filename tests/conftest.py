from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db.backends.signals import connection_created
from django.dispatch import receiver

from core.append_only import TEST_FLUSH_SETTING

pytest_plugins = ["tests.sandbox_fixtures"]

SERVICE_MISSING = "service missing:"


@receiver(connection_created)
def _test_flush_allowed(sender, connection, **kwargs) -> None:
    """Transactional tests empty every table between tests with TRUNCATE, which the append-only
    triggers refuse unless the session says it is the test suite's (see core.append_only)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET {TEST_FLUSH_SETTING} = 'on'")


def _uses_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_collection_modifyitems(config, items):
    for item in items:
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
