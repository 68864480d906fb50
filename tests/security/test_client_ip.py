"""Whose address a request carries: X-Forwarded-For counts only when a trusted proxy (TRUSTED_PROXIES) sent it.

The address is the evidence of an opt-in, the key of per-visitor rate limits and of login lockouts; a
client that could choose it would forge evidence and escape every limit.
"""

from __future__ import annotations

import itertools

import pytest
from django.test import Client

from conversations.models import OptInConfirmation
from tests.factories import new_visitor_ip

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("optin_form")]

PAGE = "/optin/acme/"
LOGIN = "/admin/login/"
_phones = itertools.count(10000000)


def sign_up(client: Client, **headers: str):
    phone = f"+49 151 {next(_phones)}"
    return client.post(PAGE, {"phone": phone, "consent": "yes", "notice_version": "2026-11"}, **headers)


def recorded_address() -> str:
    """The address kept as the sign-up's evidence (it becomes the opt-in's once confirmed from WhatsApp)."""
    return OptInConfirmation.objects.latest("requested_at").ip_address


@pytest.fixture
def proxy(settings) -> str:
    address = new_visitor_ip()
    settings.TRUSTED_PROXIES = [address]
    return address


def test_the_opt_in_evidence_holds_the_address_a_trusted_proxy_forwarded(proxy):
    person = new_visitor_ip()

    # The left entry was written by the person's own browser (anyone can send one); the proxy appended the right one.
    response = sign_up(Client(REMOTE_ADDR=proxy), HTTP_X_FORWARDED_FOR=f"198.51.100.66, {person}")

    assert response.status_code == 302
    assert recorded_address() == person


def test_a_forwarded_address_from_anyone_else_is_ignored(proxy):
    stranger = new_visitor_ip()

    response = sign_up(Client(REMOTE_ADDR=stranger), HTTP_X_FORWARDED_FOR=new_visitor_ip())

    assert response.status_code == 302
    assert recorded_address() == stranger


def test_no_proxy_is_trusted_unless_configured(settings):
    assert settings.TRUSTED_PROXIES == []
    visitor = new_visitor_ip()

    sign_up(Client(REMOTE_ADDR=visitor), HTTP_X_FORWARDED_FOR="198.51.100.66")

    assert recorded_address() == visitor


def test_a_trusted_network_covers_a_chain_of_proxies(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "2001:db8::/32"]
    person = "203.0.113.77"

    sign_up(Client(REMOTE_ADDR="10.1.2.3"), HTTP_X_FORWARDED_FOR=f"198.51.100.66, {person}, 2001:db8::5, 10.9.9.9")

    assert recorded_address() == person


def test_changing_the_forwarded_address_does_not_escape_the_rate_limit(settings, proxy):
    settings.OPTIN_RATE_LIMIT_PER_HOUR = 3
    client = Client(REMOTE_ADDR=new_visitor_ip())

    answers = [sign_up(client, HTTP_X_FORWARDED_FOR=new_visitor_ip()).status_code for _ in range(4)]

    assert answers == [302, 302, 302, 429]


def test_people_behind_a_trusted_proxy_each_have_their_own_rate_limit(settings, proxy):
    settings.OPTIN_RATE_LIMIT_PER_HOUR = 2
    through_proxy = Client(REMOTE_ADDR=proxy)
    busy, other = new_visitor_ip(), new_visitor_ip()

    answers = [sign_up(through_proxy, HTTP_X_FORWARDED_FOR=busy).status_code for _ in range(3)]

    assert answers == [302, 302, 429]
    assert sign_up(through_proxy, HTTP_X_FORWARDED_FOR=other).status_code == 302


@pytest.mark.parametrize(
    "header",
    ["not-an-ip", " , ,", "1.2.3.4.5", "[2001:db8::1]", "203.0.113.9:443", "2001:db8::1, nonsense", "\x7f" * 3, "9" * 5000],
)
def test_a_malformed_forwarded_header_is_ignored_with_a_normal_answer(proxy, header):
    response = sign_up(Client(REMOTE_ADDR=proxy), HTTP_X_FORWARDED_FOR=header)

    assert response.status_code == 302
    assert recorded_address() == proxy
    for page in ("/u/no-such-token", "/r/no-such-token"):  # the public pages rate limited per address
        assert Client(REMOTE_ADDR=proxy).get(page, HTTP_X_FORWARDED_FOR=header).status_code == 404


def test_junk_the_client_wrote_before_the_proxys_entry_does_not_matter(proxy):
    person = new_visitor_ip()

    sign_up(Client(REMOTE_ADDR=proxy), HTTP_X_FORWARDED_FOR=f"nonsense, {person}")

    assert recorded_address() == person


def attempt(client: Client, username: str, password: str, **headers: str):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, **headers)


def test_failed_logins_for_one_username_from_many_addresses_lock_it_everywhere(settings, marketer, support):
    assert settings.LOGIN_USERNAME_FAILURE_LIMIT == 20
    for _ in range(settings.LOGIN_USERNAME_FAILURE_LIMIT - 1):
        assert attempt(Client(REMOTE_ADDR=new_visitor_ip()), "mara", "wrong").status_code == 200
    last = attempt(Client(REMOTE_ADDR=new_visitor_ip()), "mara", "wrong")

    assert last.status_code == 429
    fresh_address = Client(REMOTE_ADDR=new_visitor_ip())
    assert attempt(fresh_address, "mara", "pw-mara").status_code == 429
    assert "_auth_user_id" not in fresh_address.session
    assert attempt(fresh_address, "sue", "pw-sue").status_code == 302  # other accounts are not affected


def test_fewer_failures_spread_over_addresses_leave_the_username_open(settings, marketer):
    for _ in range(settings.LOGIN_USERNAME_FAILURE_LIMIT - 1):
        attempt(Client(REMOTE_ADDR=new_visitor_ip()), "mara", "wrong")

    assert attempt(Client(REMOTE_ADDR=new_visitor_ip()), "mara", "pw-mara").status_code == 302


def test_behind_a_trusted_proxy_a_lockout_holds_for_the_forwarded_address(settings, proxy, marketer):
    through_proxy = Client(REMOTE_ADDR=proxy)
    guesser, colleague = new_visitor_ip(), new_visitor_ip()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        attempt(through_proxy, "mara", "wrong", HTTP_X_FORWARDED_FOR=guesser)

    assert attempt(through_proxy, "mara", "pw-mara", HTTP_X_FORWARDED_FOR=guesser).status_code == 429
    assert attempt(Client(REMOTE_ADDR=proxy), "mara", "pw-mara", HTTP_X_FORWARDED_FOR=colleague).status_code == 302


def test_a_forged_forwarded_address_does_not_escape_a_login_lockout(settings, proxy, marketer):
    client = Client(REMOTE_ADDR=new_visitor_ip())
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        attempt(client, "mara", "wrong", HTTP_X_FORWARDED_FOR=new_visitor_ip())

    assert attempt(client, "mara", "pw-mara", HTTP_X_FORWARDED_FOR=new_visitor_ip()).status_code == 429
