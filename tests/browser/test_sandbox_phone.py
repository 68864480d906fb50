"""In a real browser: a marketer's test send shows up on the WhatsApp sandbox's phone page, linked from
the admin's result message, and pressing STOP there opts the marketer's number out in our app, through
the signed webhook the sandbox posts back (as Meta would). Screenshots go to var/screenshots/."""

from __future__ import annotations

import time

import pytest
from django.db import connections
from playwright.sync_api import expect

from campaigns.models import StaffTestNumber
from campaigns.services import campaign_create
from consent.models import ConsentStatus
from consent.selectors import contact_consent_status
from core.audit import Actor
from tests.browser.conftest import SCREENSHOTS
from tests.factories import contacts_create

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def wait_until(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.1)


def send_a_test_and_open_the_sandbox_phone(page):
    """On a campaign's Build tab: send a test to my number and open the sandbox phone it links to."""
    page.get_by_role("button", name="Send a test to my number").click()
    expect(page.locator(".messagelist")).to_contain_text("Test sent to your number")
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="see it on the sandbox phone").click()
    phone = opened.value
    phone.wait_for_load_state()
    return phone


@pytest.fixture
def phone_sandbox(sandbox, live_server, monkeypatch):
    """The sandbox posting its webhooks to the live server, whose request threads keep no connection open."""
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    sandbox.configure(webhook_url=f"{live_server.url}/webhooks/whatsapp")
    return sandbox


def test_a_test_send_appears_on_the_sandbox_phone_and_its_stop_opts_out(
    phone_sandbox, live_server, page, login, marketer, spring_sale, everyone
):
    sandbox = phone_sandbox
    (mara,) = contacts_create(1, start=900, name="Mara Marketer")
    StaffTestNumber.objects.create(user=marketer, contact=mara)
    campaign = campaign_create(
        actor=Actor(user=marketer), name="Spring", template=spring_sale, segment=everyone,
        parameters=[{"field": "name", "fallback": "there"}, {"value": "20%"}], tracked_url="https://shop.example.com/spring",
    )  # fmt: skip

    login(marketer)
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/build/")
    phone = send_a_test_and_open_the_sandbox_phone(page)
    assert phone.url == f"{sandbox.url}/_sandbox/phones/{mara.phone[1:]}"
    message = phone.get_by_role("article", name="From the business")
    expect(message).to_contain_text("Spring sale")
    expect(message).to_contain_text("Hi Mara Marketer, our spring sale is on: 20% off everything until Sunday.")
    expect(message).to_contain_text("Reply STOP to unsubscribe")
    expect(message.get_by_role("link", name="Shop now")).to_have_attribute("href", f"https://shop.example.com/r/{_token(sandbox)}")
    expect(message.get_by_role("button", name="Stop promotions")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(SCREENSHOTS / "sandbox_phone_test_send.png"), full_page=True)

    assert contact_consent_status(mara) == ConsentStatus.OPTED_IN
    phone.get_by_role("button", name="Send STOP").click()
    expect(phone.get_by_role("article", name="From this phone")).to_contain_text("STOP")
    wait_until(lambda: contact_consent_status(mara) == ConsentStatus.OPTED_OUT)
    phone.screenshot(path=str(SCREENSHOTS / "sandbox_phone_after_stop.png"), full_page=True)


def _token(sandbox) -> str:
    (send,) = [s for s in sandbox.sends() if s["type"] == "template"]
    return send["components"][1]["parameters"][0]["text"]
