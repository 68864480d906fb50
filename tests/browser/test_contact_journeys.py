"""In a real browser, contacts as the roles that keep them: the marketer imports a shop's CSV export through
the column-mapping step and a dry run before anything is written, then tags a filtered list in bulk;
support records opt-outs for a filtered list with the reason. Screenshots of each step:
var/screenshots/<test name>-<nn>-<step>.png."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from consent.models import ConsentEvent, ConsentStatus, Contact
from consent.selectors import contacts_by_consent_status
from tests.consent.test_admin_bulk import people  # noqa: F401 (fixture: vips opted in, others, a vip never opted in)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SHOP_EXPORT = (
    b"Mobile;Full name;Segment;Internal id;Lang\n"
    b"0151 2345 6789;Ana;vip;A-1;de\n"
    b"12ab;Broken;;A-2;\n"
    b"+44 7911 123456;Ben;newsletter;A-3;en\n"
)


def test_a_marketer_imports_a_csv_through_the_mapping_and_a_dry_run(live_server, page, login, journey, marketer, settings):
    settings.PHONE_DEFAULT_REGION = "DE"
    login(marketer)
    page.get_by_role("link", name="Contacts", exact=True).first.click()
    page.get_by_role("link", name="Import CSV").click()
    expect(page.get_by_role("link", name="Download a sample file")).to_be_visible()
    page.set_input_files("#id_file", files=[{"name": "shop-export.csv", "mimeType": "text/csv", "buffer": SHOP_EXPORT}])
    page.get_by_role("button", name="Upload and map columns").click()

    # The file's own headers, each mapped to what it holds.
    for column, target in (("Mobile", "phone"), ("Full name", "name"), ("Segment", "tags"), ("Internal id", "ignore"), ("Lang", "language")):
        page.get_by_label(column, exact=True).select_option(target)
    journey("columns mapped")
    page.get_by_role("button", name="Preview (imports nothing)").click()
    result = page.locator("#import-result")
    expect(result).to_contain_text("Would be: imported 2, updated 0, unchanged 0, rejected 1")
    expect(page.locator("#import-accepted")).to_contain_text("+4915123456789")  # the national number, read as German
    expect(page.locator("#import-rejected")).to_contain_text("'12ab' is not a phone number.")
    journey("dry run")
    assert not Contact.objects.exists()

    page.get_by_role("button", name="Import the 2 accepted rows").click()
    expect(result).to_contain_text("imported 2, updated 0, unchanged 0, rejected 1")
    journey("imported")
    assert set(Contact.objects.values_list("phone", flat=True)) == {"+4915123456789", "+447911123456"}


def _filter(page, title: str, choice: str) -> None:
    page.locator("#changelist-filter details", has_text=f"By {title}").get_by_role("link", name=choice, exact=True).click()


def _apply_to_all_shown(page, action: str, value: str) -> None:
    page.locator("#action-toggle").check()
    page.select_option("select[name=action]", label=action)
    page.get_by_role("button", name="Go").click()
    page.fill("#bulk-value", value)


def test_a_marketer_tags_and_support_opts_out_a_filtered_list(live_server, page, login, journey, marketer, support, people):  # noqa: F811
    vips = people["vip_opted_in"]
    login(marketer)
    page.goto(f"{live_server.url}/admin/consent/contact/")
    _filter(page, "marketing consent", "Opted in")
    _filter(page, "tags", "vip")
    expect(page.locator("#result_list tbody tr")).to_have_count(len(vips))
    journey("filtered list")
    _apply_to_all_shown(page, "Tag the selected contacts", "spring-2026")
    journey("tag to add")
    page.get_by_role("button", name="Tag contacts").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Tag contacts: {len(vips)} changed, 0 already so.")
    assert set(Contact.objects.filter(tags__name="spring-2026").values_list("pk", flat=True)) == {c.pk for c in vips}

    page.context.clear_cookies()
    login(support)
    page.goto(f"{live_server.url}/admin/consent/contact/")
    _filter(page, "tags", "spring-2026")
    _apply_to_all_shown(page, "Record an opt-out for the selected contacts", "Asked at the shop counter, list of 3 March")
    page.get_by_role("button", name="Record opt-outs").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Record opt-outs: {len(vips)} changed, 0 already so.")
    journey("opt-outs recorded")
    opted_out = contacts_by_consent_status(Contact.objects.all(), ConsentStatus.OPTED_OUT)
    assert set(opted_out.values_list("pk", flat=True)) == {c.pk for c in vips}
    assert set(ConsentEvent.objects.filter(action="opt_out").values_list("note", flat=True)) == {"Asked at the shop counter, list of 3 March"}
