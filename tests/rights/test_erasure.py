"""Erasure leaves nothing personal anywhere in the database, keeps the suppression and the campaign counts."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from campaigns.models import Click, Event, Message
from campaigns.selectors import campaign_report
from consent.models import ConsentEvent, ConsentStatus, Contact, Suppression
from consent.selectors import contact_consent_status, contacts_marketable
from consent.services import number_is_suppressed, suppression_hash
from conversations.models import InboundMessage, OptInConfirmation
from core.audit import SYSTEM, audit_record
from core.models import AuditEntry
from tests.factories import payload, process_pending_deliveries
from tests.rights.person import NAME, NEW_NAME, OTHER_PHONE, PERSON_AGENT, PHONE, WA_ID
from whatsapp.models import WebhookDelivery, WebhookReceipt

pytestmark = pytest.mark.django_db

TEXT_TYPES = {"CharField", "TextField", "JSONField", "SlugField", "URLField", "EmailField", "GenericIPAddressField"}


def tables_mentioning(*needles: str) -> dict[str, list[str]]:
    """Every text or JSON column of every table (models or not) that holds one of ``needles``, case-insensitively."""
    found: dict[str, list[str]] = {}
    introspection = connection.introspection
    with connection.cursor() as cursor:
        for table in introspection.table_names(cursor):
            for column in introspection.get_table_description(cursor, table):
                if introspection.get_field_type(column.type_code, column) not in TEXT_TYPES:
                    continue
                name = connection.ops.quote_name(column.name)
                for needle in needles:
                    cursor.execute(
                        f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)} WHERE LOWER(CAST({name} AS TEXT)) LIKE %s",
                        [f"%{needle.lower()}%"],
                    )
                    if cursor.fetchone()[0]:
                        found.setdefault(f"{table}.{column.name}", []).append(needle)
    return found


def erase(api_client, support, contact, **body):
    return api_client(support).post(f"/api/v1/contacts/{contact.pk}/erase", body, format="json")


def test_the_scan_finds_the_person_everywhere_before_erasure(person):
    """The scan itself works: before erasure it sees the number, the WhatsApp id and the name in many places."""
    found = tables_mentioning(PHONE, WA_ID, NAME)
    assert {"consent_contact.phone", "consent_contact.name", "whatsapp_inboundmessage.text", "whatsapp_webhookdelivery.body",
            "campaigns_message.decision", "campaigns_event.properties", "django_admin_log.object_repr"} <= set(found)  # fmt: skip


def test_after_erasure_no_text_column_of_any_table_holds_the_number_or_the_name(api_client, support, person):
    response = erase(api_client, support, person.contact, reason=f"Asked by e-mail from {PHONE}, ticket 4711")

    assert response.status_code == 200, response.content
    assert tables_mentioning(PHONE, WA_ID, NAME, NEW_NAME, PERSON_AGENT, "Zebedee") == {}
    assert tables_mentioning(person.ip) == {}


def test_erasure_keeps_the_suppression_so_the_number_is_never_messaged_again(api_client, support, person):
    assert not number_is_suppressed(PHONE)  # opted in until now

    erase(api_client, support, person.contact)

    suppression = Suppression.objects.get(number_hash=suppression_hash(PHONE))
    assert (suppression.is_active, suppression.source) == (True, "erasure")
    person.contact.refresh_from_db()
    assert contact_consent_status(person.contact) == ConsentStatus.OPTED_OUT
    assert not contacts_marketable().filter(pk=person.contact.pk).exists()


def test_erasure_keeps_campaign_counts_and_the_consent_events_without_personal_evidence(api_client, support, person):
    report_before = campaign_report(person.campaign)
    events_before = ConsentEvent.objects.filter(contact=person.contact).count()

    erase(api_client, support, person.contact)

    assert campaign_report(person.campaign) == report_before
    message = Message.objects.get(pk=person.message.pk)
    assert (message.status, message.wamid, message.decision["reason"]) == ("read", None, "eligible")
    assert Click.objects.filter(message=message).count() == 1
    events = ConsentEvent.objects.filter(contact=person.contact).order_by("id")
    assert events.count() == events_before + 1  # the erasure's own opt-out
    assert [(e.action, e.source) for e in events][0] == ("opt_in", "web_form")
    assert all(e.evidence_erased_at and not (e.page_url or e.ip_address or e.user_agent or e.note) for e in events)
    out = StringIO()
    call_command("verify_consent_ledger", stdout=out)
    assert "ledger intact" in out.getvalue()


def test_erasure_empties_the_contact_and_removes_events_texts_and_pending_confirmations(api_client, support, person):
    contact = person.contact
    erase(api_client, support, contact)

    contact.refresh_from_db()
    assert (contact.phone, contact.phone_hash, contact.wa_id, contact.name, contact.attributes) == (None, "", "", "", {})
    assert contact.erased_at is not None and not contact.tags.exists()
    assert not Event.objects.filter(contact=contact).exists()
    assert set(InboundMessage.objects.filter(contact=contact).values_list("text", flat=True)) == {""}
    assert not OptInConfirmation.objects.filter(contact=contact, confirmed_at__isnull=True).exists()
    # The confirmed sign-up stays as the link to its consent entry, without the device evidence or the number's hash.
    (confirmed,) = OptInConfirmation.objects.filter(contact=contact).values("page_url", "ip_address", "user_agent", "confirmed_by_wamid", "number_hash")
    assert set(confirmed.values()) <= {"", None}
    assert str(contact) == f"erased contact #{contact.pk}"


def test_a_waiting_delivery_loses_only_the_persons_items_and_the_rest_is_still_processed(api_client, support, person):
    erase(api_client, support, person.contact)

    waiting = WebhookDelivery.objects.get(processed_at__isnull=True)
    assert "wamid.OTHER1" in waiting.body and "wamid.HELLO2" not in waiting.body
    process_pending_deliveries()

    other = InboundMessage.objects.get(wamid="wamid.OTHER1")
    assert (other.text, other.contact.phone) == ("Where is my order?", OTHER_PHONE)
    assert not InboundMessage.objects.filter(wamid="wamid.HELLO2").exists()


def test_the_erasure_is_audit_logged_with_who_and_from_where_and_without_personal_data(api_client, support, person):
    erase(api_client, support, person.contact, reason=f"ticket 4711, customer {PHONE}")

    entry = AuditEntry.objects.get(action="contact.erase")
    assert (entry.actor, entry.object_type, entry.object_id) == (support, "contact", str(person.contact.pk))
    assert entry.ip_address == "127.0.0.1"
    assert entry.details["counts"]["events"] == 1
    assert entry.details["reason"] == "ticket 4711, customer +***********78"


def test_erasing_twice_is_refused_with_the_date(api_client, support, person):
    erase(api_client, support, person.contact)

    again = erase(api_client, support, person.contact)

    assert again.status_code == 409
    assert "was erased on" in again.json()["detail"]


def test_an_erasure_that_fails_half_way_changes_nothing(api_client, support, person, monkeypatch):
    from consent import rights

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(rights, "_admin_history_scrub", fail)
    with pytest.raises(RuntimeError):
        rights.contact_erase(contact=person.contact, actor=rights.Actor(user=support))

    contact = Contact.objects.get(pk=person.contact.pk)
    assert (contact.phone, contact.name, contact.erased_at) == (PHONE, NEW_NAME, None)
    assert Event.objects.filter(contact=contact).count() == 1
    assert not number_is_suppressed(PHONE)
    assert ConsentEvent.objects.filter(contact=contact, evidence_erased_at__isnull=True).count() == 1


def test_erasure_removes_the_persons_whatsapp_message_ids_everywhere_and_counts_them(api_client, support, person, deliver):  # noqa: F811
    # A status for the person's message that names them only by a business-scoped user id, still waiting
    # for the worker, and an audit entry about the message (not about the contact) that carries its id.
    bsuid_status = payload("status_delivered.json", {"4915123456789": "US.13491208655302741918", "wamid.XYZ": "wamid.SPRING1"})
    bsuid_status["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "read"
    deliver(bsuid_status, process=False)
    audit_record(actor=SYSTEM, action="whatsapp.status_late", object_type="message", object_id=person.message.pk, details={"wamid": "wamid.SPRING1"})
    assert WebhookReceipt.objects.filter(key__startswith="status:wamid.SPRING1:").exists()

    response = erase(api_client, support, person.contact)

    counts = response.json()["counts"]
    assert counts["whatsapp_message_ids"] == 3  # the campaign message and the person's two processed inbound messages (JOIN, hello)
    assert counts["webhook_receipts"] >= 1 and counts["webhook_deliveries_redacted"] >= 1
    assert not WebhookReceipt.objects.filter(key__contains="wamid.SPRING1").exists()
    assert tables_mentioning("wamid.SPRING1", "wamid.HELLO1") == {}
    assert AuditEntry.objects.get(action="whatsapp.status_late").details == {"wamid": "[erased]"}
    call_command("verify_records", stdout=StringIO())  # the scrub kept both chains verifiable
