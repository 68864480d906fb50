"""The segment builder's JSON endpoints in the admin: the pickers' words from the data, and the live
count with masked sample numbers and errors that name the condition."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from campaigns.models import Campaign, Event
from tests.factories import contacts_create

pytestmark = pytest.mark.django_db

VOCABULARY = "/admin/campaigns/segment/builder/vocabulary/"
PREVIEW = "/admin/campaigns/segment/builder/preview/"


def test_the_pickers_offer_what_the_data_holds(admin_client_for, marketer):
    ana, ben = contacts_create(2, country="DE", language="de")
    ana.attributes = {"city": "Berlin", "orders": 3, "address": {"zip": "10115"}, "bad__key": "x"}
    ana.save(update_fields=["attributes"])
    ana.tags.create(name="vip")
    when = timezone.now() - timedelta(days=1)
    Event.objects.bulk_create([
        Event(contact=ana, name="product_viewed", properties={"sku": "SKU-7", "price": 49}, occurred_at=when),
        Event(contact=ben, name="product_viewed", properties={"sku": "SKU-7", "price": 20}, occurred_at=when),
        Event(contact=ben, name="product_viewed", properties={"sku": "SKU-9"}, occurred_at=when),
        Event(contact=ben, name="purchase", properties={}, occurred_at=when),
    ])  # fmt: skip
    campaign = Campaign.objects.create(name="Spring")

    data = admin_client_for(marketer).get(VOCABULARY).json()

    assert data["events"] == [
        {"name": "product_viewed", "properties": {"price": [49, 20], "sku": ["SKU-7", "SKU-9"]}},  # most common first
        {"name": "purchase", "properties": {}},
    ]
    # Numbers stay numbers (the builder sends 3, not "3"); names the rules cannot use are left out.
    assert data["attributes"] == {"address.zip": ["10115"], "city": ["Berlin"], "orders": [3]}
    assert (data["tags"], data["countries"], data["languages"]) == (["vip"], ["DE"], ["de"])
    assert data["campaigns"] == [{"id": campaign.pk, "name": "Spring"}]
    assert data["limits"]["max_conditions"] == 50


def test_the_live_count_masks_the_sample_numbers(admin_client_for, marketer):
    people = contacts_create(7, country="DE")

    response = admin_client_for(marketer).post(PREVIEW, {"rules": {"country": "DE"}}, content_type="application/json")

    body = response.json()
    assert body["count"] == 7 and len(body["sample"]) == 5
    first = people[0].phone
    assert body["sample"][0] == {"name": "Person 0", "phone": "+" + "*" * (len(first) - 3) + first[-2:]}
    assert not any(person.phone in response.content.decode() for person in people)


def test_a_bad_condition_is_named_by_its_path_with_the_reason_in_words(admin_client_for, marketer):
    rules = {"all": [{"tag": "vip"}, {"not": {"event": "purchase", "within_days": "a week"}}]}

    response = admin_client_for(marketer).post(PREVIEW, {"rules": rules}, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "path": "rules.all[1].not.within_days", "message": "expected a whole number of days between 0 and 3660.", "limit": "",
    }  # fmt: skip


def test_a_body_that_is_not_json_gets_a_clear_answer(admin_client_for, marketer):
    response = admin_client_for(marketer).post(PREVIEW, "rules=1", content_type="text/plain")

    assert response.status_code == 400 and response.json()["message"] == 'Send {"rules": ...} as JSON.'


def test_staff_without_a_role_get_neither_the_words_nor_the_count(admin_client_for):
    client = admin_client_for(User.objects.create_user(username="stan", is_staff=True))

    assert client.get(VOCABULARY).status_code == 403
    assert client.post(PREVIEW, {"rules": {"all": []}}, content_type="application/json").status_code == 403
