"""A person's data package (right of access) holds everything kept about them, and each export is audit-logged."""

from __future__ import annotations

import json
import re

import pytest

from core.models import AuditEntry
from tests.rights.person import NAME, NEW_NAME, PERSON_AGENT, PHONE

pytestmark = pytest.mark.django_db


def test_the_export_holds_profile_consent_messages_texts_events_clicks_and_audit(api_client, support, person):
    response = api_client(support).get(f"/api/v1/contacts/{person.contact.pk}/export")

    assert response.status_code == 200
    package = response.json()
    assert package["format"] == "retarget.contact-export/1"
    profile = package["contact"]
    assert (profile["phone"], profile["name"], profile["language"], profile["tags"]) == (PHONE, NEW_NAME, "de", ["vip"])
    assert profile["attributes"] == {"first_name": "Zebedee", "shoe_size": 44}
    assert (profile["marketing_consent"], profile["number_suppressed"]) == ("opted_in", False)
    assert "phone_hash" not in profile

    (state,) = package["consent_states"]
    assert (state["purpose__code"], state["status"]) == ("marketing", "opted_in")
    (opt_in,) = package["consent_events"]
    assert (opt_in["action"], opt_in["source"], opt_in["ip_address"], opt_in["user_agent"]) == ("opt_in", "web_form", person.ip, PERSON_AGENT)
    assert opt_in["notice_text"].startswith("Yes, Acme Shoes may send me") and opt_in["page_url"].endswith("/optin/acme/")

    campaign_message = next(m for m in package["messages"] if m["kind"] == "campaign")
    assert (campaign_message["campaign__name"], campaign_message["status"]) == ("Spring sale", "read")
    assert campaign_message["decision"]["parameters"] == [NAME, "20%"]
    assert [c["message_id"] for c in package["clicks"]] == [campaign_message["id"]]
    sign_up_code, hello = package["inbound_messages"]
    assert re.fullmatch(r"JOIN ACME \d{6}", sign_up_code["text"]) and hello["text"] == f"Hi, {NAME} here, call me back on {PHONE}"
    assert [(e["name"], e["properties"]["sku"]) for e in package["events"]] == [("product_viewed", "RUN-1")]
    confirmed, pending = package["optin_confirmations"]  # the page's sign-up (confirmed by its code), a later one
    assert (confirmed["ip_address"], confirmed["form__slug"], confirmed["consent_event_id"]) == (person.ip, "acme", opt_in["id"])
    assert (pending["ip_address"], pending["confirmed_at"]) == (person.ip, None)
    assert not {"number_hash", "join_code_hash"} & set(confirmed)
    actions = [entry["action"] for entry in package["audit_entries"]]
    assert {"consent.opt_in", "contact.rectify", "contact.export"} <= set(actions)
    assert all("ip_address" not in entry for entry in package["audit_entries"])  # staff addresses are theirs, not the person's


def test_each_export_is_audit_logged_with_who_and_from_where(api_client, support, person):
    before = AuditEntry.objects.filter(action="contact.export").count()

    api_client(support).get(f"/api/v1/contacts/{person.contact.pk}/export", REMOTE_ADDR="203.0.113.9")

    entry = AuditEntry.objects.filter(action="contact.export").first()
    assert AuditEntry.objects.filter(action="contact.export").count() == before + 1
    assert (entry.actor, entry.actor_label, entry.ip_address) == (support, "api token of sue", "203.0.113.9")
    assert (entry.object_type, entry.object_id) == ("contact", str(person.contact.pk))
    assert entry.details["sections"]["events"] == 1


def test_support_downloads_the_package_from_the_contact_page(admin_client_for, support, person):
    client = admin_client_for(support)
    page = client.get(f"/admin/consent/contact/{person.contact.pk}/change/")
    url = f"/admin/consent/contact/{person.contact.pk}/export/"
    assert url in page.content.decode()

    response = client.get(url)

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="contact-{person.contact.pk}-export.json"'
    assert json.loads(response.content)["contact"]["phone"] == PHONE
    assert AuditEntry.objects.filter(action="contact.export", actor=support, object_id=str(person.contact.pk)).count() == 2


@pytest.mark.parametrize("role", ["marketer", "approver"])
def test_other_roles_get_no_export_button_and_no_export(request, admin_client_for, api_client, person, role):
    user = request.getfixturevalue(role)
    client = admin_client_for(user)
    url = f"/admin/consent/contact/{person.contact.pk}/export/"

    assert url not in client.get(f"/admin/consent/contact/{person.contact.pk}/change/").content.decode()
    assert client.get(url).status_code == 403
    assert api_client(user).get(f"/api/v1/contacts/{person.contact.pk}/export").status_code == 403


def test_an_erased_contact_exports_what_is_left(api_client, support, person):
    client = api_client(support)
    client.post(f"/api/v1/contacts/{person.contact.pk}/erase", {}, format="json")

    package = client.get(f"/api/v1/contacts/{person.contact.pk}/export").json()

    assert (package["contact"]["phone"], package["contact"]["name"], package["events"]) == (None, "", [])
    assert package["contact"]["erased_at"]
