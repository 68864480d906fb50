"""Support finds a person by name as well as by number."""

from __future__ import annotations

import pytest

from consent.services import contact_upsert
from tests.factories import client_for

pytestmark = pytest.mark.django_db

FIND = "/admin/support/find/"


def test_one_person_of_that_name_opens_their_timeline(support):
    ana, _ = contact_upsert(phone="+4915123456701", name="Ana Schmidt")
    contact_upsert(phone="+4915123456702", name="Ben Meyer")

    response = client_for(support).post(FIND, {"phone": "schmidt ana"})

    assert response.status_code == 302 and response["Location"] == f"/admin/support/people/{ana.pk}/"


def test_several_people_of_that_name_are_listed_to_choose_from(support):
    first, _ = contact_upsert(phone="+4915123456701", name="Ana Schmidt")
    second, _ = contact_upsert(phone="+4915123456703", name="Anabel Roth")

    response = client_for(support).post(FIND, {"phone": "ana"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "2 people named “ana”" in html
    assert f'href="/admin/support/people/{first.pk}/"' in html and f'href="/admin/support/people/{second.pk}/"' in html


def test_no_one_of_that_name_is_said_plainly(support):
    contact_upsert(phone="+4915123456701", name="Ana Schmidt")
    html = client_for(support).post(FIND, {"phone": "Zoe"}).content.decode()
    assert "No one named “Zoe” is in Retarget." in html
