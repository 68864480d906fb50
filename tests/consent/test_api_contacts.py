import pytest
from django.test import override_settings

from consent.models import Contact
from consent.services import consent_grant, consent_revoke, contact_upsert
from tests.factories import NOTICE

pytestmark = pytest.mark.django_db

CONTACTS = "/api/v1/contacts"


def test_posting_a_new_number_creates_the_contact(api_client, marketer):
    response = api_client(marketer).post(
        CONTACTS,
        {"phone": "+49 151 2345 6789", "name": "Ana", "language": "de", "attributes": {"city": "Berlin"}, "tags": ["VIP"]},
        format="json",
    )

    assert response.status_code == 201, response.data
    body = response.json()
    assert body["phone"] == "+4915123456789"
    assert body["wa_id"] == "4915123456789"
    assert body["time_zone"] == "Europe/Berlin" and body["country"] == "DE"
    assert body["tags"] == ["vip"]
    assert body["marketing_consent"] == "none"
    assert Contact.objects.get().name == "Ana"


def test_posting_a_known_number_in_another_format_updates_the_same_contact(api_client, marketer):
    client = api_client(marketer)
    client.post(CONTACTS, {"phone": "+4915123456789", "attributes": {"city": "Berlin"}, "tags": ["vip"]}, format="json")

    response = client.post(
        CONTACTS, {"phone": "0049 151 23456789", "name": "Ana", "attributes": {"shoe_size": 38}, "tags": ["runner"]}, format="json"
    )

    assert response.status_code == 200, response.data
    body = response.json()
    assert body["name"] == "Ana"
    assert body["attributes"] == {"city": "Berlin", "shoe_size": 38}
    assert sorted(body["tags"]) == ["runner", "vip"]
    assert Contact.objects.count() == 1


def test_an_invalid_number_is_refused_with_the_reason(api_client, marketer):
    response = api_client(marketer).post(CONTACTS, {"phone": "+1 555 12", "time_zone": "Mars/Base"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "phone": ["'+1 555 12' is not a valid phone number: it is too short."],
        "time_zone": ["'Mars/Base' is not a time zone name; use one like Europe/Berlin."],
    }
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("0151 23456789", "has no country code: write it as +<country code><number>"),
        ("+999 1234567", "starts with an unknown country code"),
        ("+1 555 123 4567", "is not a valid phone number for its country"),
        ("+4915123456789012345", "it is too long"),
    ],
)
def test_an_unusable_number_is_refused_with_advice(api_client, marketer, typed, reason):
    response = api_client(marketer).post(CONTACTS, {"phone": typed}, format="json")

    assert response.status_code == 400
    assert reason in response.json()["phone"][0]


@override_settings(PHONE_DEFAULT_REGION="DE")
@pytest.mark.parametrize("typed", ["0151 23456789", "+49 151 2345 6789", "+4915123456789", "(0151) 234-56789"])
def test_a_contact_is_found_by_its_number_in_any_format(api_client, support, typed):
    contact, _ = contact_upsert(phone="+4915123456789", name="Ana")
    contact_upsert(phone="+447911123456", name="Ben")

    response = api_client(support).get(CONTACTS, {"phone": typed})

    assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == [contact.pk]


def test_looking_up_an_unreadable_number_says_why(api_client, support):
    response = api_client(support).get(CONTACTS, {"phone": "12ab"})

    assert response.status_code == 400
    assert response.json()["phone"][0].startswith("'12ab' is not")


def test_the_list_is_paginated_and_shows_each_contacts_marketing_consent(api_client, approver):
    opted_in, _ = contact_upsert(phone="+4915123456701")
    opted_out, _ = contact_upsert(phone="+4915123456702")
    contact_upsert(phone="+4915123456703")
    consent_grant(contact=opted_in, source="web_form", evidence=NOTICE)
    consent_grant(contact=opted_out, source="web_form", evidence=NOTICE)
    consent_revoke(contact=opted_out, source="inbound_keyword")

    client = api_client(approver)
    first = client.get(CONTACTS, {"limit": 2}).json()
    second = client.get(first["next"]).json()

    assert first["count"] == 3
    states = {c["phone"]: c["marketing_consent"] for c in first["results"] + second["results"]}
    assert states == {"+4915123456701": "opted_in", "+4915123456702": "opted_out", "+4915123456703": "none"}


def test_a_contact_is_read_by_id(api_client, support):
    contact, _ = contact_upsert(phone="+4915123456789", name="Ana")
    consent_grant(contact=contact, source="web_form", evidence=NOTICE)
    client = api_client(support)

    response = client.get(f"{CONTACTS}/{contact.pk}")

    assert response.status_code == 200
    assert response.json()["name"] == "Ana" and response.json()["marketing_consent"] == "opted_in"
    assert client.get(f"{CONTACTS}/{contact.pk + 1}").status_code == 404
