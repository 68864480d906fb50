"""The live page explains why messages wait (quiet hours, caps, WhatsApp holding back), and its
poll carries the bar, the funnel and the chart together."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone

from campaigns.models import FrequencyCapPolicy, Message, MessageStatus
from tests.factories import campaign_with_messages, client_for

pytestmark = pytest.mark.django_db


def _defer(messages: list[Message], reason: str, hours: float, **decision) -> None:
    until = timezone.now() + timedelta(hours=hours)
    Message.objects.filter(pk__in=[m.pk for m in messages]).update(
        send_after=until, decision={"outcome": "defer", "reason": reason, "deferred_until": until.isoformat(), **decision}
    )


@pytest.fixture
def waiting_campaign(spring_sale):
    FrequencyCapPolicy.objects.update_or_create(pk=1, defaults={"quiet_hours_start": time(21), "quiet_hours_end": time(9)})
    campaign, messages = campaign_with_messages(spring_sale, outcomes={"read": 2, "queued": 9})
    queued = [m for m in messages if m.status == MessageStatus.QUEUED]
    _defer(queued[:4], "quiet_hours_deferral", 5)
    _defer(queued[4:6], "frequency_cap", 20)
    _defer(queued[6:7], "eligible", 30, held_back={"at": timezone.now().isoformat(), "code": 131049})
    return campaign  # two queued messages are ready to go now


def test_the_progress_endpoint_explains_deferred_messages_by_reason(marketer, waiting_campaign):
    data = client_for(marketer).get(f"/admin/campaigns/campaign/{waiting_campaign.pk}/progress/").json()
    assert (data["waiting"], data["deferred"], data["ready"]) == (9, 7, 2)
    by_reason = {d["reason"]: d for d in data["deferrals"]}
    assert {reason: d["count"] for reason, d in by_reason.items()} == {"quiet_hours_deferral": 4, "frequency_cap": 2, "held_back": 1}
    assert by_reason["quiet_hours_deferral"]["text"] == "4 waiting for quiet hours to end at 09:00 in the recipient's time zone"
    assert by_reason["frequency_cap"]["text"].startswith("2 waiting for the frequency cap to allow another message (the first from ")
    assert by_reason["held_back"]["text"].startswith("1 held back by WhatsApp, retrying from ")
    # The time left runs at least until the last deferred message may go (the hold-back, in 30 hours).
    assert data["eta_seconds"] >= 30 * 3600 - 60 and data["eta_text"] == "30.0 h"


def test_the_live_page_lists_the_deferrals_and_the_poll_brings_funnel_and_chart(marketer, waiting_campaign):
    client = client_for(marketer)
    page = client.get(f"/admin/campaigns/campaign/{waiting_campaign.pk}/live/").content.decode()
    deferrals = page.split('id="progress-deferrals">')[1].split("</ul>")[0]
    assert "<li>4 waiting for quiet hours to end at 09:00 in the recipient&#x27;s time zone</li>" in deferrals
    assert 'id="progress-deferred">7<' in page
    light = client.get(f"/admin/campaigns/campaign/{waiting_campaign.pk}/progress/").json()
    assert "funnel_html" not in light and "chart_html" not in light
    full = client.get(f"/admin/campaigns/campaign/{waiting_campaign.pk}/progress/", {"full": "1"}).json()
    assert '<table class="rt-funnel">' in full["funnel_html"] and "still waiting (deferred or in flight)" in full["funnel_html"]
    assert "<svg" in full["chart_html"] and 'class="rt-chart"' in full["chart_html"]
    # What the page showed is what the poll renders.
    assert full["funnel_html"].strip() in page.split('<div id="funnel-table">')[1]


def test_nothing_waits_for_a_time_when_nothing_is_deferred(marketer, spring_sale, no_quiet_hours):
    campaign, _ = campaign_with_messages(spring_sale, outcomes={"read": 1, "queued": 3})
    data = client_for(marketer).get(f"/admin/campaigns/campaign/{campaign.pk}/progress/").json()
    assert (data["deferred"], data["ready"], data["deferrals"]) == (0, 3, [])
