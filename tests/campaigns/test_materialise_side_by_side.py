"""A big launch writes its rows on connections of its own, side by side: what it leaves when it fails half-way.

Each connection commits its range of contacts before the launch's transaction does, so a launch
that fails after that leaves rows of a campaign still scheduled. They must never be sent, and the
next launch must write the audience as it is then, each person once.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, Message, MessageStatus
from campaigns.sending.dispatcher import campaign_dispatch
from campaigns.services import campaign_approve, campaign_create, campaign_launch, campaign_submit, campaigns_tick
from consent.models import Contact
from core.audit import Actor
from tests.factories import contacts_create, tasks_run_eagerly

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(autouse=True)
def eager(settings, no_quiet_hours):
    """Tasks run in this process; every launch, however small, materialises on two connections."""
    settings.CAMPAIGN_MATERIALISE_CONNECTIONS = 2
    settings.CAMPAIGN_MATERIALISE_PARALLEL_FROM = 1
    with tasks_run_eagerly(settings, batch_size=3):
        yield


def scheduled(template, segment, marketer, approver) -> Campaign:
    """Approved for an hour from now: scheduled, not launched yet (the test launches it)."""
    campaign = campaign_create(
        actor=Actor(user=marketer), name="Spring", template=template, segment=segment,
        parameters=[{"field": "name"}, {"value": "20%"}], send_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    campaign_submit(campaign=campaign, actor=Actor(user=marketer))
    campaign_approve(campaign=campaign, actor=Actor(user=approver))
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED
    return campaign


def writing_transactions(campaign: Campaign) -> int:
    """How many transactions wrote the campaign's rows as they are (rows never updated since)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT xmin::text) FROM campaigns_message WHERE campaign_id = %s", [campaign.pk])
        return cursor.fetchone()[0]


def test_a_big_launch_writes_each_person_once_from_two_connections_and_sends_to_each_once(sandbox, spring_sale, everyone, marketer, approver):
    contacts = contacts_create(7)
    campaign = scheduled(spring_sale, everyone, marketer, approver)

    campaign_launch(campaign_id=campaign.pk)  # the dispatchers run (eagerly) once it committed

    assert sorted(Message.objects.filter(campaign=campaign).values_list("contact_id", flat=True)) == sorted(c.pk for c in contacts)
    assert sorted(send["to"] for send in sandbox.sends()) == sorted(c.phone.lstrip("+") for c in contacts)


def test_a_launch_failing_after_its_rows_committed_sends_nothing_and_the_next_launch_writes_the_audience_as_it_is_then(
    sandbox, spring_sale, everyone, marketer, approver, monkeypatch
):
    contacts = contacts_create(6)
    campaign = scheduled(spring_sale, everyone, marketer, approver)
    audit_record = services.audit_record

    def audit_record_failing_the_launch(**fields):
        if fields["action"] == "campaign.launch":
            raise RuntimeError("the worker stopped")
        return audit_record(**fields)

    monkeypatch.setattr(services, "audit_record", audit_record_failing_the_launch)
    with pytest.raises(RuntimeError):
        campaign_launch(campaign_id=campaign.pk)
    monkeypatch.undo()

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED and campaign.launched_at is None
    # The rows stayed, committed by the two connections before the launch's transaction failed.
    assert Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).count() == 6
    assert writing_transactions(campaign) == 2  # one per range of contact ids
    # Nothing claims rows of a campaign that is not sending: neither beat nor a dispatcher sent any.
    campaigns_tick()
    campaign_dispatch(campaign_id=campaign.pk, time_budget=5)
    assert sandbox.sends() == []
    assert Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).count() == 6

    # Before the next launch, one person leaves the audience (erased).
    gone, *staying = contacts
    Contact.objects.filter(pk=gone.pk).update(erased_at=timezone.now())
    campaign_launch(campaign_id=campaign.pk)

    campaign.refresh_from_db()
    assert campaign.status in (Campaign.Status.SENDING, Campaign.Status.COMPLETED)
    rows = Message.objects.filter(campaign=campaign)
    assert sorted(rows.values_list("contact_id", flat=True)) == sorted(c.pk for c in staying)
    campaigns_tick()
    assert sorted(send["to"] for send in sandbox.sends()) == sorted(c.phone.lstrip("+") for c in staying)
