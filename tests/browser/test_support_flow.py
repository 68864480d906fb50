"""In a real browser: support finds a person by the national number they gave on the phone, reads their
timeline (consent with its evidence, the campaign message, their question), records the opt-out they
asked for, and the timeline shows it. Screenshots of each step: var/screenshots/<test name>-<nn>-<step>.png."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from consent.models import ConsentStatus
from consent.selectors import contact_consent_status
from tests.factories import campaign_with_messages, inbound

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_support_finds_a_person_by_national_number_and_records_their_opt_out(
    live_server, page, login, journey, support, spring_sale, settings
):
    settings.PHONE_DEFAULT_REGION = "DE"  # the business's country: numbers typed without +49 are German
    _, (message,) = campaign_with_messages(spring_sale, outcomes={"read": 1})
    person = message.contact
    inbound(person, "Please stop sending me offers.", minutes_ago=3)
    national = "0" + person.phone[3:]  # +49151... as a German says it: 0151...
    login(support)
    page.get_by_role("link", name="Find a person").click()
    page.fill("#find-phone", f"{national[:4]} {national[4:8]} {national[8:]}")
    journey("number typed the national way")
    page.get_by_role("button", name="Find").click()
    page.wait_for_url(re.compile(rf"/admin/support/people/{person.pk}/$"))
    expect(page.locator("#consent-state")).to_have_text("Opted in")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Please stop sending me offers.")
    expect(timeline).to_contain_text("Spring")  # the campaign message they got
    journey("timeline")

    page.get_by_role("link", name="Record opt-out").click()
    page.fill("#id_reason", "Asked on WhatsApp on 3 March, ticket 4711")
    page.get_by_role("button", name="Record opt-out").click()

    page.wait_for_url(re.compile(rf"/admin/support/people/{person.pk}/$"))
    expect(page.locator(".messagelist")).to_contain_text("Opt-out: recorded")
    expect(page.locator("#consent-state")).to_have_text("Opted out")
    newest = page.locator("#timeline tr.rt-entry").first
    expect(newest).to_contain_text("Opt-out")
    expect(newest).to_contain_text("Support")
    expect(newest).to_contain_text("Note: Asked on WhatsApp on 3 March, ticket 4711")
    journey("opt-out on the timeline")
    assert contact_consent_status(person) == ConsentStatus.OPTED_OUT
