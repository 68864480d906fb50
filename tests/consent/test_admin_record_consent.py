import pytest

from consent.ledger import ledger_verify
from consent.models import ConsentEvent
from consent.selectors import contact_consent_status, contacts_marketable
from consent.services import consent_grant, consent_revoke, contact_upsert, number_is_suppressed
from core.models import AuditEntry
from tests.factories import NOTICE, NOTICE_TEXT

pytestmark = pytest.mark.django_db


@pytest.fixture
def ana(db):
    contact, _ = contact_upsert(phone="+4915123456789", name="Ana")
    consent_grant(contact=contact, source="web_form", evidence=NOTICE)
    return contact


def _page(contact, action: str) -> str:
    return f"/admin/consent/contact/{contact.pk}/record-{action}/"


def test_support_records_an_opt_out_with_the_reason(admin_client_for, support, visitor_ip, ana):
    response = admin_client_for(support).post(_page(ana, "opt-out"), {"reason": "Called the hotline, ticket 4711"}, follow=True)

    assert response.redirect_chain[-1][0] == f"/admin/consent/contact/{ana.pk}/change/"
    assert "Opt-out: recorded for Ana (+4915123456789)." in response.content.decode()
    event = ConsentEvent.objects.latest("id")
    assert (event.action, event.source, event.note, event.recorded_by) == ("opt_out", "support", "Called the hotline, ticket 4711", support)
    assert contact_consent_status(ana) == "opted_out" and number_is_suppressed(ana.phone)
    assert list(contacts_marketable()) == []
    audit = AuditEntry.objects.get(action="consent.opt_out")
    assert (audit.actor, audit.actor_label, audit.ip_address) == (support, "sue", visitor_ip)
    assert ledger_verify().intact


def test_an_opt_out_without_a_reason_is_not_recorded(admin_client_for, support, ana):
    response = admin_client_for(support).post(_page(ana, "opt-out"), {"reason": "  "})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert contact_consent_status(ana) == "opted_in"


def test_support_records_an_opt_in_with_the_notice_and_how_it_was_given(admin_client_for, support):
    ben, _ = contact_upsert(phone="+447911123456", name="Ben")

    response = admin_client_for(support).post(
        _page(ben, "opt-in"), {"notice_text": NOTICE_TEXT, "notice_version": "2026-11", "evidence": "Signed form at the shop, scanned as #88"}
    )

    assert response.status_code == 302
    event = ConsentEvent.objects.get(contact=ben)
    assert (event.action, event.source, event.notice_text, event.notice_version) == ("opt_in", "support", NOTICE_TEXT, "2026-11")
    assert event.note == "Signed form at the shop, scanned as #88"
    assert list(contacts_marketable()) == [ben]


def test_an_opt_in_without_the_notice_is_not_recorded(admin_client_for, support):
    ben, _ = contact_upsert(phone="+447911123456")

    response = admin_client_for(support).post(_page(ben, "opt-in"), {"notice_text": "", "evidence": "said yes"})

    assert response.status_code == 200
    assert not ConsentEvent.objects.exists()


def test_support_cannot_opt_in_a_number_that_opted_out(admin_client_for, support, ana):
    consent_revoke(contact=ana, source="inbound_keyword")

    response = admin_client_for(support).post(
        _page(ana, "opt-in"), {"notice_text": NOTICE_TEXT, "evidence": "customer insisted on the phone"}
    )

    assert response.status_code == 200
    assert "This number opted out earlier. Only the person can opt in again" in response.content.decode()
    assert contact_consent_status(ana) == "opted_out" and number_is_suppressed(ana.phone)


def test_the_contact_page_offers_the_buttons_to_roles_that_may_record_consent(admin_client_for, support, marketer, approver, ana):
    change_page = f"/admin/consent/contact/{ana.pk}/change/"

    for user in (support, marketer):
        html = admin_client_for(user).get(change_page).content.decode()
        assert _page(ana, "opt-out") in html and _page(ana, "opt-in") in html
    assert _page(ana, "opt-out") not in admin_client_for(approver).get(change_page).content.decode()


@pytest.mark.parametrize("action", ["opt-out", "opt-in"])
def test_an_approver_cannot_record_consent(admin_client_for, approver, ana, action):
    client = admin_client_for(approver)

    assert client.get(_page(ana, action)).status_code == 403
    assert client.post(_page(ana, action), {"reason": "x", "notice_text": NOTICE_TEXT, "evidence": "x"}).status_code == 403
    assert ConsentEvent.objects.count() == 1
