"""Too many wrong passwords through the admin's login form lock that username out from that address for a while."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from core.models import AuditEntry
from tests.factories import new_visitor_ip

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"


def attempt(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})


def test_the_form_locks_a_username_out_after_the_failure_limit_even_with_the_right_password(marketer):
    client = Client(REMOTE_ADDR=new_visitor_ip())
    limit = settings.LOGIN_FAILURE_LIMIT
    assert limit == 5

    for _ in range(limit - 1):
        refused = attempt(client, "mara", "wrong")
        assert refused.status_code == 200 and "Please enter the correct username and password" in refused.content.decode()
    locked = attempt(client, "mara", "wrong")

    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    right_password = attempt(client, "mara", "pw-mara")
    assert right_password.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lockout_holds_for_that_username_from_that_address_only(marketer, support):
    address = new_visitor_ip()
    client = Client(REMOTE_ADDR=address)
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        attempt(client, "mara", "wrong")

    assert attempt(client, "sue", "pw-sue").status_code == 302  # another account from the same address
    assert attempt(Client(REMOTE_ADDR=new_visitor_ip()), "mara", "pw-mara").status_code == 302  # mara elsewhere


def test_a_successful_login_resets_the_count(marketer):
    client = Client(REMOTE_ADDR=new_visitor_ip())
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        attempt(client, "mara", "wrong")
    assert attempt(client, "mara", "pw-mara").status_code == 302
    client.logout()

    assert attempt(client, "mara", "wrong").status_code == 200  # counting starts again


def test_logins_failures_and_the_lockout_are_in_the_audit_log_with_the_address(marketer):
    address = new_visitor_ip()
    client = Client(REMOTE_ADDR=address)
    attempt(client, "mara", "pw-mara")
    client.logout()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        attempt(client, "mara", "wrong")

    login = AuditEntry.objects.get(action="auth.login")
    assert (login.actor, login.ip_address) == (marketer, address)
    failures = AuditEntry.objects.filter(action="auth.login_failed")
    assert failures.count() == settings.LOGIN_FAILURE_LIMIT
    assert {(f.actor_label, f.ip_address) for f in failures} == {("login as mara", address)}
    assert AuditEntry.objects.filter(action="auth.lockout", ip_address=address).count() == 1
    assert "wrong" not in str(list(AuditEntry.objects.values_list("details", flat=True)))  # no password is kept
