"""In a real browser: a marketer builds a segment with the visual builder's pickers (no JSON typed),
watches the live count and sample follow, and saves the same rule JSON the API takes. Errors stand
next to their condition, the builder works from the keyboard alone and fits a 390 px wide phone.
Screenshots go to var/screenshots/ (git-ignored)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Event, Segment
from consent.models import Contact
from tests.browser.conftest import SCREENSHOTS
from tests.factories import contacts_create

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

VIEWED_SKU7_DID_NOT_BUY = {
    "all": [
        {"event": "product_viewed", "where": {"sku": "SKU-7"}, "within_days": 7},
        {"not": {"event": "purchase", "within_days": 7}},
    ]
}


@pytest.fixture
def shoppers():
    """Ana viewed SKU-7 and did not buy; Ben viewed it and bought; Cem viewed SKU-9; Dora did nothing."""
    ana, ben, cem, _dora = contacts_create(4)
    for contact, name in zip((ana, ben, cem, _dora), ("Ana", "Ben", "Cem", "Dora"), strict=True):
        contact.name = name
        contact.save(update_fields=["name"])
    two_days_ago = timezone.now() - timedelta(days=2)
    Event.objects.bulk_create([
        Event(contact=ana, name="product_viewed", properties={"sku": "SKU-7", "price": 49}, occurred_at=two_days_ago),
        Event(contact=ben, name="product_viewed", properties={"sku": "SKU-7", "price": 49}, occurred_at=two_days_ago),
        Event(contact=ben, name="purchase", properties={"sku": "SKU-7"}, occurred_at=two_days_ago),
        Event(contact=cem, name="product_viewed", properties={"sku": "SKU-9", "price": 20}, occurred_at=two_days_ago),
    ])  # fmt: skip
    return ana


def open_builder(page, live_server):
    page.goto(f"{live_server.url}/admin/campaigns/segment/add/")
    expect(page.locator("#segment-live-count")).to_have_text("4 contacts match now.")  # empty "all": everyone


def condition(page, number: int):
    return page.get_by_role("group", name=f"Condition {number}", exact=True)


def build_viewed_sku7_did_not_buy(page) -> None:
    """On the segment page: "viewed SKU-7 in the last 7 days, did not buy" with the pickers alone."""
    count = page.locator("#segment-live-count")
    page.fill("#id_name", "Viewed SKU-7, did not buy")

    page.get_by_role("button", name="Add a condition").click()
    first = condition(page, 1)
    first.get_by_label("Condition 1: event", exact=True).select_option("product_viewed")
    first.get_by_label("Condition 1: in the last how many days (empty: ever)").fill("7")
    expect(count).to_have_text("3 contacts match now.")
    first.get_by_role("button", name="Add a property filter").click()
    # The property keys come from the data: "sku" and "price" for product_viewed.
    first.get_by_label("Condition 1, property filter 1: property", exact=True).select_option("sku")
    first.get_by_label("Condition 1, property filter 1: value").fill("SKU-7")
    expect(count).to_have_text("2 contacts match now.")

    page.get_by_role("button", name="Add a condition").click()
    second = condition(page, 2)
    second.get_by_label("Condition 2: event", exact=True).select_option("purchase")
    second.get_by_label("Condition 2: include or exclude").select_option(label="did not do")
    second.get_by_label("Condition 2: in the last how many days (empty: ever)").fill("7")

    expect(count).to_have_text("1 contact matches now.")


def test_a_new_marketer_builds_viewed_sku7_did_not_buy_with_the_pickers(live_server, page, login, marketer, shoppers):
    login(marketer)
    open_builder(page, live_server)
    build_viewed_sku7_did_not_buy(page)
    samples = page.locator("#segment-live-sample li")
    expect(samples).to_have_count(1)
    masked = "+" + "*" * (len(shoppers.phone) - 3) + shoppers.phone[-2:]
    expect(samples.first).to_have_text(f"Ana · {masked}")
    assert shoppers.phone not in page.content()  # the full number never reaches the page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "segment_builder_viewed_sku7.png"), full_page=True)

    # The advanced switch shows the very JSON that is saved.
    page.get_by_role("button", name="Edit as JSON (advanced)").click()
    expect(page.locator("#id_rules")).to_be_visible()
    page.get_by_role("button", name="Back to the builder").click()

    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    assert Segment.objects.get(name="Viewed SKU-7, did not buy").rules == VIEWED_SKU7_DID_NOT_BUY

    # Opening it again shows the same conditions in the builder.
    page.goto(f"{live_server.url}/admin/campaigns/segment/{Segment.objects.get().pk}/change/")
    expect(condition(page, 2).get_by_label("Condition 2: include or exclude")).to_have_value("yes")
    expect(condition(page, 1).get_by_label("Condition 1, property filter 1: value")).to_have_value("SKU-7")
    expect(page.locator("#segment-live-count")).to_have_text("1 contact matches now.")


def test_an_invalid_condition_shows_its_error_next_to_it(live_server, page, login, marketer, shoppers):
    login(marketer)
    open_builder(page, live_server)
    count = page.locator("#segment-live-count")
    page.get_by_role("button", name="Add a condition").click()
    condition(page, 1).get_by_label("Condition 1: event", exact=True).select_option("product_viewed")
    page.get_by_role("button", name="Add a condition").click()
    second = condition(page, 2)
    second.get_by_label("Condition 2: event", exact=True).select_option("purchase")
    second.get_by_label("Condition 2: how many times").fill("0")

    error = second.locator(".sb-error")
    expect(error).to_have_text('Expected a whole number of at least 1 (for "none", wrap the rule in "not").')
    expect(condition(page, 1).locator(".sb-error")).to_be_hidden()
    expect(count).to_have_text("Fix the marked condition to see the count.")

    second.get_by_label("Condition 2: how many times").fill("1")
    expect(error).to_be_hidden()
    expect(count).to_have_text("1 contact matches now.")

    # A condition left without its event is marked in words, not as a path into JSON.
    page.get_by_role("button", name="Add a condition").click()
    expect(condition(page, 3).locator(".sb-error")).to_have_text("Expected an event name.")
    expect(condition(page, 1).locator(".sb-error")).to_be_hidden()


def _active_label(page) -> str:
    return page.evaluate("() => document.activeElement.getAttribute('aria-label') || document.activeElement.textContent")


def _tab_to(page, label: str, limit: int = 40) -> None:
    for _ in range(limit):
        if _active_label(page) == label:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{label!r} not reached by Tab; focus is on {_active_label(page)!r}")


def test_conditions_are_added_and_removed_with_the_keyboard_alone(live_server, page, login, marketer, shoppers):
    login(marketer)
    open_builder(page, live_server)
    page.focus("#id_name")  # the first field, where a keyboard user starts

    _tab_to(page, "Add a condition")
    page.keyboard.press("Enter")
    expect(condition(page, 1)).to_be_visible()
    assert _active_label(page) == "Condition 1: what"  # focus moves into the new condition
    page.keyboard.press("Shift+Tab")
    _tab_to(page, "Add a condition")
    page.keyboard.press("Enter")
    expect(condition(page, 2)).to_be_visible()

    _tab_to(page, "Remove condition 2")
    page.keyboard.press("Enter")
    expect(condition(page, 2)).to_have_count(0)
    assert _active_label(page) == "Condition 1: what"  # focus stays in the list, on the one left

    _tab_to(page, "Remove condition 1")
    page.keyboard.press("Space")
    expect(condition(page, 1)).to_have_count(0)
    expect(page.get_by_text("No conditions yet: everyone matches.")).to_be_visible()
    assert _active_label(page) == "Add a condition"


def test_the_builder_fits_a_390_px_wide_phone(live_server, page, login, marketer, shoppers):
    login(marketer)
    segment = Segment.objects.create(name="Viewed SKU-7, did not buy", rules=VIEWED_SKU7_DID_NOT_BUY)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/admin/campaigns/segment/{segment.pk}/change/")
    expect(page.locator("#segment-live-count")).to_have_text("1 contact matches now.")
    expect(condition(page, 1).get_by_label("Condition 1, property filter 1: value")).to_have_value("SKU-7")

    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px at 390 px"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "segment_builder_390px.png"), full_page=True)


def test_a_group_of_none_of_these_is_built_from_tags_and_countries(live_server, page, login, marketer, shoppers):
    Contact.objects.get(name="Ben").tags.create(name="vip")
    login(marketer)
    open_builder(page, live_server)

    page.get_by_role("button", name="Add a group").click()
    group = page.get_by_role("group", name="Group 1", exact=True)
    group.get_by_label("Group 1 matches").select_option(label="none of these")
    group.get_by_role("button", name="Add a condition").click()
    group.get_by_label("Condition 1.1: what").select_option(label="A tag")
    group.get_by_label("Condition 1.1: tag", exact=True).select_option("vip")  # the tags come from the data
    group.get_by_role("button", name="Add a condition").click()
    group.get_by_label("Condition 1.2: what").select_option(label="Country")
    group.get_by_label("Condition 1.2: countries (two-letter codes, commas between)").fill("FR, AT")

    expect(page.locator("#segment-live-count")).to_have_text("3 contacts match now.")  # all but Ben
    page.get_by_role("button", name="Edit as JSON (advanced)").click()
    saved = json.loads(page.locator("#id_rules").input_value())
    assert saved == {"all": [{"not": {"any": [{"tag": "vip"}, {"country": ["FR", "AT"]}]}}]}
