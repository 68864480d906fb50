from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from consent.models import OptInForm, Purpose
from consent.services import Evidence

NOTICE_TEXT = "Yes, Acme Shoes may send me offers and news on WhatsApp, up to 4 messages a month. Reply STOP to end."
NOTICE = Evidence(notice_text=NOTICE_TEXT, notice_version="v1")

# Per-IP counters live in Redis across runs: start each run somewhere else in 10.0.0.0/8.
_addresses = itertools.count(random.randrange(2**24))


def new_visitor_ip() -> str:
    n = next(_addresses) % 2**24
    return f"10.{n >> 16}.{n >> 8 & 255}.{n & 255}"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    """The role fixtures create users with passwords; the production hasher is slow on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def visitor_ip() -> str:
    """An address of its own per test, so per-IP counters in the shared cache never leak between tests."""
    return new_visitor_ip()


@pytest.fixture
def api_client() -> Callable[[User | None], APIClient]:
    """An API client sending ``Authorization: Token <key>`` for the user (none for ``None``)."""

    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def admin_client_for(visitor_ip: str) -> Callable[[User], Client]:
    def make(user: User) -> Client:
        client = Client(REMOTE_ADDR=visitor_ip)
        client.force_login(user)
        return client

    return make


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser(username="root", password="pw-root", email="root@example.com")


@pytest.fixture
def optin_form(db) -> OptInForm:
    return OptInForm.objects.create(
        slug="acme",
        business_name="Acme Shoes",
        message_description="offers, restock alerts and news",
        frequency="up to 4 messages a month",
        privacy_policy_url="https://acme.example/privacy",
        notice_text=NOTICE_TEXT,
        notice_version="2026-11",
        purpose=Purpose.objects.get(code=Purpose.MARKETING),
    )
