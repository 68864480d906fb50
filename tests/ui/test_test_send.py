"""'Send a test': the campaign's message to the marketer's own opted-in number, through the sandbox."""

from __future__ import annotations

import pytest

from campaigns.analytics import campaign_funnel
from campaigns.models import Campaign, Message, StaffTestNumber
from campaigns.services import campaign_create
from consent.services import consent_revoke
from core.audit import Actor
from tests.factories import client_for, contacts_create

pytestmark = pytest.mark.django_db

PARAMETERS = [{"field": "name", "fallback": "there"}, {"value": "20%"}]


@pytest.fixture
def draft(marketer, spring_sale, everyone) -> Campaign:
    return campaign_create(
        actor=Actor(user=marketer), name="Spring", template=spring_sale, segment=everyone, parameters=PARAMETERS,
        tracked_url="https://shop.example.com/spring",
    )  # fmt: skip


def own_number(user, *, opted_in: bool = True, n: int = 900):
    (contact,) = contacts_create(1, start=n, opted_in=opted_in, name="Mara Marketer")
    StaffTestNumber.objects.create(user=user, contact=contact)
    return contact


def send_test(user, campaign):
    return client_for(user).post(f"/admin/campaigns/campaign/{campaign.pk}/test-send/", follow=True)


def test_the_test_goes_to_the_marketers_own_number_with_their_values(sandbox, marketer, draft):
    mara = own_number(marketer)
    response = send_test(marketer, draft)
    assert "Test sent to your number" in response.content.decode()
    (send,) = sandbox.sends()
    assert "+" + send["to"] == mara.phone and send["template"]["name"] == "spring_sale"
    assert send["components"][0]["parameters"] == [{"type": "text", "text": "Mara Marketer"}, {"type": "text", "text": "20%"}]
    test = Message.objects.get(kind=Message.Kind.TEST)
    assert (test.contact, test.status, test.is_marketing, test.campaign) == (mara, "accepted", False, None)
    assert test.decision["campaign"] == draft.pk and test.decision["sent_by"] == "admin: mara"
    # Its tracked link works and leads to the campaign's destination, without counting in its figures.
    token = send["components"][1]["parameters"][0]["text"]
    assert client_for().get(f"/r/{token}")["Location"] == "https://shop.example.com/spring"
    assert campaign_funnel(draft).targeted == 0 and campaign_funnel(draft).clicked == 0


def test_without_an_opt_in_the_test_is_refused_and_nothing_is_sent(sandbox, marketer, draft):
    mara = own_number(marketer)
    consent_revoke(contact=mara, source="support")
    response = send_test(marketer, draft).content.decode()
    masked = "+" + "*" * (len(mara.phone) - 3) + mara.phone[-2:]
    assert f"Test not sent: Your test number {masked} has no active marketing opt-in" in response
    assert sandbox.sends() == [] and not Message.objects.filter(kind=Message.Kind.TEST).exists()


def test_without_a_linked_number_the_marketer_is_told_who_sets_it(sandbox, marketer, draft):
    response = send_test(marketer, draft).content.decode()
    assert "No test number is linked to your account" in response and "Staff test numbers" in response
    assert sandbox.sends() == []


def test_a_refusal_by_whatsapp_is_shown_with_its_reason(sandbox, marketer, draft):
    mara = own_number(marketer)
    sandbox.configure(failure_rules=[{"number": mara.phone, "code": 131026, "at": "send"}])
    response = send_test(marketer, draft).content.decode()
    assert "Test not sent: WhatsApp refused the test message" in response and "(error 131026)" in response
    assert Message.objects.get(kind=Message.Kind.TEST).status == "failed"
