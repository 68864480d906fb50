import datetime

import pytest
from django.utils import timezone

from consent.ledger import ledger_verify
from consent.models import ConsentEvent, Contact
from consent.selectors import contacts_marketable
from consent.services import consent_revoke, contact_upsert
from core.models import AuditEntry
from tests.factories import NOTICE_TEXT

pytestmark = pytest.mark.django_db

CONSENTS = "/api/v1/consents"
EVIDENCE = {
    "notice_text": NOTICE_TEXT,
    "notice_version": "2026-11",
    "page_url": "https://acme.example/checkout",
    "ip": "203.0.113.9",
    "user_agent": "Mozilla/5.0",
    "note": "ticked at checkout",
}


def _opt_in(client, phone="+4915123456789", **extra):
    return client.post(
        CONSENTS, {"phone": phone, "action": "opt_in", "source": "checkout", "evidence": EVIDENCE, **extra}, format="json"
    )


def test_an_opt_in_with_evidence_is_recorded_and_makes_the_contact_marketable(api_client, marketer):
    response = _opt_in(api_client(marketer), phone="+49 151 23456789", occurred_at="2026-06-01T10:00:00+02:00")

    assert response.status_code == 201, response.data
    body = response.json()
    assert body["action"] == "opt_in" and body["source"] == "checkout" and body["purpose"] == "marketing"
    assert body["evidence"] == EVIDENCE
    assert body["occurred_at"] == "2026-06-01T08:00:00Z"
    assert body["recorded_by"] == "mara" and body["recorded_via"] == "api token of mara"
    contact = Contact.objects.get(phone="+4915123456789")
    assert list(contacts_marketable()) == [contact]
    assert ledger_verify().intact


def test_the_audit_log_names_the_api_user_and_their_address(api_client, support):
    client = api_client(support)
    client.defaults["REMOTE_ADDR"] = "198.51.100.4"
    contact, _ = contact_upsert(phone="+4915123456789")

    response = client.post(CONSENTS, {"phone": "+4915123456789", "action": "opt_out", "source": "support"}, format="json")

    assert response.status_code == 201
    entry = AuditEntry.objects.get(action="consent.opt_out")
    assert (entry.actor, entry.actor_label, entry.ip_address) == (support, "api token of sue", "198.51.100.4")
    assert entry.object_id == str(contact.pk)


def test_an_opt_in_without_the_notice_text_is_refused_under_that_field(api_client, marketer):
    response = _opt_in(api_client(marketer), evidence={**EVIDENCE, "notice_text": ""})

    assert response.status_code == 400
    assert response.json() == {
        "evidence": {
            "notice_text": [
                "An opt-in needs evidence of what the person was told: give the exact notice text they agreed to."
            ]
        }
    }
    assert not ConsentEvent.objects.exists()
    assert not Contact.objects.exists(), "a refused consent leaves no contact behind"


@pytest.mark.parametrize("claimed_source", ["api", "import", "checkout", "web_form", "inbound_keyword"])
def test_an_api_opt_in_cannot_lift_a_suppression(api_client, marketer, claimed_source):
    contact, _ = contact_upsert(phone="+4915123456789")
    consent_revoke(contact=contact, source="inbound_keyword")

    response = _opt_in(api_client(marketer), source=claimed_source)

    assert response.status_code == 400
    assert response.json() == {
        "phone": ["This number opted out earlier. Only the person can opt in again (WhatsApp START reply or the opt-in page)."]
    }
    assert ConsentEvent.objects.count() == 1
    assert list(contacts_marketable()) == []


def test_each_bad_field_gets_its_own_message(api_client, marketer):
    response = api_client(marketer).post(
        CONSENTS,
        {"phone": "+1 555", "action": "maybe", "source": "erasure", "evidence": {"ip": "not-an-ip", "page_url": "nope"}},
        format="json",
    )

    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"phone", "action", "source", "evidence"}
    assert "'+1 555' is not a valid phone number" in errors["phone"][0]
    assert set(errors["evidence"]) == {"ip", "page_url"}


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"purpose": "newsletter"}, "purpose", "Unknown purpose 'newsletter'; known purposes: marketing."),
        ({"occurred_at": (timezone.now() + datetime.timedelta(days=2)).isoformat()}, "occurred_at", "occurred_at lies in the future."),
    ],
)
def test_refusals_of_the_consent_rules_name_the_field(api_client, marketer, extra, field, message):
    response = _opt_in(api_client(marketer), **extra)

    assert response.status_code == 400
    assert response.json() == {field: [message]}


def test_a_contacts_consent_history_lists_newest_first(api_client, support, marketer):
    _opt_in(api_client(marketer), occurred_at="2026-01-01T09:00:00Z")
    api_client(support).post(CONSENTS, {"phone": "+4915123456789", "action": "opt_out", "source": "support", "evidence": {"note": "phoned in"}}, format="json")
    contact = Contact.objects.get()

    response = api_client(support).get(f"/api/v1/contacts/{contact.pk}/consents")

    assert response.status_code == 200
    events = response.json()["results"]
    assert [(e["action"], e["recorded_by"]) for e in events] == [("opt_out", "sue"), ("opt_in", "mara")]
    assert events[0]["evidence"]["note"] == "phoned in"
    assert api_client(support).get(f"/api/v1/contacts/{contact.pk + 1}/consents").status_code == 404
