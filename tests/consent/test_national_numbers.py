"""Numbers the way people type them: a national number on an opt-in page of its own country, in a CSV
import and in support's find all mean the same person; the help text says what is accepted."""

from __future__ import annotations

import pytest
from django.test import Client

from consent.models import Contact
from conversations.models import OptInConfirmation
from tests.factories import client_for, csv_import_through_admin

pytestmark = pytest.mark.django_db

NATIONAL = "0151 2345 6789"
E164 = "+4915123456789"


def _sign_up(client: Client, phone: str, form: str = "acme"):
    return client.post(f"/optin/{form}/", {"phone": phone, "consent": "yes", "notice_version": "2026-11"})


@pytest.fixture
def german_page(optin_form):
    optin_form.country = "DE"
    optin_form.save()
    return optin_form


def test_a_national_number_on_a_german_page_in_an_import_and_in_find_is_one_person(
    german_page, marketer, support, visitor_ip, settings
):
    settings.PHONE_DEFAULT_REGION = "US"  # the page's own country wins over the installation's
    visitor = Client(REMOTE_ADDR=visitor_ip)
    assert _sign_up(visitor, NATIONAL).status_code == 302
    person = OptInConfirmation.objects.get().contact
    assert person.phone == E164

    settings.PHONE_DEFAULT_REGION = "DE"
    csv = f"phone,name\n{NATIONAL},Ana\n".encode()
    imported = csv_import_through_admin(client_for(marketer), csv, name="shop.csv")
    assert "imported 0, updated 1" in imported.content.decode()
    assert list(Contact.objects.values_list("phone", "name")) == [(E164, "Ana")]

    found = client_for(support).post("/admin/support/find/", {"phone": "0151-23456789"})
    assert found.status_code == 302 and found["Location"] == f"/admin/support/people/{person.pk}/"


def test_the_page_shows_an_example_of_its_own_country_and_still_takes_international_numbers(german_page, visitor_ip, settings):
    settings.PHONE_DEFAULT_REGION = None
    visitor = Client(REMOTE_ADDR=visitor_ip)
    html = visitor.get("/optin/acme/").content.decode()
    assert 'placeholder="01512 3456789"' in html
    assert "start with + and the country code" in html

    assert _sign_up(visitor, "+44 7911 123456").status_code == 302
    assert OptInConfirmation.objects.get().contact.phone == "+447911123456"


def test_without_a_country_a_national_number_is_refused_with_the_format_to_use(optin_form, visitor_ip, settings):
    settings.PHONE_DEFAULT_REGION = None
    response = _sign_up(Client(REMOTE_ADDR=visitor_ip), NATIONAL)
    assert response.status_code == 200
    assert "include your country code, for example +49 151 23456789" in response.content.decode()
    assert not Contact.objects.exists()


def test_an_unknown_page_country_is_refused_in_the_admin(optin_form, superuser):
    page = client_for(superuser).get(f"/admin/consent/optinform/{optin_form.pk}/change/")
    assert page.status_code == 200 and 'name="country"' in page.content.decode()
    optin_form.country = "XX"
    with pytest.raises(Exception, match="not a two-letter country code"):
        optin_form.full_clean()


def test_the_import_page_says_which_national_numbers_it_reads(marketer, settings):
    settings.PHONE_DEFAULT_REGION = "DE"
    html = client_for(marketer).get("/admin/consent/contact/import/").content.decode()
    assert "national ones, read as numbers of DE" in html


def test_the_contact_form_takes_a_national_number_and_says_so(superuser, settings):
    settings.PHONE_DEFAULT_REGION = "DE"
    admin = client_for(superuser)
    assert "or national (01512 3456789) for a number of DE" in admin.get("/admin/consent/contact/add/").content.decode()

    response = admin.post("/admin/consent/contact/add/", {"phone": NATIONAL, "name": "Ana", "language": "de", "attributes": "{}"})
    assert response.status_code == 302, response.context["adminform"].form.errors

    assert list(Contact.objects.values_list("phone", flat=True)) == [E164]
