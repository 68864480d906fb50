import pytest

from consent.models import ConsentEvent, ConsentStatus
from consent.selectors import contact_consent_status, contacts_marketable
from consent.services import ConsentRefused, Evidence, consent_grant, consent_revoke, contact_upsert

NOTICE = Evidence(notice_text="Yes, send me offers from Acme on WhatsApp, up to 4 a month.", notice_version="v1")


@pytest.mark.django_db
def test_an_opt_in_makes_the_contact_marketable_and_an_opt_out_stops_it():
    contact, _ = contact_upsert(phone="+49 151 23456789", name="Ana")
    assert contact.phone == "+4915123456789"
    assert contact.time_zone == "Europe/Berlin"

    consent_grant(contact=contact, source="web_form", evidence=NOTICE)
    assert contact_consent_status(contact) == ConsentStatus.OPTED_IN
    assert list(contacts_marketable()) == [contact]

    consent_revoke(contact=contact, source="support", evidence=Evidence(note="asked by phone"))
    assert contact_consent_status(contact) == ConsentStatus.OPTED_OUT
    assert list(contacts_marketable()) == []


@pytest.mark.django_db
def test_an_opt_in_without_the_notice_text_is_refused():
    contact, _ = contact_upsert(phone="+4915123456789")
    with pytest.raises(ConsentRefused, match="notice text"):
        consent_grant(contact=contact, source="api", evidence=Evidence(notice_text="  "))
    assert ConsentEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_suppressed_number_can_only_be_opted_in_again_by_the_person():
    contact, _ = contact_upsert(phone="+4915123456789")
    consent_grant(contact=contact, source="import", evidence=NOTICE)
    consent_revoke(contact=contact, source="inbound_keyword")

    with pytest.raises(ConsentRefused, match="Only the person"):
        consent_grant(contact=contact, source="import", evidence=NOTICE)
    assert list(contacts_marketable()) == []

    consent_grant(contact=contact, source="inbound_keyword", evidence=Evidence(notice_text="START"))
    assert list(contacts_marketable()) == [contact]


@pytest.mark.django_db
def test_consent_events_cannot_be_changed_or_deleted_through_the_application():
    contact, _ = contact_upsert(phone="+4915123456789")
    event = consent_grant(contact=contact, source="web_form", evidence=NOTICE)
    event.note = "edited"
    with pytest.raises(Exception, match="append-only"):
        event.save()
    with pytest.raises(Exception, match="append-only"):
        event.delete()
