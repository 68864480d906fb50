"""How a drill counts: the sandbox's log of accepted sends against the campaigns' messages."""

from __future__ import annotations

import time

import pytest

from campaigns.models import Campaign, Message, MessageStatus
from chaos.accounting import Audience, DrillResult, account
from tests.factories import contacts_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(spring_sale, everyone) -> Campaign:
    return Campaign.objects.create(name="drill", template=spring_sale, segment=everyone, status=Campaign.Status.COMPLETED)


def messages_to(campaign: Campaign, contacts, status: str = MessageStatus.SENT) -> list[Message]:
    return [Message.objects.create(campaign=campaign, contact=c, status=status, is_marketing=True) for c in contacts]


def sent(message: Message, at: float | None = None) -> dict:
    """One entry of the sandbox's log, as GET /_sandbox/sends gives it."""
    return {"type": "template", "callback_data": message.callback_data, "accepted_at": at or time.time(), "to": "x"}


def test_each_message_accepted_once_is_sent_and_every_repeat_is_a_duplicate(campaign):
    contacts = contacts_create(3)
    first, second, third = messages_to(campaign, contacts)

    result = account(
        DrillResult("d"), campaign_ids=[campaign.pk], audience=Audience(opted_in=[c.pk for c in contacts]),
        sends=[sent(first), sent(second), sent(second), sent(third)], max_per_day=5,
    )  # fmt: skip

    assert (result.recipients, result.sent, result.duplicates, result.lost, result.violations) == (3, 3, 1, 0, 0)
    assert not result.passed


def test_an_opted_in_recipient_never_sent_is_lost_unless_the_system_reports_the_send_unknown(campaign):
    contacts = contacts_create(4)
    delivered, forgotten = messages_to(campaign, contacts[:2])
    (cut_off,) = messages_to(campaign, contacts[2:3], status=MessageStatus.UNKNOWN)
    (resolved_later,) = messages_to(campaign, contacts[3:], status=MessageStatus.UNKNOWN)
    forgotten.status = MessageStatus.FAILED
    forgotten.save()

    result = account(
        DrillResult("d"), campaign_ids=[campaign.pk], audience=Audience(opted_in=[c.pk for c in contacts]),
        sends=[sent(delivered), sent(resolved_later)],
    )  # fmt: skip

    assert (result.sent, result.lost, result.unknown) == (2, 1, 2)
    assert result.problems == ["1 message(s) the sandbox accepted are still unknown after the status webhooks"]


def test_sends_to_people_without_consent_after_their_stop_or_over_the_cap_are_violations(campaign, spring_sale, everyone):
    opted_in, stopped, without_consent = contacts_create(1), contacts_create(1, start=10), contacts_create(1, start=20, opted_in=False)
    (regular,) = messages_to(campaign, opted_in)
    (late,) = messages_to(campaign, stopped)
    (unwanted,) = messages_to(campaign, without_consent)
    other = Campaign.objects.create(name="other", template=spring_sale, segment=everyone, status=Campaign.Status.COMPLETED)
    (second_today,) = messages_to(other, opted_in)
    stop_answered = time.time()

    result = account(
        DrillResult("d"), campaign_ids=[campaign.pk, other.pk],
        audience=Audience(opted_in=[opted_in[0].pk, stopped[0].pk], without_consent=[without_consent[0].pk]),
        sends=[sent(regular), sent(second_today), sent(late, at=stop_answered + 0.01), sent(unwanted)],
        opt_outs_effective={stopped[0].pk: stop_answered}, max_per_day=1,
    )  # fmt: skip

    assert (result.violations, result.duplicates, result.lost) == (3, 0, 0)


def test_a_stopped_recipient_skipped_before_the_send_is_not_lost(campaign):
    (stopped,) = contacts_create(1)
    messages_to(campaign, [stopped], status=MessageStatus.SKIPPED)

    result = account(
        DrillResult("d"), campaign_ids=[campaign.pk], audience=Audience(opted_in=[stopped.pk]), sends=[],
        opt_outs_effective={stopped.pk: time.time()},
    )  # fmt: skip

    assert (result.sent, result.lost, result.violations) == (0, 0, 0)
    assert result.passed
