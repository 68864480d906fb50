"""Campaigns to people known by a business-scoped user id (BSUID): sent to ``recipient``, suppressed by BSUID too.

The pipeline runs in this process (eager tasks, as in test_sending.py) against the sandbox and PostgreSQL.
"""

from __future__ import annotations

import pytest

from campaigns.models import Message, MessageStatus
from consent.models import Contact, Suppression
from consent.services import ConsentChange, consent_record_many, suppression_hash
from tests.campaigns.test_sending import eager, run  # noqa: F401 (the autouse fixture runs tasks eagerly)
from tests.factories import NOTICE, contacts_create

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]


def bsuid_contact(bsuid: str, *, opted_in: bool = True) -> Contact:
    """Someone who wrote to us with their number withheld: known by BSUID only."""
    contact = Contact.objects.create(bsuid=bsuid, bsuid_hash=suppression_hash(bsuid), name="Bo")
    if opted_in:
        consent_record_many(changes=[ConsentChange(contact=contact, action="opt_in", source="web_form", evidence=NOTICE)])
    return contact


def test_a_contact_known_only_by_bsuid_gets_the_campaign_at_its_bsuid(sandbox, spring_sale, everyone, marketer, approver):
    [by_phone] = contacts_create(1)
    by_bsuid = bsuid_contact("DE.4242424242")
    bsuid_contact("DE.5151515151", opted_in=False)

    campaign = run(spring_sale, everyone, marketer, approver)

    sends = sandbox.sends()
    assert len(sends) == 2
    assert {(send["to"], send.get("recipient")) for send in sends} == {(by_phone.phone.lstrip("+"), None), (None, "DE.4242424242")}
    message = Message.objects.get(campaign=campaign, contact=by_bsuid)
    assert message.status == MessageStatus.ACCEPTED and message.wamid in {send["wamid"] for send in sends}
    assert Message.objects.get(campaign=campaign, contact__bsuid="DE.5151515151").skip_reason == "no_consent"


def test_a_suppressed_bsuid_stops_a_send_to_the_number_of_the_same_person(sandbox, spring_sale, everyone, marketer, approver):
    [person, other] = contacts_create(2)
    Contact.objects.filter(pk=person.pk).update(bsuid="DE.777", bsuid_hash=suppression_hash("DE.777"))
    # They said STOP under their BSUID on a contact since erased: only the keyed hash is left.
    Suppression.objects.create(number_hash=suppression_hash("DE.777"), source="inbound_keyword")

    campaign = run(spring_sale, everyone, marketer, approver)

    assert [send["to"] for send in sandbox.sends()] == [other.phone.lstrip("+")]
    message = Message.objects.get(campaign=campaign, contact=person)
    assert (message.status, message.skip_reason) == (MessageStatus.SKIPPED, "suppressed")
