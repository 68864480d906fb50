"""The journey issue 15 promises a new marketer, in a real browser, each step as the role that takes it:
the marketer builds "viewed SKU-7, did not buy" with the visual segment builder, builds the campaign from
the template browser, watches the preview, sends a test to the sandbox phone and submits, all without
typing JSON; the approver finds it "waiting for you", approves it and sees it on the schedule.
Screenshots of each step: var/screenshots/<test name>-<nn>-<step>.png."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Campaign, Segment, StaffTestNumber
from tests.browser.test_sandbox_phone import phone_sandbox, send_a_test_and_open_the_sandbox_phone  # noqa: F401 (fixture: the sandbox posting webhooks to the live server)
from tests.browser.test_segment_builder import VIEWED_SKU7_DID_NOT_BUY, build_viewed_sku7_did_not_buy, shoppers  # noqa: F401
from tests.factories import contacts_create

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _step_numbers(page) -> list[str]:
    return page.locator(".rt-steps > .rt-step:not([hidden]) .rt-step-no").all_inner_texts()


def test_a_new_marketer_builds_previews_test_sends_and_submits_and_an_approver_approves(
    phone_sandbox, live_server, page, login, journey, marketer, approver, templates, shoppers, no_quiet_hours  # noqa: F811
):
    approver.email = "abe@example.com"
    approver.save(update_fields=["email"])

    # The segment, from the admin's home, with the pickers.
    login(marketer)
    page.get_by_role("link", name="Segments").click()
    page.get_by_role("link", name="Add segment").click()
    build_viewed_sku7_did_not_buy(page)
    journey("segment built with the pickers")
    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    assert Segment.objects.get().rules == VIEWED_SKU7_DID_NOT_BUY

    (mara,) = contacts_create(1, start=900, name="Mara Marketer")  # the marketer's own phone, opted in
    StaffTestNumber.objects.create(user=marketer, contact=mara)

    # The campaign, from the template browser: each card shows the message as written.
    page.get_by_role("link", name="Home").first.click()
    page.get_by_role("link", name="Build a campaign").click()
    page.fill("#id_name", "Spring sale for SKU-7 viewers")
    page.fill("#template-find", "shipped")
    expect(page.locator("label.rt-template-card:visible")).to_have_count(1)
    page.locator("label.rt-template-card", has_text="order_shipped (en_US)").click()
    expect(page.locator("label.rt-template-card", has_text="order_shipped (en_US)")).to_contain_text("Utility")
    assert _step_numbers(page) == ["1", "2", "3", "4", "5"]  # no link button: no link step, no gap in the numbers
    page.fill("#template-find", "spring")
    spring = page.locator("label.rt-template-card", has_text="spring_sale (en_US)")
    expect(spring).to_contain_text("Hi {{1}}, our spring sale is on: {{2}} off everything until Sunday.")
    journey("template browser searched")
    spring.click()
    expect(page.get_by_role("radio", name="spring_sale (en_US)")).to_be_checked()
    assert _step_numbers(page) == ["1", "2", "3", "4", "5", "6"]  # the link step appears, each number once

    # Before any value is chosen the preview shows the template as written, and says in words what is left.
    body = page.locator("#message-preview [data-part=body]")
    expect(body).to_have_text("Hi {{1}}, our spring sale is on: {{2}} off everything until Sunday.")
    expect(page.locator("#preview-note")).to_have_text("Still to fill: {{1}}: no value chosen yet; {{2}}: no value chosen yet.")

    page.select_option("#id_segment", label="Viewed SKU-7, did not buy")
    expect(page.locator("#segment-count")).to_have_text("1 contact matches now.")
    expect(page.locator("#audience-warning")).to_be_hidden()
    page.fill("[name=param_0_key]", "name")
    page.fill("[name=param_0_fallback]", "there")
    page.select_option("[name=param_1_source]", "value")
    page.fill("[name=param_1_key]", "20%")
    page.fill("#id_tracked_url", "https://shop.example.com/spring")
    tomorrow = (timezone.localtime() + timedelta(days=1)).replace(hour=6, minute=0)
    page.fill("#id_send_at", f"{tomorrow:%Y-%m-%dT%H:%M}")
    page.fill("#id_local_time", "10:00")
    expect(body).to_have_text("Hi Ana, our spring sale is on: 20% off everything until Sunday.")  # the audience's own person
    expect(page.locator("#preview-note")).to_have_text("")
    journey("campaign built with the preview")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".messagelist")).to_contain_text("Draft saved.")
    campaign = Campaign.objects.get()
    assert campaign.parameters == [{"field": "name", "fallback": "there"}, {"value": "20%"}]

    # A test to the marketer's own phone, seen on the sandbox's phone page.
    phone = send_a_test_and_open_the_sandbox_phone(page)
    expect(phone.get_by_role("article", name="From the business")).to_contain_text(
        "Hi Mara Marketer, our spring sale is on: 20% off everything until Sunday."
    )
    journey("test send on the sandbox phone", on=phone)
    phone.close()

    page.get_by_role("button", name="Submit for approval").click()
    page.wait_for_url(re.compile(rf"/admin/campaigns/campaign/{campaign.pk}/review/$"))
    expect(page.locator(".messagelist")).to_contain_text("Submitted for approval")
    journey("submitted for approval")
    assert [m.subject for m in mail.outbox] == ["Waiting for your approval: Spring sale for SKU-7 viewers"]
    assert mail.outbox[0].to == ["abe@example.com"]

    # The approver: "waiting for you" on the admin's home, the review, the approval.
    page.context.clear_cookies()
    login(approver)
    waiting = page.locator("#waiting-for-you")
    expect(waiting).to_contain_text("Spring sale for SKU-7 viewers")
    journey("approver sees waiting for you")
    waiting.get_by_role("link", name="Spring sale for SKU-7 viewers").click()
    expect(page.locator("#dry-run-eligible")).to_have_text("1")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(re.compile(rf"/admin/campaigns/campaign/{campaign.pk}/live/$"))
    expect(page.locator("#campaign-status")).to_have_text("Scheduled")
    assert Campaign.objects.get().approved_by == approver

    # On the schedule, on its day, with its local-time window.
    page.goto(f"{live_server.url}/admin/campaigns/campaign/")
    page.get_by_role("link", name="Schedule of campaigns").click()
    row = page.locator(f"tr[data-campaign='{campaign.pk}']")
    expect(row).to_contain_text("Scheduled")
    expect(row.locator(".rt-window")).to_contain_text("At 10:00 local time")
    journey("approved campaign on the schedule")


def test_the_builder_warns_before_submitting_to_no_one(live_server, page, login, journey, marketer, spring_sale):
    Segment.objects.create(name="French customers", rules={"country": ["FR"]})
    contacts_create(2)
    login(marketer)
    page.get_by_role("link", name="Build a campaign").click()
    page.fill("#id_name", "To nobody")
    page.locator("label.rt-template-card", has_text="spring_sale (en_US)").click()
    page.select_option("#id_segment", label="French customers")
    warning = page.locator("#audience-warning")
    expect(warning).to_have_text("No one is in this segment now: a campaign to it would send nothing.")
    page.fill("[name=param_0_key]", "name")
    page.select_option("[name=param_1_source]", "value")
    page.fill("[name=param_1_key]", "20%")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator("#submit-warnings")).to_contain_text("No one is in this segment now: the campaign would send nothing.")
    journey("warned before submitting")
    assert Campaign.objects.get().status == Campaign.Status.DRAFT
    page.get_by_role("button", name="Submit anyway").click()
    expect(page.locator(".messagelist")).to_contain_text("Submitted for approval")
    assert Campaign.objects.get().status == Campaign.Status.PENDING_APPROVAL


def test_a_sending_campaign_is_paused_to_edit_it(live_server, page, login, journey, marketer, spring_sale):
    from tests.factories import campaign_with_messages

    campaign, _ = campaign_with_messages(spring_sale, outcomes={"queued": 2, "read": 1}, author=marketer)
    login(marketer)
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/build/")
    expect(page.locator("#build-locked")).to_contain_text("This campaign is sending")
    expect(page.locator("#id_name")).to_be_disabled()
    expect(page.get_by_role("button", name="Save draft")).to_have_count(0)
    journey("read-only while sending")
    page.get_by_role("button", name="Pause to edit").click()
    expect(page.locator("#campaign-status")).to_have_text("Paused")
    expect(page.locator("#id_name")).to_be_enabled()
    page.fill("#id_name", "Spring, corrected")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".messagelist")).to_contain_text("Draft saved.")
    campaign.refresh_from_db()
    assert (campaign.name, campaign.status) == ("Spring, corrected", Campaign.Status.DRAFT)  # to be approved again
