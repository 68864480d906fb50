import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_a_marketer_logs_into_the_admin_and_sees_contacts(live_server, page, login, marketer):
    login(marketer)
    assert "Site administration" in page.title()
    assert page.get_by_role("link", name="Log out").count() + page.locator("#logout-form").count() >= 1


def test_a_wrong_password_is_refused_with_a_message(live_server, page, marketer):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", marketer.get_username())
    page.fill("#id_password", "wrong")
    page.click("input[type=submit]")
    # expect() waits for the answer page; is_visible() would read the page before the POST returned.
    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator(".errornote")).to_contain_text("correct username and password")
