"""With real worker processes (see test_workers.py): a campaign on the business's second number goes out
from that number, at that number's own rate, while a STOP the person sent to the second number stops
the first number's campaign too, and its confirmation goes from the number they wrote to."""

from __future__ import annotations

import pytest
from django.conf import settings

from campaigns.models import Message, MessageStatus, Segment
from consent.models import ConsentStatus
from consent.selectors import contact_consent_status
from tests.campaigns.test_workers import approved_via_api, finished, live, processes, wait_until  # noqa: F401 (fixtures)
from tests.factories import SECOND_NUMBER_ID, contacts_create, second_number_add

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]


def test_a_campaign_on_the_second_number_goes_out_from_it_at_its_own_rate(live, sandbox, marketer, approver):  # noqa: F811
    # The workers send at 1,000/s on the default number; the second is allowed 2/s. The sandbox refuses
    # anything beyond 4 in a second on it (130429), so a send at the default's pace would show there.
    second_number_add(throughput=2, sandbox=sandbox, sandbox_throughput=4)
    audience = contacts_create(8)
    segment = Segment.objects.create(name="everyone", rules={"all": []})

    campaign_id = approved_via_api(marketer, approver, segment, phone_number_id=SECOND_NUMBER_ID)

    assert finished(campaign_id).status == "completed"
    log = sandbox.control("GET", "/_sandbox/sends")
    assert log["by_number"] == {SECOND_NUMBER_ID: len(audience)}
    assert log["refused"] == {}  # never beyond the number's own throughput
    messages = Message.objects.filter(campaign_id=campaign_id)
    assert {message.status for message in messages} <= {MessageStatus.ACCEPTED, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ}
    # The limiter that granted each send: the second number's, at its rate.
    assert [message.decision["sent_from"] for message in messages] == [{"phone_number_id": SECOND_NUMBER_ID, "rate_per_second": 2.0}] * len(audience)


def test_a_stop_to_the_second_number_stops_the_first_numbers_campaign(live, sandbox, marketer, approver):  # noqa: F811
    second_number_add(sandbox=sandbox)
    audience = contacts_create(30)
    stopped = audience[-1]
    segment = Segment.objects.create(name="everyone", rules={"all": []})

    # Through the sandbox as Meta, the live server and a worker: the person writes STOP to the second number.
    sandbox.inbound(**{"from": stopped.phone.lstrip("+"), "text": "STOP", "to": SECOND_NUMBER_ID})
    wait_until(lambda: contact_consent_status(stopped) == ConsentStatus.OPTED_OUT, timeout=30, what="the STOP")
    campaign_id = approved_via_api(marketer, approver, segment)  # on the default (first) number

    finished(campaign_id)
    message = Message.objects.get(campaign_id=campaign_id, contact=stopped)
    assert (message.status, message.skip_reason) == (MessageStatus.SKIPPED, "opted_out")
    templates = [s for s in sandbox.sends() if s["type"] == "template"]
    assert len(templates) == len(audience) - 1
    assert {s["phone_number_id"] for s in templates} == {settings.WHATSAPP_PHONE_NUMBER_ID}
    confirmation = wait_until(
        lambda: next((s for s in sandbox.sends() if s["type"] == "text" and s["to"] == stopped.phone.lstrip("+")), None),
        timeout=60, what="the STOP confirmation",
    )  # fmt: skip
    assert confirmation["phone_number_id"] == SECOND_NUMBER_ID  # from the number the person wrote to
