"""Support erases and corrects a person from the contact page; the buttons are only there for those who may."""

from __future__ import annotations

import pytest

from consent.models import Contact
from core.models import AuditEntry
from tests.rights.person import NEW_NAME, PHONE

pytestmark = pytest.mark.django_db


def page(client, contact) -> str:
    return client.get(f"/admin/consent/contact/{contact.pk}/change/").content.decode()


def test_support_erases_after_confirming_on_a_page_that_says_what_happens(admin_client_for, support, person):
    client = admin_client_for(support)
    url = f"/admin/consent/contact/{person.contact.pk}/erase/"
    assert url in page(client, person.contact)

    confirm = client.get(url)
    assert "cannot be undone" in confirm.content.decode() and "suppression" in confirm.content.decode()
    unconfirmed = client.post(url, {"reason": "ticket 4711"})
    assert "Tick the box to confirm" in unconfirmed.content.decode()
    assert Contact.objects.get(pk=person.contact.pk).erased_at is None

    done = client.post(url, {"reason": "ticket 4711", "confirm": "on"}, follow=True)

    assert "erased. Its number stays suppressed" in done.content.decode()
    contact = Contact.objects.get(pk=person.contact.pk)
    assert (contact.phone, contact.erased_at is not None) == (None, True)
    entry = AuditEntry.objects.get(action="contact.erase")
    assert (entry.actor, entry.ip_address, entry.details["reason"]) == (support, client.defaults["REMOTE_ADDR"], "ticket 4711")
    assert url not in page(client, contact)  # nothing left to erase


def test_a_superuser_may_erase(admin_client_for, superuser, person):
    response = admin_client_for(superuser).post(f"/admin/consent/contact/{person.contact.pk}/erase/", {"confirm": "on"})

    assert response.status_code == 302
    assert Contact.objects.get(pk=person.contact.pk).erased_at is not None


@pytest.mark.parametrize("role", ["marketer", "approver"])
def test_marketers_and_approvers_cannot_erase(request, admin_client_for, api_client, person, role):
    user = request.getfixturevalue(role)
    client = admin_client_for(user)
    url = f"/admin/consent/contact/{person.contact.pk}/erase/"

    assert url not in page(client, person.contact)
    assert client.get(url).status_code == 403
    assert client.post(url, {"confirm": "on"}).status_code == 403
    assert api_client(user).post(f"/api/v1/contacts/{person.contact.pk}/erase", {}, format="json").status_code == 403
    assert Contact.objects.get(pk=person.contact.pk).phone == PHONE


def test_support_corrects_a_number_and_the_old_numbers_consent_ends(admin_client_for, support, person):
    client = admin_client_for(support)
    url = f"/admin/consent/contact/{person.contact.pk}/rectify/"
    assert url in page(client, person.contact)

    response = client.post(url, {"name": NEW_NAME, "phone": "0176 99887766", "reason": "typo at sign-up"})

    assert response.status_code == 200  # a national number without a default region is not readable
    assert response.context["form"].errors["phone"]
    response = client.post(url, {"name": NEW_NAME, "phone": "+49 176 99887766", "reason": f"was {PHONE}"})
    assert response.status_code == 302
    contact = Contact.objects.get(pk=person.contact.pk)
    assert (contact.phone, contact.wa_id) == ("+4917699887766", "4917699887766")
    entry = AuditEntry.objects.get(action="contact.rectify", actor=support)
    assert entry.details["fields"] == ["phone"]
    assert (entry.details["phone"]["old"], entry.details["phone"]["new"]) == ("+***********78", "+***********66")
    assert entry.details["reason"] == "was +***********78" and entry.details["consent_ended"] is True


def test_a_marketer_edits_the_name_in_the_contact_form_and_it_is_audit_logged(person):
    """The person fixture's marketer renamed the contact in the admin form."""
    entry = AuditEntry.objects.get(action="contact.rectify", actor_label="mara")
    assert entry.details["fields"] == ["name"]
    assert set(entry.details["name"]) == {"old", "new"}
    assert "Zebedee" not in str(entry.details)
    assert entry.ip_address
