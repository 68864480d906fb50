"""In a real browser against the real stack: a marketer builds and submits a campaign, an approver
approves it, and the live page's progress bar moves to done while Celery workers send it to the
WhatsApp sandbox (worker and beat processes as in tests/campaigns/test_workers.py)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from campaigns.models import Campaign, Message, Segment
from tests.campaigns.test_workers import live, processes  # noqa: F401 (fixtures: workers, beat, webhooks)
from tests.factories import contacts_create

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]

AUDIENCE = 100


@pytest.mark.usefixtures("live")
def test_a_campaign_is_built_submitted_approved_and_watched_until_done(sandbox, live_server, page, login, marketer, approver):
    sandbox.configure(latency=1.0)  # slow answers: the campaign is still sending when its page opens
    contacts_create(AUDIENCE)
    contacts_create(3, start=100, opted_in=False)
    Segment.objects.create(name="Everyone", rules={"all": []})

    # The marketer builds the campaign, step by step, from the admin's home.
    login(marketer)
    page.get_by_role("link", name="Build a campaign").click()
    page.fill("#id_name", "Spring sale")
    page.locator("label.rt-template-card", has_text="spring_sale (en_US)").click()
    page.select_option("#id_segment", label="Everyone")
    expect(page.locator("#segment-count")).to_have_text(f"{AUDIENCE + 3} contacts match now.")
    page.select_option("[name=param_0_source]", "field")
    page.fill("[name=param_0_key]", "name")
    page.fill("[name=param_0_fallback]", "there")
    page.select_option("[name=param_1_source]", "value")
    page.fill("[name=param_1_key]", "20%")
    page.fill("#id_tracked_url", "https://shop.example.com/spring")
    # The preview follows the typing: the first person's own name, the tracked destination.
    expect(page.locator("#message-preview [data-part=body]")).to_have_text("Hi Person 0, our spring sale is on: 20% off everything until Sunday.")
    expect(page.locator("#message-preview [data-part=buttons]")).to_contain_text("https://shop.example.com/spring (tracked)")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator(".messagelist")).to_contain_text("Submitted for approval")
    campaign = Campaign.objects.get(name="Spring sale")
    assert campaign.status == Campaign.Status.PENDING_APPROVAL

    # A second person approves it after reading the dry run.
    page.context.clear_cookies()
    login(approver)
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/review/")
    expect(page.locator("#dry-run-eligible")).to_have_text(str(AUDIENCE))
    polls = []
    page.on("response", lambda response: polls.append(response.json()["status"]) if "/progress/" in response.url else None)
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(re.compile(rf"/admin/campaigns/campaign/{campaign.pk}/live/$"))

    # The page polls the server: the bar fills and the status turns to completed without a reload.
    expect(page.locator("#campaign-status")).to_have_text("Completed", timeout=90_000)
    expect(page.locator("#progress-percent")).to_have_text("100")
    expect(page.locator("#progress-done")).to_have_text(str(AUDIENCE + 3))
    expect(page.locator("#progress-sent")).to_have_text(str(AUDIENCE))
    expect(page.locator("#progress-skipped")).to_have_text("3")
    bar = page.locator("#progress-bar")
    assert bar.get_attribute("max") is not None
    assert page.evaluate("() => document.getElementById('progress-bar').value") == AUDIENCE + 3
    assert Message.objects.filter(campaign=campaign, status__in=["accepted", "sent", "delivered", "read"]).count() == AUDIENCE
    assert "sending" in polls and polls[-1] == "completed"  # it was watched while it sent
