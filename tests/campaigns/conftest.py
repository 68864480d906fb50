"""API clients per role for the campaign tests (contacts and templates: tests/factories.py, tests/conftest.py)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import api_client


@pytest.fixture
def as_marketer(marketer) -> APIClient:
    return api_client(marketer)


@pytest.fixture
def as_approver(approver) -> APIClient:
    return api_client(approver)


@pytest.fixture
def as_support(support) -> APIClient:
    return api_client(support)


@pytest.fixture
def anonymous(db) -> APIClient:
    return api_client()
