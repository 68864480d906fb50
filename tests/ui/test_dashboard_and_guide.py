"""The dashboard's figures and the built-in guide, both linked from the admin's home."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.analytics import dashboard, first_id_since
from campaigns.models import FrequencyCapPolicy
from consent.models import ConsentEvent
from consent.services import consent_revoke
from tests.factories import campaign_with_messages, client_for, contacts_create
from tests.tampering import triggers_disabled

pytestmark = pytest.mark.django_db


def recorded_days_ago(events, days: int) -> None:
    """Move ledger entries back in time, as if recorded ``days`` ago (ids keep their order).

    Only around the ledger's append-only guards, as the database owner (the chain no longer verifies).
    """
    with triggers_disabled(ConsentEvent):
        QuerySet(ConsentEvent).filter(pk__in=[e.pk for e in events]).update(recorded_at=timezone.now() - timedelta(days=days))


def test_the_admin_home_links_the_dashboard_the_pages_of_each_role_and_the_guide(marketer, support, staffer):
    home = client_for(marketer).get("/admin/").content.decode()
    for link in ("/admin/campaigns/campaign/dashboard/", "/admin/campaigns/campaign/build/", "/admin/support/find/", "/admin/guide/"):
        assert f'href="{link}"' in home
    assert 'href="/admin/support/inbox/"' not in home
    assert 'href="/admin/support/inbox/"' in client_for(support).get("/admin/").content.decode()
    bare = client_for(staffer).get("/admin/").content.decode()
    assert 'href="/admin/guide/"' in bare and "/admin/campaigns/campaign/build/" not in bare


def test_opted_in_contacts_over_time_end_at_todays_exact_figure(marketer):
    old = contacts_create(5, start=0)  # opted in, as if 10 days ago
    recorded_days_ago(list(ConsentEvent.objects.filter(contact__in=old)), 10)
    recent = contacts_create(3, start=10)  # opted in 2 days ago
    recorded_days_ago(list(ConsentEvent.objects.filter(contact__in=recent)), 2)
    consent_revoke(contact=old[0], source="support")  # today

    figures = dashboard()
    assert figures.opted_in_now == 7
    series = dict(zip(figures.opted_in_days, figures.opted_in_series, strict=True))
    today = timezone.localdate()
    assert series[today] == 7
    assert series[today - timedelta(days=1)] == 8  # before today's opt-out
    assert series[today - timedelta(days=2)] == 8
    assert series[today - timedelta(days=3)] == 5  # before the three recent opt-ins
    assert series[today - timedelta(days=11)] == 0
    assert (sum(figures.opt_ins_per_day), sum(figures.opt_outs_per_day)) == (8, 1)
    page = client_for(marketer).get("/admin/campaigns/campaign/dashboard/").content.decode()
    assert '<div class="rt-figure" id="opted-in-now">7</div>' in page and 'polyline class="series-sent"' in page


def test_opt_out_rate_per_campaign_and_messages_by_outcome(marketer, spring_sale):
    campaign, messages = campaign_with_messages(spring_sale, outcomes={"read": 8, "failed:131026": 1, "skipped:no_consent": 1})
    for message in messages[:2]:
        consent_revoke(contact=message.contact, source="inbound_keyword")
    figures = dashboard()
    (row,) = figures.campaign_opt_outs
    assert (row.campaign, row.sent, row.opted_out, row.rate) == (campaign, 8, 2, 25.0)
    launch_day = figures.status_days.index(timezone.localdate(campaign.launched_at))  # launched 10 minutes ago
    assert {name: values[launch_day] for name, values in figures.status_series.items()} == {
        "sent": 0, "delivered": 0, "read": 8, "failed": 1, "skipped": 1, "waiting": 0,
    }  # fmt: skip
    page = client_for(marketer).get("/admin/campaigns/campaign/dashboard/").content.decode()
    assert '<td class="rt-num">25.0%</td>' in page and "rect class=\"series-read\"" in page


def test_template_statuses_are_listed(marketer, templates):
    page = client_for(marketer).get("/admin/campaigns/campaign/dashboard/").content.decode()
    assert "restock_alert" in page and "Paused</span>" in page
    assert dict(dashboard().templates_by_status)["APPROVED"] == 9


def test_the_dashboard_is_computed_at_most_once_per_period(marketer, spring_sale, settings):
    settings.DASHBOARD_CACHE_SECONDS = 60
    cache.delete("retarget:dashboard")
    client = client_for(marketer)
    campaign_with_messages(spring_sale, outcomes={"read": 3})
    with CaptureQueriesContext(connection) as first:
        client.get("/admin/campaigns/campaign/dashboard/")
    with CaptureQueriesContext(connection) as second:
        page = client.get("/admin/campaigns/campaign/dashboard/").content.decode()
    assert len(second.captured_queries) < len(first.captured_queries) - 5
    assert '<td class="rt-num">3</td>' in page  # the figures, from the cache
    cache.delete("retarget:dashboard")


def test_finding_the_first_ledger_entry_of_a_period_skips_gaps_in_ids():
    contacts = contacts_create(12)
    events = list(ConsentEvent.objects.filter(contact__in=contacts).order_by("pk"))
    for index, event in enumerate(events):
        recorded_days_ago([event], 12 - index)  # one a day, oldest first
    moment = timezone.now() - timedelta(days=4, hours=12)
    assert first_id_since(ConsentEvent, "recorded_at", moment) == events[8].pk
    assert first_id_since(ConsentEvent, "recorded_at", timezone.now() + timedelta(minutes=1)) is None
    assert first_id_since(ConsentEvent, "recorded_at", timezone.now() - timedelta(days=30)) == events[0].pk


def test_the_guide_explains_the_rules_with_this_installations_values(staffer, settings):
    FrequencyCapPolicy.objects.update_or_create(
        pk=1, defaults={"max_per_day": 2, "max_per_week": 5, "quiet_hours_start": time(22), "quiet_hours_end": time(8)}
    )
    settings.WHATSAPP_OPTOUT_KEYWORDS = ["HALT"]
    settings.CAMPAIGN_SEND_RATE = 40.0
    page = client_for(staffer).get("/admin/guide/").content.decode()
    assert '<strong id="guide-max-per-day">2</strong> marketing messages a day' in page
    assert '<strong id="guide-max-per-week">5</strong> in 7 days' in page
    assert '<strong id="guide-quiet-hours">22:00 and 08:00</strong>' in page
    assert "<strong>STOP</strong>" in page and "<strong>HALT</strong>" in page and "<strong>START</strong>" in page
    assert "about 40 messages a second" in page
    for topic in ('id="consent"', 'id="opt-outs"', 'id="caps"', 'id="quiet-hours"', 'id="approval"'):
        assert topic in page
    FrequencyCapPolicy.objects.filter(pk=1).update(quiet_hours_start=time(0), quiet_hours_end=time(0))
    assert "Quiet hours are <strong>off</strong>" in client_for(staffer).get("/admin/guide/").content.decode()
