import datetime

import pytest
from django.utils import timezone

from consent.ledger import ledger_verify
from consent.models import ConsentEvent, ConsentStatus
from consent.selectors import contact_consent_status, contacts_marketable
from consent.services import (
    ConsentChange,
    ConsentRefused,
    consent_grant,
    consent_record_many,
    consent_revoke,
    contact_upsert,
    number_is_suppressed,
)
from core.models import AuditEntry
from tests.factories import NOTICE


@pytest.mark.django_db
def test_a_batch_judges_each_change_in_order_and_records_the_rest():
    ana, _ = contact_upsert(phone="+4915123456789")
    ben, _ = contact_upsert(phone="+447911123456")
    results = consent_record_many(
        changes=[
            ConsentChange(contact=ana, action="opt_in", source="import", evidence=NOTICE),
            ConsentChange(contact=ana, action="opt_out", source="support"),
            # Ana opted out a moment ago in this very batch: an import cannot undo that.
            ConsentChange(contact=ana, action="opt_in", source="import", evidence=NOTICE),
            ConsentChange(contact=ben, action="opt_in", source="import"),
            ConsentChange(contact=ben, action="opt_in", source="import", evidence=NOTICE),
        ]
    )

    assert [type(r).__name__ for r in results] == ["ConsentEvent", "ConsentEvent", "ConsentRefused", "ConsentRefused", "ConsentEvent"]
    assert "Only the person can opt in again" in str(results[2]) and results[2].field == "phone"
    assert results[3].field == "evidence.notice_text"
    assert contact_consent_status(ana) == ConsentStatus.OPTED_OUT and number_is_suppressed(ana.phone)
    assert list(contacts_marketable()) == [ben]
    assert ConsentEvent.objects.count() == 3 == AuditEntry.objects.filter(action__startswith="consent.").count()
    assert ledger_verify().intact


@pytest.mark.django_db
def test_an_older_opt_in_arriving_late_does_not_override_a_newer_opt_out():
    contact, _ = contact_upsert(phone="+4915123456789")
    consent_revoke(contact=contact, source="unsubscribe_link")
    consent_grant(
        contact=contact,
        source="web_form",
        evidence=NOTICE,
        occurred_at=timezone.now() - datetime.timedelta(days=30),
    )

    assert contact_consent_status(contact) == ConsentStatus.OPTED_OUT
    assert number_is_suppressed(contact.phone)


@pytest.mark.django_db
def test_a_relayed_opt_in_cannot_lift_a_suppression_whatever_source_it_claims():
    contact, _ = contact_upsert(phone="+4915123456789")
    consent_revoke(contact=contact, source="inbound_keyword")

    with pytest.raises(ConsentRefused, match="Only the person"):
        consent_grant(contact=contact, source="web_form", evidence=NOTICE, can_lift_suppression=False)
    assert number_is_suppressed(contact.phone)
