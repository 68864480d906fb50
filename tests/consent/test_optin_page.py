"""The hosted opt-in page: what it shows, what it checks, and that a sign-up alone grants nothing.

The confirmation from WhatsApp that does grant consent is tested in tests/conversations/test_proven_optin.py.
"""

import re

import pytest
from django.test import Client, override_settings

from consent.models import ConsentEvent, Contact, OptInForm
from consent.selectors import contacts_marketable
from conversations.models import OptInConfirmation
from core.models import AuditEntry
from tests.factories import NOTICE_TEXT, SECOND_DISPLAY_NUMBER, SECOND_NUMBER_ID, new_visitor_ip, second_number_add

pytestmark = pytest.mark.django_db

PAGE = "/optin/acme/"
FIREFOX = "Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0"


@pytest.fixture
def visitor(visitor_ip) -> Client:
    return Client(REMOTE_ADDR=visitor_ip, HTTP_USER_AGENT=FIREFOX)


def _sign_up(client: Client, phone: str = "+49 151 23456789", **overrides):
    data = {"phone": phone, "consent": "yes", "notice_version": "2026-11", **overrides}
    return client.post(PAGE, {k: v for k, v in data.items() if v is not None})


def test_the_page_shows_who_sends_what_how_often_and_the_exact_notice(visitor, optin_form):
    response = visitor.get(PAGE)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Get Acme Shoes on WhatsApp" in html
    assert "offers, restock alerts and news, up to 4 messages a month" in html
    assert 'href="https://acme.example/privacy"' in html
    assert NOTICE_TEXT in html and "Notice version 2026-11" in html
    checkbox = re.search(r'<input type="checkbox"[^>]*>', html).group(0)
    assert "checked" not in checkbox, "the consent box must start unticked"
    assert 'name="csrfmiddlewaretoken"' in html


def test_the_page_is_self_contained_and_fits_a_phone(visitor, optin_form):
    html = visitor.get(PAGE).content.decode()

    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<script" not in html
    assert not re.search(r'<(link|img|iframe)\b', html)
    assert not re.search(r'\bsrc=|@import|url\(', html)


def test_signing_up_keeps_the_page_as_evidence_but_grants_nothing_yet(visitor, visitor_ip, optin_form):
    response = _sign_up(visitor)

    assert response.status_code == 302 and response["Location"] == "/optin/acme/thanks/"
    assert not ConsentEvent.objects.exists()
    assert list(contacts_marketable()) == []
    pending = OptInConfirmation.objects.get()
    assert pending.contact.phone == "+4915123456789" and pending.confirmed_at is None
    assert (pending.notice_text, pending.notice_version) == (NOTICE_TEXT, "2026-11")
    assert (pending.page_url, pending.ip_address, pending.user_agent) == ("http://testserver/optin/acme/", visitor_ip, FIREFOX)
    assert pending.message is None, "a form without double opt-in sends no template"
    audit = AuditEntry.objects.get(action="consent.optin_requested")
    assert (audit.actor_label, audit.ip_address) == ("opt-in page acme", visitor_ip)

    thanks = visitor.get(response["Location"])
    assert thanks.status_code == 200
    html = thanks.content.decode()
    assert "Thank you!" in html and "Confirm from WhatsApp" in html
    code = re.search(r'id="join-text">JOIN ACME (\d{6})<', html).group(1)
    assert f'href="https://wa.me/15550001111?text=JOIN%20ACME%20{code}"' in html
    assert re.search(r'<svg [^>]*class="qr"', html), "the QR code is drawn in the page"
    assert "<script" not in html and not re.search(r'<(link|img|iframe)\b|\bsrc=', html)


def test_each_sign_up_gets_its_own_code(optin_form):
    codes = set()
    for _ in range(3):
        visitor = Client(REMOTE_ADDR=new_visitor_ip())
        page = visitor.get(_sign_up(visitor)["Location"]).content.decode()
        codes.add(re.search(r'id="join-text">JOIN ACME (\d{6})<', page).group(1))

    assert len(codes) == 3
    assert OptInConfirmation.objects.count() == 3


def test_the_thanks_page_without_a_sign_up_shows_no_code(visitor, optin_form):
    html = visitor.get("/optin/acme/thanks/").content.decode()

    assert 'id="join-text"' not in html
    assert 'href="/optin/acme/"' in html and "Sign up again" in html


@pytest.mark.parametrize("typed", ["+49 12", "12345", "0151 2345 6789", "+999 1234567", "+800 1234 5678", "call me"])
def test_an_invalid_number_is_explained_to_the_person_next_to_the_field(visitor, optin_form, typed):
    response = _sign_up(visitor, phone=typed)

    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(
        r'aria-describedby="phone-error">\s*<p class="error" id="phone-error">'
        r"That does not look like a phone number; include your country code, for example \+49 151 23456789\.</p>",
        html,
    )
    assert "PHONE_DEFAULT_REGION" not in html, "a setting means nothing to the person"
    assert f'value="{typed}"' in html, "what the person typed stays in the field"
    assert "checked" in re.search(r'<input type="checkbox"[^>]*>', html).group(0), "and so does their tick"
    assert not Contact.objects.exists() and not OptInConfirmation.objects.exists()


def test_an_empty_number_asks_for_one(visitor, optin_form):
    html = _sign_up(visitor, phone="").content.decode()

    assert "Enter your WhatsApp number, with its country code." in html
    assert not OptInConfirmation.objects.exists()


def test_an_unticked_box_records_nothing(visitor, optin_form):
    response = _sign_up(visitor, consent=None)

    assert response.status_code == 200
    assert b"Tick the box if you want these messages." in response.content
    assert not ConsentEvent.objects.exists() and not OptInConfirmation.objects.exists()


@override_settings(PHONE_DEFAULT_REGION="DE")
def test_a_national_number_is_read_with_the_default_region(visitor, optin_form):
    _sign_up(visitor, phone="0151 2345 6789")

    assert OptInConfirmation.objects.get().contact.phone == "+4915123456789"


def test_a_notice_changed_while_the_page_was_open_is_shown_again_unticked(visitor, optin_form):
    optin_form.notice_text = "Yes, Acme may send me weekly offers on WhatsApp."
    optin_form.notice_version = "2026-12"
    optin_form.save()

    response = _sign_up(visitor, notice_version="2026-11")

    assert response.status_code == 200
    html = response.content.decode()
    assert "The wording below changed while you were reading" in html
    assert "Yes, Acme may send me weekly offers on WhatsApp." in html and 'value="2026-12"' in html
    assert "checked" not in re.search(r'<input type="checkbox"[^>]*>', html).group(0)
    assert not ConsentEvent.objects.exists() and not OptInConfirmation.objects.exists()


def test_the_form_is_csrf_protected(visitor_ip, optin_form):
    browser = Client(enforce_csrf_checks=True, REMOTE_ADDR=visitor_ip)

    forged = browser.post(PAGE, {"phone": "+4915123456789", "consent": "yes", "notice_version": "2026-11"})
    assert forged.status_code == 403
    assert not OptInConfirmation.objects.exists()

    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', browser.get(PAGE).content.decode()).group(1)
    genuine = browser.post(PAGE, {"phone": "+4915123456789", "consent": "yes", "notice_version": "2026-11", "csrfmiddlewaretoken": token})
    assert genuine.status_code == 302
    assert OptInConfirmation.objects.count() == 1


@override_settings(OPTIN_RATE_LIMIT_PER_HOUR=2)
def test_sign_ups_are_limited_per_address(visitor, optin_form):
    assert _sign_up(visitor, phone="+4915123456701").status_code == 302
    assert _sign_up(visitor, phone="+49 12").status_code == 200  # failed attempts count too

    limited = _sign_up(visitor, phone="+4915123456703")
    assert limited.status_code == 429
    assert b"too many sign-ups from your network" in limited.content
    assert 0 < int(limited["Retry-After"]) <= 3601
    assert OptInConfirmation.objects.count() == 1

    neighbour = Client(REMOTE_ADDR=new_visitor_ip())
    assert _sign_up(neighbour, phone="+4915123456704").status_code == 302


@pytest.mark.parametrize("path", [PAGE, "/optin/acme/thanks/", "/optin/acme/confirm/", "/optin/nobody/"])
def test_an_inactive_or_unknown_form_is_not_found(visitor, optin_form, path):
    optin_form.is_active = False
    optin_form.save()

    assert visitor.get(path).status_code == 404
    assert _sign_up(visitor).status_code == 404
    assert not ConsentEvent.objects.exists() and not OptInConfirmation.objects.exists()


def test_a_page_for_our_second_number_links_to_that_number(visitor, optin_form):
    second_number_add()
    OptInForm.objects.filter(pk=optin_form.pk).update(phone_number_id=SECOND_NUMBER_ID)
    thanks = visitor.get(_sign_up(visitor)["Location"]).content.decode()
    code = re.search(r'id="join-text">JOIN ACME (\d{6})<', thanks).group(1)
    assert f'href="https://wa.me/{SECOND_DISPLAY_NUMBER}?text=JOIN%20ACME%20{code}"' in thanks

