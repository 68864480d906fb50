"""In a real browser: a marketer opens a finished campaign's results, creates a follow-up to the people
who did not read it, finishes it in the builder and submits it; the parent's results page lists the
follow-up and the follow-up's pages link back to its parent."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Campaign
from tests.factories import campaign_with_messages

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.mark.usefixtures("no_quiet_hours")
def test_a_follow_up_is_created_from_the_results_page_and_linked_both_ways(live_server, page, login, marketer, spring_sale):
    parent, _ = campaign_with_messages(
        spring_sale, outcomes={"read": 2, "delivered": 3, "skipped:no_consent": 1}, author=marketer,
        status=Campaign.Status.COMPLETED, launched_at=timezone.now() - timedelta(days=5),
    )  # fmt: skip
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))

    login(marketer)
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{parent.pk}/live/")
    follow_ups = page.locator("#follow-ups")
    expect(follow_ups).to_contain_text("None yet.")
    follow_ups.get_by_label("Whom to follow up").select_option(label="did not read it")
    follow_ups.get_by_label("Days").fill("3")
    follow_ups.get_by_label("Follow-up name").fill("Spring reminder")
    follow_ups.get_by_role("button", name="Create follow-up").click()

    # The builder opens on the new draft: its audience is the parent's non-readers, no segment to choose.
    page.wait_for_url(re.compile(r"/admin/campaigns/campaign/\d+/build/$"))
    follow_up = Campaign.objects.get(follow_up_of=parent)
    expect(page.locator(".messagelist")).to_contain_text("a draft follow-up")
    expect(page.locator("#follow-up-audience")).to_contain_text("did not read it within 3 days")
    expect(page.locator("#segment-count")).to_have_text("3 people would be followed up now.")
    expect(page.locator("#id_segment")).to_have_count(0)
    expect(page.locator("#follow-up-of")).to_contain_text("Follow-up of Spring")
    page.fill("[name=param_1_key]", "30%")
    expect(page.locator("#message-preview [data-part=body]")).to_contain_text("30% off")  # the page's script runs
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator(".messagelist")).to_contain_text("Submitted for approval")
    follow_up.refresh_from_db()
    assert follow_up.status == Campaign.Status.PENDING_APPROVAL

    # The parent's results list it; it links back to its parent.
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{parent.pk}/live/")
    link = page.locator("#follow-ups").get_by_role("link", name="Spring reminder")
    expect(link).to_be_visible()
    expect(page.locator("#follow-ups")).to_contain_text("Pending approval")
    link.click()
    page.wait_for_url(re.compile(rf"/admin/campaigns/campaign/{follow_up.pk}/live/$"))
    page.locator("#follow-up-of").get_by_role("link", name="Spring").click()
    page.wait_for_url(re.compile(rf"/admin/campaigns/campaign/{parent.pk}/live/$"))
    assert script_errors == []
