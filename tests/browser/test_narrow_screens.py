"""At 390 px (a phone) every admin list and page fits: wide tables scroll inside their box, never the page.
A screenshot of each page: var/screenshots/<test name>-<nn>-<page>.png."""

from __future__ import annotations

from datetime import time

import pytest

from campaigns.models import FrequencyCapPolicy
from conversations.models import CannedReply
from tests.factories import campaign_with_messages, inbound

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PHONE_WIDTH = 390


def _page_scrolls_sideways(page) -> int:
    """How many pixels the page is wider than the screen (0 when it fits)."""
    return page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_every_page_fits_a_390_pixel_screen(live_server, page, login, journey, superuser, spring_sale):
    FrequencyCapPolicy.objects.update_or_create(pk=1, defaults={"quiet_hours_start": time(0), "quiet_hours_end": time(23, 59)})
    campaign, messages = campaign_with_messages(spring_sale, outcomes={"read": 3, "queued": 2, "skipped:no_consent": 1, "failed:131026": 1})
    person = messages[0].contact
    inbound(person, "A rather long question about shipping to Austria and whether the discount code applies " * 3, minutes_ago=1)
    login(superuser)
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
    urls = [
        "/admin/",
        "/admin/consent/contact/",
        f"/admin/consent/contact/{person.pk}/change/",
        "/admin/consent/contact/import/",
        "/admin/consent/consentevent/",
        "/admin/campaigns/campaign/",
        "/admin/campaigns/campaign/build/",
        f"/admin/campaigns/campaign/{campaign.pk}/build/",
        "/admin/campaigns/campaign/schedule/",
        "/admin/campaigns/segment/add/",
        f"/admin/campaigns/campaign/{campaign.pk}/live/",
        f"/admin/campaigns/campaign/{campaign.pk}/review/",
        "/admin/campaigns/message/",
        "/admin/support/find/",
        "/admin/support/inbox/",
        f"/admin/support/people/{person.pk}/",
        "/admin/core/auditentry/",
    ]
    too_wide = {}
    for url in urls:
        page.goto(f"{live_server.url}{url}")
        assert "Server Error" not in page.title(), url
        extra = _page_scrolls_sideways(page)
        journey(url.strip("/").replace("/", "-") or "home")
        if extra > 0:
            too_wide[url] = extra
    assert too_wide == {}
    # The wide table is still all there: it scrolls inside its own box.
    page.goto(f"{live_server.url}/admin/support/people/{person.pk}/")
    table = page.locator("#timeline table.rt-timeline")
    assert table.evaluate("t => t.scrollWidth >= t.clientWidth && getComputedStyle(t).overflowX") == "auto"


def test_a_canned_reply_is_inserted_into_the_answer_and_can_be_edited(live_server, page, login, support, spring_sale):
    CannedReply.objects.create(title="Shipping", body="We ship to all EU countries within 3 days.")
    _, (message,) = campaign_with_messages(spring_sale, outcomes={"read": 1})
    inbound(message.contact, "Where do you ship?", minutes_ago=1)
    login(support)
    page.goto(f"{live_server.url}/admin/support/people/{message.contact.pk}/")
    page.fill("#reply-timeline", "Hello! ")
    page.select_option("select.rt-canned", label="Shipping")
    assert page.input_value("#reply-timeline") == "Hello! We ship to all EU countries within 3 days."
    page.get_by_role("button", name="Send answer").click()
    page.wait_for_url(f"{live_server.url}/admin/support/people/{message.contact.pk}/")
    assert "Hello! We ship to all EU countries within 3 days." in page.locator("#timeline").inner_text()
