"""An erased number comes back only as a new contact without consent, and stays suppressed until the person opts in."""

from __future__ import annotations

import csv
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from consent.models import ConsentStatus, Contact
from consent.selectors import contact_consent_status, contacts_marketable
from consent.services import number_is_suppressed
from tests.factories import NOTICE_TEXT, new_visitor_ip
from tests.optin_helpers import join_text_shown
from tests.rights.person import PHONE, inbound_text

pytestmark = pytest.mark.django_db

OPT_IN = {"phone": PHONE, "action": "opt_in", "source": "checkout", "evidence": {"notice_text": NOTICE_TEXT}}


@pytest.fixture
def erased(api_client, support, person) -> Contact:
    assert api_client(support).post(f"/api/v1/contacts/{person.contact.pk}/erase", {}, format="json").status_code == 200
    return person.contact


def _import(tmp_path, row: dict[str, str]) -> str:
    path = tmp_path / "people.csv"
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    out = StringIO()
    call_command("import_contacts", str(path), stdout=out, stderr=out)
    return out.getvalue()


def test_the_api_creates_a_new_contact_without_consent_for_the_number(api_client, marketer, erased):
    response = api_client(marketer).post("/api/v1/contacts", {"phone": PHONE, "name": "Someone"}, format="json")

    assert response.status_code == 201
    assert response.json()["id"] != erased.pk and response.json()["marketing_consent"] == "none"
    assert number_is_suppressed(PHONE)


def test_an_integrator_cannot_opt_the_erased_number_in_again(api_client, marketer, erased):
    response = api_client(marketer).post("/api/v1/consents", OPT_IN, format="json")

    assert response.status_code == 400
    assert "opted out earlier" in response.json()["phone"][0]
    assert not Contact.objects.filter(phone=PHONE).exists()  # nothing kept of a refused opt-in


def test_a_csv_import_gives_a_new_contact_without_consent_and_refuses_its_opt_in(tmp_path, erased):
    refused = _import(tmp_path, {"phone": PHONE, "name": "Z", "consent_source": "checkout", "consent_opted_in_at": "2026-01-02",
                                 "consent_notice_text": NOTICE_TEXT})  # fmt: skip
    assert "opted out earlier" in refused

    _import(tmp_path, {"phone": PHONE, "name": "Z"})

    contact = Contact.objects.get(phone=PHONE)
    assert contact.pk != erased.pk
    assert contact_consent_status(contact) == ConsentStatus.NONE
    assert not contacts_marketable().filter(phone=PHONE).exists()


def test_the_person_opting_in_themselves_lifts_the_suppression(optin_form, erased, deliver):  # noqa: F811
    visitor = Client(REMOTE_ADDR=new_visitor_ip())

    response = visitor.post(f"/optin/{optin_form.slug}/", {"phone": PHONE, "consent": "on", "notice_version": optin_form.notice_version})

    assert response.status_code == 302
    assert number_is_suppressed(PHONE) and not Contact.objects.filter(phone=PHONE).exists(), "the form alone changes nothing"
    deliver(inbound_text(join_text_shown(visitor, response), wamid="wamid.JOIN.AGAIN"))
    assert not number_is_suppressed(PHONE)
    assert contacts_marketable().filter(phone=PHONE).exclude(pk=erased.pk).exists()
