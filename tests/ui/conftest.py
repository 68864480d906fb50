"""Fixtures of the admin-page tests (campaigns with messages, clients per role: tests/factories.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_dashboard_cache(settings) -> None:
    settings.DASHBOARD_CACHE_SECONDS = 0


@pytest.fixture
def staffer(db):
    """A staff account with no role: it reaches the admin, and every purpose-built page refuses it."""
    from django.contrib.auth.models import User

    return User.objects.create_user(username="stan", password="pw-stan", is_staff=True)
