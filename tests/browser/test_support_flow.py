"""In a real browser: support finds a person by a number typed their way, records the opt-out they
asked for, and the person's timeline shows it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from consent.models import ConsentStatus
from consent.selectors import contact_consent_status
from tests.factories import contacts_create

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_support_finds_a_person_and_records_their_opt_out(live_server, page, login, support):
    (person,) = contacts_create(1)
    digits = person.phone[1:]
    login(support)
    page.get_by_role("link", name="Find a person").click()
    page.fill("#find-phone", f"+{digits[:2]} {digits[2:5]} {digits[5:9]} {digits[9:]}")
    page.get_by_role("button", name="Find").click()
    page.wait_for_url(re.compile(rf"/admin/support/people/{person.pk}/$"))
    expect(page.locator("#consent-state")).to_have_text("Opted in")

    page.get_by_role("link", name="Record opt-out").click()
    page.fill("#id_reason", "Phoned on 3 March, ticket 4711")
    page.get_by_role("button", name="Record opt-out").click()

    page.wait_for_url(re.compile(rf"/admin/support/people/{person.pk}/$"))
    expect(page.locator(".messagelist")).to_contain_text("Opt-out: recorded")
    expect(page.locator("#consent-state")).to_have_text("Opted out")
    newest = page.locator("#timeline tr.rt-entry").first
    expect(newest).to_contain_text("Opt-out")
    expect(newest).to_contain_text("Support")
    expect(newest).to_contain_text("Note: Phoned on 3 March, ticket 4711")
    assert contact_consent_status(person) == ConsentStatus.OPTED_OUT
