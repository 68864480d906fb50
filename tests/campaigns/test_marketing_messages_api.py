"""Campaigns through the Marketing Messages API: the sending pipeline (tasks in this process, as a worker
runs them) against the sandbox, whose status webhooks reach the live server.

What issue 14 asks: with the number switched over, a marketing campaign's messages go to
/marketing_messages and their statuses fill the report; utility messages keep using /messages; a 131063
from the Cloud API pauses sending and tells the admin to switch the number (and how); a number not
onboarded pauses with its own explanation and no call that may have reached Meta is ever made again.
"""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connections

from campaigns.models import Campaign, Message, MessageStatus, StaffTestNumber
from campaigns.services import campaign_create, campaigns_tick
from core.audit import Actor
from tests.campaigns.test_sending import eager, run  # noqa: F401 (eager: autouse fixture, tasks run in this process)
from tests.campaigns.test_workers import wait_until
from tests.factories import api_client, client_for, contacts_create
from whatsapp.models import AccountProblem

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]

SALE_PARAMETERS = [{"field": "name"}, {"value": "20%"}]
SWITCH_ADVICE = "Switch the number to the Marketing Messages API"


@pytest.fixture
def statuses_flow(sandbox, live_server):
    """The sandbox posts its status webhooks to the live server, which applies them (tasks run eagerly)."""
    connections.settings["default"]["CONN_MAX_AGE"] = 0  # the live server's threads must not keep connections
    sandbox.configure(webhook_url=f"{live_server.url}/webhooks/whatsapp", sent_delay=0.01, delivered_delay=0.01, read_delay=0.01)
    yield sandbox
    sandbox.configure(webhook_url="")
    wait_until(lambda: sandbox.webhooks()["pending"] == 0, timeout=60, what="the sandbox's last webhooks")


def report_of(user, campaign_id: int) -> dict:
    return api_client(user).get(f"/api/v1/campaigns/{campaign_id}/report").json()


def endpoints(sandbox) -> Counter:
    return Counter(send["endpoint"] for send in sandbox.sends())


def test_a_switched_number_sends_marketing_through_the_marketing_messages_api_and_statuses_fill_the_report(
    settings, statuses_flow, spring_sale, everyone, marketer, approver
):
    settings.WHATSAPP_MARKETING_MESSAGES_API = True
    statuses_flow.configure(status_order=["sent", "delivered", "read"])
    contacts_create(7)

    campaign = run(spring_sale, everyone, marketer, approver, parameters=SALE_PARAMETERS)

    assert campaign.status == Campaign.Status.COMPLETED
    assert endpoints(statuses_flow) == {"marketing_messages": 7}
    assert {send["product_policy"] for send in statuses_flow.sends()} == {"STRICT"}
    wait_until(lambda: report_of(marketer, campaign.pk)["counts"]["read"] == 7, timeout=60, what="the read statuses")
    assert set(Message.objects.filter(campaign=campaign).values_list("status", flat=True)) == {MessageStatus.READ}


def test_utility_messages_keep_using_the_cloud_api_on_a_switched_number(settings, statuses_flow, templates, everyone, marketer, approver):
    settings.WHATSAPP_MARKETING_MESSAGES_API = True
    statuses_flow.configure(status_order=["sent", "delivered"])
    contacts_create(4)

    campaign = run(templates[("order_shipped", "en_US")], everyone, marketer, approver, parameters=[{"value": "A-1001"}])

    assert campaign.status == Campaign.Status.COMPLETED
    assert endpoints(statuses_flow) == {"messages": 4}
    wait_until(lambda: report_of(marketer, campaign.pk)["counts"]["delivered"] == 4, timeout=60, what="the delivered statuses")


def test_131063_on_the_cloud_api_pauses_and_tells_the_admin_to_switch_the_number(
    settings, sandbox, spring_sale, everyone, marketer, approver, admin_client
):
    settings.WHATSAPP_MARKETING_MESSAGES_API = False
    sandbox.configure(marketing_blocked_on_cloud_api=True)
    people = contacts_create(6)

    campaign = run(spring_sale, everyone, marketer, approver, parameters=SALE_PARAMETERS)

    assert campaign.status == Campaign.Status.PAUSED
    assert "131063" in campaign.status_reason and SWITCH_ADVICE in campaign.status_reason
    assert "WHATSAPP_MARKETING_MESSAGES_API=1" in campaign.status_reason
    (problem,) = AccountProblem.objects.filter(cleared_at__isnull=True)
    assert problem.code == 131063 and SWITCH_ADVICE in problem.explanation
    page = admin_client.get("/admin/campaigns/campaign/dashboard/").content.decode()
    assert "all sending is paused" in page and SWITCH_ADVICE in page
    assert sandbox.sends() == [] and not Message.objects.filter(campaign=campaign, status=MessageStatus.UNKNOWN).exists()

    # The admin switches the number over, clears the problem and resumes: everyone gets one message, via the MM API.
    settings.WHATSAPP_MARKETING_MESSAGES_API = True
    assert admin_client.post(f"/admin/campaigns/campaign/account-problems/{problem.pk}/clear/").status_code == 302
    assert api_client(marketer).post(f"/api/v1/campaigns/{campaign.pk}/resume").status_code == 200
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert endpoints(sandbox) == {"marketing_messages": len(people)}
    assert sorted(send["to"] for send in sandbox.sends()) == sorted(person.phone.lstrip("+") for person in people)


def test_a_number_not_onboarded_pauses_with_its_explanation_and_never_repeats_a_call_that_may_have_reached_meta(
    settings, sandbox, spring_sale, everyone, marketer, approver, admin_client
):
    settings.WHATSAPP_MARKETING_MESSAGES_API = True
    sandbox.configure(marketing_messages_api_onboarded=False)
    people = contacts_create(12)

    campaign = run(spring_sale, everyone, marketer, approver, parameters=SALE_PARAMETERS)

    assert campaign.status == Campaign.Status.PAUSED and "131055" in campaign.status_reason
    assert "not finished Marketing Messages API onboarding" in campaign.status_reason
    assert "WHATSAPP_MARKETING_MESSAGES_API=0" in campaign.status_reason
    refused = sandbox.refused()["131055"]
    # Only the calls already out when the first answer came: the batches in flight, then nothing more.
    assert 1 <= refused <= settings.CAMPAIGN_BATCH_SIZE * settings.CAMPAIGN_BATCHES_IN_FLIGHT < len(people)
    # Meta answered with its error: nothing was accepted, so the refused messages wait for the resume.
    assert sandbox.sends() == [] and not Message.objects.filter(campaign=campaign, status=MessageStatus.UNKNOWN).exists()

    # Onboarding is finished; on resume one call's connection breaks after its body was sent.
    cut = people[2].phone.lstrip("+")
    sandbox.configure(marketing_messages_api_onboarded=True, send_faults=[{"fault": "cut_after_body", "number": cut}])
    (problem,) = AccountProblem.objects.filter(cleared_at__isnull=True)
    admin_client.post(f"/admin/campaigns/campaign/account-problems/{problem.pk}/clear/")
    assert api_client(marketer).post(f"/api/v1/campaigns/{campaign.pk}/resume").status_code == 200
    campaigns_tick()  # a later tick finds nothing to send again

    message = Message.objects.get(campaign=campaign, contact=people[2])
    assert message.status == MessageStatus.UNKNOWN and message.attempts == 1
    assert Counter(send["to"] for send in sandbox.sends()) == Counter(person.phone.lstrip("+") for person in people)
    assert endpoints(sandbox) == {"marketing_messages": len(people)}
    assert sandbox.refused()["131055"] == refused


def test_a_test_send_of_a_marketing_template_takes_the_same_endpoint_as_the_campaign(settings, sandbox, spring_sale, everyone, marketer):
    settings.WHATSAPP_MARKETING_MESSAGES_API = True
    (mara,) = contacts_create(1, start=900, name="Mara")
    StaffTestNumber.objects.create(user=marketer, contact=mara)
    campaign = campaign_create(actor=Actor(user=marketer), name="Spring", template=spring_sale, segment=everyone, parameters=SALE_PARAMETERS)

    page = client_for(marketer).post(f"/admin/campaigns/campaign/{campaign.pk}/test-send/", follow=True).content.decode()

    assert "Test not sent" not in page
    (send,) = sandbox.sends()
    assert send["endpoint"] == "marketing_messages" and send["to"] == mara.phone.lstrip("+")
