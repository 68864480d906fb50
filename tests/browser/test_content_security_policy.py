"""In a real browser, the admin, the opt-in page and the API docs work under the Content-Security-Policy."""

from __future__ import annotations

import pytest

from consent.models import OptInForm, Purpose
from consent.services import contact_upsert, purpose_get
from tests.factories import NOTICE_TEXT

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI));
"""


@pytest.fixture
def optin_form(db) -> OptInForm:
    # purpose_get: a transactional test before this one may have flushed the migration's purpose row.
    return OptInForm.objects.create(
        slug="acme", business_name="Acme Shoes", message_description="offers", frequency="up to 4 a month",
        privacy_policy_url="https://acme.example/privacy", notice_text=NOTICE_TEXT, notice_version="v1",
        purpose=purpose_get(Purpose.MARKETING),
    )  # fmt: skip


def violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations")


def test_pages_run_without_a_single_policy_violation(live_server, page, login, superuser, optin_form):  # noqa: F811
    page.add_init_script(RECORD_VIOLATIONS)
    contact, _ = contact_upsert(phone="+4915123456789", name="Ana")
    login(superuser)
    assert violations(page) == []

    page.goto(f"{live_server.url}/admin/consent/contact/{contact.pk}/change/")
    page.get_by_role("link", name="Export data (JSON)").wait_for()
    assert violations(page) == []

    page.goto(f"{live_server.url}/admin/campaigns/segment/add/")
    page.get_by_role("button", name="Add a condition").click()  # the segment builder runs
    page.locator("#segment-live-count", has_text="Fix the marked condition").wait_for()
    assert violations(page) == []

    page.goto(f"{live_server.url}/optin/{optin_form.slug}/")
    page.get_by_role("checkbox").wait_for()
    assert violations(page) == []

    page.goto(f"{live_server.url}/api/docs/")
    page.locator(".swagger-ui .info .title", has_text="Retarget API").wait_for()
    page.locator(".opblock-summary-path", has_text="/api/v1/contacts/{contact_id}/export").first.wait_for()
    assert violations(page) == []
