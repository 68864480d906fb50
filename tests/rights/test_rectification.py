"""Corrections of a name or number through the API are audit-logged without keeping the old or new values."""

from __future__ import annotations

import pytest

from consent.models import ConsentStatus, Contact
from consent.selectors import contact_consent_status
from consent.services import Evidence, consent_grant, contact_upsert, number_is_suppressed, suppression_hash
from core.models import AuditEntry
from tests.factories import NOTICE

pytestmark = pytest.mark.django_db

ANA = "+4915123456789"


@pytest.fixture
def ana() -> Contact:
    contact, _ = contact_upsert(phone=ANA, name="Ana Lima")
    consent_grant(contact=contact, source="web_form", evidence=NOTICE)
    return contact


def test_a_name_correction_keeps_only_fingerprints_of_old_and_new_name(api_client, support, ana):
    response = api_client(support).patch(f"/api/v1/contacts/{ana.pk}", {"name": "Ana Lima Souza", "reason": "asked by e-mail"}, format="json")

    assert response.status_code == 200 and response.json()["name"] == "Ana Lima Souza"
    entry = AuditEntry.objects.get(action="contact.rectify")
    assert (entry.actor, entry.object_id, entry.details["fields"], entry.details["reason"]) == (support, str(ana.pk), ["name"], "asked by e-mail")
    assert len(entry.details["name"]["old"]) == 16 and entry.details["name"]["old"] != entry.details["name"]["new"]
    assert "Ana" not in str(entry.details)
    assert contact_consent_status(ana) == ConsentStatus.OPTED_IN  # a name changes nothing about consent


def test_a_number_correction_ends_the_old_numbers_consent_and_suppresses_it(api_client, support, ana):
    response = api_client(support).patch(f"/api/v1/contacts/{ana.pk}", {"phone": "+49 151 99887766"}, format="json")

    assert response.status_code == 200
    assert (response.json()["phone"], response.json()["marketing_consent"]) == ("+4915199887766", "opted_out")
    assert number_is_suppressed(ANA) and not number_is_suppressed("+4915199887766")
    details = AuditEntry.objects.get(action="contact.rectify").details
    assert details["phone"] == {
        "old": "+***********89", "new": "+***********66", "old_hash": suppression_hash(ANA), "new_hash": suppression_hash("+4915199887766"),
    }  # fmt: skip
    # The person opts in again for the new number, e.g. through support with evidence.
    consent_grant(contact=Contact.objects.get(pk=ana.pk), source="support", evidence=Evidence(notice_text=NOTICE.notice_text))


def test_a_number_another_contact_has_is_refused(api_client, support, ana):
    contact_upsert(phone="+4915199887766")

    response = api_client(support).patch(f"/api/v1/contacts/{ana.pk}", {"phone": "+4915199887766"}, format="json")

    assert response.status_code == 400
    assert "has this number already" in response.json()["phone"][0]
    assert Contact.objects.get(pk=ana.pk).phone == ANA


def test_an_unreadable_number_is_refused_with_the_reason(api_client, support, ana):
    response = api_client(support).patch(f"/api/v1/contacts/{ana.pk}", {"phone": "12ab"}, format="json")

    assert response.status_code == 400 and response.json()["phone"]


def test_an_upsert_that_renames_a_contact_is_audit_logged(api_client, marketer, ana):
    response = api_client(marketer).post("/api/v1/contacts", {"phone": ANA, "name": "Ana L."}, format="json")

    assert response.status_code == 200
    entry = AuditEntry.objects.get(action="contact.rectify")
    assert (entry.actor, entry.actor_label, entry.details["fields"]) == (marketer, "api token of mara", ["name"])


def test_an_approver_cannot_correct(api_client, approver, ana):
    assert api_client(approver).patch(f"/api/v1/contacts/{ana.pk}", {"name": "X"}, format="json").status_code == 403
