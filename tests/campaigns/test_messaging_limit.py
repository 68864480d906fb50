"""A campaign larger than the messaging limit Meta reported is spread over days instead of failing on day one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaigns import selectors
from campaigns.models import Campaign, Message, MessageStatus, Segment
from campaigns.services import campaign_create
from core.audit import Actor
from tests.campaigns.test_sending import SALE_PARAMETERS, eager, run  # noqa: F401 (the autouse fixture runs tasks eagerly)
from tests.factories import contacts_create, post_webhook, process_pending_deliveries

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]


def limit_reported(client, limit: str) -> None:
    """Meta's phone_number_quality_update, through the signed webhook endpoint."""
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "200000000000002", "time": 1764547200, "changes": [{"field": "phone_number_quality_update", "value": {
            "display_phone_number": "15550001111", "event": "DOWNGRADE", "max_daily_conversations_per_business": limit,
        }}]}],
    }  # fmt: skip
    assert post_webhook(client, body).status_code == 200
    process_pending_deliveries()


def test_the_dry_run_and_the_send_spread_a_campaign_over_the_days_the_limit_allows(client, sandbox, spring_sale, marketer, approver):
    limit_reported(client, "TIER_250")
    contacts_create(260)
    segment = Segment.objects.create(name="all", rules={"all": []})
    draft = campaign_create(actor=Actor(user=marketer), name="Big", template=spring_sale, segment=segment, parameters=SALE_PARAMETERS)

    dry_run = selectors.campaign_dry_run(draft)
    assert (dry_run.messaging_limit, dry_run.days_needed) == (250, 2)

    campaign = run(spring_sale, segment, marketer, approver)

    assert len(sandbox.sends()) == 250  # today's headroom, no more
    waiting = Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED)
    tomorrow = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    assert waiting.count() == 10 and all(m.send_after >= tomorrow for m in waiting)
    assert {m.skip_reason for m in waiting} == {""}  # deferred, not skipped
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENDING  # it goes on tomorrow


def test_without_a_reported_limit_nothing_is_held_back(sandbox, spring_sale, marketer, approver):
    contacts_create(30)
    segment = Segment.objects.create(name="all", rules={"all": []})
    campaign = run(spring_sale, segment, marketer, approver)
    assert len(sandbox.sends()) == 30 and Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED
