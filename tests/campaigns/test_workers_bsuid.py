"""With real worker processes (see test_workers.py): a STOP from people WhatsApp names only by their
business-scoped user id (BSUID), sent through the sandbox while their campaign runs, stops every later
campaign send to them, whether we hold their number too or only their BSUID."""

from __future__ import annotations

import time

import pytest

from campaigns.models import Message, MessageStatus, Segment
from consent.models import ConsentStatus, Contact
from consent.selectors import contact_consent_status
from consent.services import ConsentChange, consent_record_many, suppression_hash
from tests.campaigns.test_workers import approved_via_api, finished, live, processes, wait_until  # noqa: F401 (fixtures)
from tests.factories import NOTICE, contacts_create

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]


def test_a_bsuid_only_stop_during_a_running_campaign_stops_the_next_send(live, sandbox, marketer, approver):  # noqa: F811
    # Enough people before them that their turn comes seconds after the STOP even on a loaded machine
    # (with 600 the faster send path reached them first twice while other suites ran).
    audience = contacts_create(1500)
    # Two people whose number WhatsApp withholds (username_users, hide_phone): one we know by number and
    # BSUID, one only by BSUID. Their messages come last, so the STOP lands before their turn.
    with_number = contacts_create(1, start=2000)[0]
    Contact.objects.filter(pk=with_number.pk).update(bsuid="DE.1000000001", bsuid_hash=suppression_hash("DE.1000000001"))
    only_bsuid = Contact.objects.create(bsuid="DE.1000000002", bsuid_hash=suppression_hash("DE.1000000002"), name="Bo")
    consent_record_many(changes=[ConsentChange(contact=only_bsuid, action="opt_in", source="web_form", evidence=NOTICE)])
    sandbox.configure(
        username_users=[{"number": with_number.phone.lstrip("+"), "user_id": "DE.1000000001", "hide_phone": True}],
        latency=0.01, delivered_rate=0.0,  # slow enough to STOP mid-campaign; only "sent" statuses come back
    )  # fmt: skip
    segment = Segment.objects.create(name="everyone", rules={"all": []})
    campaign_id = approved_via_api(marketer, approver, segment)

    wait_until(
        lambda: Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.ACCEPTED).count() >= 50,
        timeout=180, what="the campaign to be under way", interval=0.02,
    )  # fmt: skip
    stopped_at: dict[str, float] = {}
    for contact in (with_number, only_bsuid):
        bsuid = Contact.objects.get(pk=contact.pk).bsuid
        sandbox.inbound(user_id=bsuid, text="STOP")  # the webhook names them by BSUID only
        # Committed before the sandbox gets its 200 (the opt-out is urgent): from here nothing may go out.
        wait_until(lambda c=contact: contact_consent_status(c) == ConsentStatus.OPTED_OUT, timeout=30, what="the STOP")
        stopped_at[bsuid] = time.time()

    finished(campaign_id, timeout=300)
    campaign_sends = [send for send in sandbox.sends() if send["type"] == "template"]
    late = [send for send in campaign_sends if send.get("user_id") in stopped_at and send["accepted_at"] > stopped_at[send["user_id"]]]
    assert late == []
    # Claims take due rows in no fixed order, so their turn may have come before their STOP: then their
    # message went out before it (never after: ``late``); otherwise it was skipped for the STOP.
    sent_before_stop = {send["user_id"] for send in campaign_sends if send.get("user_id") in stopped_at}
    for contact in (with_number, only_bsuid):
        message = Message.objects.get(campaign_id=campaign_id, contact=contact)
        if Contact.objects.get(pk=contact.pk).bsuid in sent_before_stop:
            assert message.status in {MessageStatus.ACCEPTED, MessageStatus.SENT}
        else:
            assert (message.status, message.skip_reason) in {(MessageStatus.SKIPPED, "opted_out"), (MessageStatus.SKIPPED, "suppressed")}
    assert len(campaign_sends) == len(audience) + len(sent_before_stop)
    # Their STOP confirmation went to the BSUID: we never held the second person's number.
    wait_until(
        lambda: any(s["type"] == "text" and s.get("recipient") == "DE.1000000002" for s in sandbox.sends()),
        timeout=60, what="the STOP confirmation",
    )  # fmt: skip
