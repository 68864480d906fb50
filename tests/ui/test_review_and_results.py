"""The approver's review, the live page (progress, controls), the results (funnel, chart) and the CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.analytics import campaign_funnel, campaign_progress
from campaigns.models import Campaign, Click
from campaigns.services import campaign_create, campaign_submit
from campaigns.variants import CONTROL, group_of
from consent.models import Contact
from consent.services import consent_revoke
from core.audit import Actor
from tests.factories import campaign_with_messages, client_for, contacts_create, inbound, phone

pytestmark = pytest.mark.django_db

PARAMETERS = [{"field": "name", "fallback": "there"}, {"value": "20%"}]


@pytest.fixture
def submitted(marketer, spring_sale, everyone, no_quiet_hours) -> Campaign:
    contacts_create(4)
    contacts_create(2, start=50, opted_in=False)
    campaign = campaign_create(actor=Actor(user=marketer), name="Spring", template=spring_sale, segment=everyone, parameters=PARAMETERS)
    return campaign_submit(campaign=campaign, actor=Actor(user=marketer))


def test_the_approver_sees_the_dry_run_and_samples_and_approves(approver, submitted, django_capture_on_commit_callbacks):
    client = client_for(approver)
    url = f"/admin/campaigns/campaign/{submitted.pk}/review/"
    page = client.get(url).content.decode()
    assert '<div class="rt-figure">6</div><div class="rt-caption">in the segment</div>' in page
    assert '<div class="rt-figure" id="dry-run-eligible">4</div>' in page
    assert "<td>Never opted in</td><td class=\"rt-num\">2</td>" in page
    assert "Hi Person 0, our spring sale is on: 20% off everything until Sunday." in page  # a rendered sample
    assert page.count('<div class="rt-quote">') == 4  # the eligible ones, one sample each
    assert ">Approve</button>" in page and 'name="comment"' in page

    with django_capture_on_commit_callbacks() as launched:
        response = client.post(
            f"/admin/campaigns/campaign/{submitted.pk}/lifecycle/approve/", {"next": f"/admin/campaigns/campaign/{submitted.pk}/live/"}
        )
    assert response["Location"] == f"/admin/campaigns/campaign/{submitted.pk}/live/"
    submitted.refresh_from_db()
    assert (submitted.status, submitted.approved_by) == ("scheduled", approver)
    # The launch is queued once the approval is committed (besides the author's e-mail).
    assert sum("_launch_enqueue" in callback.__qualname__ for callback in launched) == 1


def test_the_review_counts_the_hold_out_apart_from_those_who_would_receive_it(approver, submitted):
    contacts_create(16, start=100)  # 20 opted in: whatever the ids, the hash holds out some and not all
    Campaign.objects.filter(pk=submitted.pk).update(control_percent=50)
    submitted.refresh_from_db()
    opted_in = list(Contact.objects.exclude(phone__in=[phone(50), phone(51)]).values_list("pk", flat=True))  # the fixture's two without
    held_out = sum(group_of(submitted, pk) == CONTROL for pk in opted_in)
    assert len(opted_in) == 20 and 0 < held_out < 20
    page = client_for(approver).get(f"/admin/campaigns/campaign/{submitted.pk}/review/").content.decode()
    assert f'<div class="rt-figure" id="dry-run-eligible">{20 - held_out}</div>' in page
    assert f'<div class="rt-figure" id="dry-run-held-out">{held_out}</div><div class="rt-caption">held out (50% control group): never messaged</div>' in page


def test_a_rejection_needs_a_comment_and_goes_back_to_the_author(approver, submitted):
    client = client_for(approver)
    review = f"/admin/campaigns/campaign/{submitted.pk}/review/"
    response = client.post(f"/admin/campaigns/campaign/{submitted.pk}/lifecycle/reject/", {"comment": " ", "next": review}, follow=True)
    assert "a rejection needs a comment" in response.content.decode()
    assert Campaign.objects.get(pk=submitted.pk).status == "pending_approval"
    client.post(f"/admin/campaigns/campaign/{submitted.pk}/lifecycle/reject/", {"comment": "Name the products", "next": review})
    submitted.refresh_from_db()
    assert (submitted.status, submitted.rejection_comment) == ("draft", "Name the products")
    assert "“Name the products”" in client.get(review).content.decode()


def test_the_author_is_told_a_second_person_must_approve(marketer, submitted):
    from django.contrib.auth.models import Group

    marketer.groups.add(Group.objects.get(name="Approver"))
    page = client_for(marketer).get(f"/admin/campaigns/campaign/{submitted.pk}/review/").content.decode()
    assert "You wrote this campaign, so another approver must approve it (four eyes)." in page
    assert ">Approve</button>" not in page


def test_a_next_address_off_this_site_is_ignored(approver, submitted):
    response = client_for(approver).post(
        f"/admin/campaigns/campaign/{submitted.pk}/lifecycle/reject/", {"comment": "No", "next": "https://evil.example/"}
    )
    assert response["Location"] == f"/admin/campaigns/campaign/{submitted.pk}/change/"


def test_the_progress_endpoint_reports_sent_of_total_and_the_controls_allowed(marketer, approver, spring_sale):
    campaign, _ = campaign_with_messages(spring_sale, outcomes={"read": 3, "accepted": 2, "skipped:no_consent": 1, "failed:131026": 1, "queued": 3})
    data = client_for(marketer).get(f"/admin/campaigns/campaign/{campaign.pk}/progress/").json()
    assert {k: data[k] for k in ("status", "total", "done", "sent", "skipped", "failed", "waiting", "percent")} == {
        "status": "sending", "total": 10, "done": 7, "sent": 5, "skipped": 1, "failed": 1, "waiting": 3, "percent": 70,
    }  # fmt: skip
    assert data["rate_per_second"] is not None and data["eta_seconds"] is not None and data["eta_text"]
    assert data["actions"] == ["pause", "cancel"]
    assert client_for(approver).get(f"/admin/campaigns/campaign/{campaign.pk}/progress/").json()["actions"] == []


def test_pause_resume_and_cancel_from_the_live_page(marketer, spring_sale, django_capture_on_commit_callbacks):
    campaign, _ = campaign_with_messages(spring_sale, outcomes={"accepted": 1, "queued": 2})
    client = client_for(marketer)
    live = f"/admin/campaigns/campaign/{campaign.pk}/live/"
    page = client.get(live).content.decode()
    assert 'data-action="pause">' in page and 'data-action="resume" hidden>' in page
    assert client.post(f"/admin/campaigns/campaign/{campaign.pk}/lifecycle/pause/", {"next": live})["Location"] == live
    assert Campaign.objects.get(pk=campaign.pk).status == "paused"
    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/progress/").json()["actions"] == ["resume", "cancel"]
    with django_capture_on_commit_callbacks():
        client.post(f"/admin/campaigns/campaign/{campaign.pk}/lifecycle/resume/", {"next": live})
    assert Campaign.objects.get(pk=campaign.pk).status == "sending"
    client.post(f"/admin/campaigns/campaign/{campaign.pk}/lifecycle/cancel/", {"next": live})
    assert Campaign.objects.get(pk=campaign.pk).status == "cancelled"
    assert campaign_progress(Campaign.objects.get(pk=campaign.pk)).waiting == 0  # the queued ones are skipped


def test_the_funnel_counts_each_outcome_and_attributes_replies_and_opt_outs(marketer, spring_sale):
    campaign, messages = campaign_with_messages(
        spring_sale, outcomes={"read": 4, "delivered": 2, "accepted": 1, "skipped:no_consent": 2, "skipped:opted_out": 1, "failed:131026": 1, "failed:131049": 1, "queued": 1}
    )  # fmt: skip
    read = messages[:4]
    Click.objects.bulk_create([Click(message=read[0]), Click(message=read[0]), Click(message=read[1])])
    inbound(read[0].contact, "Is it on for shoes too?", minutes_ago=1)
    inbound(read[1].contact, "STOP", minutes_ago=1, keyword_action="opt_out")  # an opt-out, not a reply
    consent_revoke(contact=read[1].contact, source="inbound_keyword")
    consent_revoke(contact=read[2].contact, source="unsubscribe_link")
    # Not this campaign's doing: someone it never messaged, and a reply from before its message.
    (stranger,) = contacts_create(1, start=700)
    inbound(stranger, "Hello", minutes_ago=1)
    consent_revoke(contact=stranger, source="support")
    inbound(read[3].contact, "Earlier question", minutes_ago=60 * 24)

    funnel = campaign_funnel(campaign)
    assert (funnel.targeted, funnel.sent, funnel.delivered, funnel.read) == (13, 7, 6, 4)
    assert (funnel.clicked, funnel.clicks, funnel.replied, funnel.opted_out) == (2, 3, 1, 2)
    assert funnel.skipped == {"no_consent": 2, "opted_out": 1}
    assert funnel.failed == {"131026: Error 131026": 1, "131049: Error 131049": 1}
    assert funnel.waiting == 1

    page = client_for(marketer).get(f"/admin/campaigns/campaign/{campaign.pk}/live/").content.decode()
    assert "<td>Clicked</td><td class=\"rt-num\">2</td>" in page and "3 clicks in all" in page
    assert "<td>Opted out</td><td class=\"rt-num\">2</td>" in page and "· Never opted in" in page
    assert "· 131049: Error 131049" in page
    # The chart: server-drawn SVG with a line for sends and one for reads, no script, no external file.
    assert '<svg class="rt-chart"' in page and 'polyline class="series-sent"' in page and 'polyline class="series-read"' in page


def test_the_chart_counts_sends_and_reads_per_minute(marketer, spring_sale):
    from campaigns.analytics import campaign_time_series

    campaign, messages = campaign_with_messages(spring_sale, outcomes={"read": 5, "accepted": 3})
    series = campaign_time_series(campaign)
    assert series.unit == "minute"
    assert sum(series.series["sent"]) == 8 and sum(series.series["read"]) == 5
    assert len(series.buckets) == len(series.series["sent"]) and series.buckets == sorted(series.buckets)


def test_the_csv_export_streams_every_recipient_and_defuses_formulas(marketer, spring_sale):
    campaign, messages = campaign_with_messages(spring_sale, outcomes={"read": 2, "skipped:no_consent": 1})
    Contact.objects.filter(pk=messages[0].contact_id).update(name='=HYPERLINK("https://evil.example","click")')
    Contact.objects.filter(pk=messages[1].contact_id).update(name="@SUM(1+1)")
    Click.objects.create(message=messages[0])
    response = client_for(marketer).get(f"/admin/campaigns/campaign/{campaign.pk}/export.csv")
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"] == f'attachment; filename="campaign-{campaign.pk}-recipients.csv"'
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["contact_id"] for row in rows] == [str(m.contact_id) for m in sorted(messages, key=lambda m: m.contact_id)]
    first = rows[0]
    assert first["name"] == '\'=HYPERLINK("https://evil.example","click")' and rows[1]["name"] == "'@SUM(1+1)"
    assert first["phone"] == "'" + messages[0].contact.phone  # a leading + would start a formula too
    assert (first["status"], first["clicks"], rows[2]["skip_reason"]) == ("read", "1", "no_consent")
    assert first["read_at"].startswith(str(timezone.now().year))


def test_the_csv_is_written_line_by_line_from_a_database_cursor(marketer, spring_sale, django_assert_max_num_queries):
    campaign, _ = campaign_with_messages(spring_sale, outcomes={"read": 30})
    from campaigns.analytics import campaign_export_rows
    from campaigns.exports import csv_stream

    lines = csv_stream(["contact_id"], ([row[0]] for row in campaign_export_rows(campaign, chunk_size=10)))
    assert next(lines).startswith("contact_id")
    with django_assert_max_num_queries(1):  # one cursor, read in chunks of 10: never all rows at once
        assert len(list(lines)) == 30


def test_cells_that_spreadsheets_would_run_get_a_quote():
    from campaigns.exports import spreadsheet_safe

    for text in ("=1+1", "+49", "-2", "@cmd", "\tx", "\rx"):
        assert spreadsheet_safe(text) == "'" + text
    assert (spreadsheet_safe("Ana"), spreadsheet_safe(None), spreadsheet_safe(-5), spreadsheet_safe("a=b")) == ("Ana", "", "-5", "a=b")


def test_the_campaign_pages_cost_the_same_queries_for_few_or_many_recipients(marketer, spring_sale, no_quiet_hours):
    client = client_for(marketer)
    costs = {}
    for size in (5, 300):
        campaign, messages = campaign_with_messages(spring_sale, outcomes={"read": size, "skipped:no_consent": size, "queued": size}, name=f"c{size}")
        Click.objects.bulk_create([Click(message=m) for m in messages[:size]])
        for m in messages[:size]:
            inbound(m.contact, "Hi", minutes_ago=1)
        pages = {
            "live": f"/admin/campaigns/campaign/{campaign.pk}/live/",
            "progress": f"/admin/campaigns/campaign/{campaign.pk}/progress/",
            "review": f"/admin/campaigns/campaign/{campaign.pk}/review/",
        }
        # The first view finds where the campaign's period starts in the ledger and the inbox
        # (a binary search: logarithmic in the table's size); every later view reuses it. Each
        # page is viewed once first, so per-process caches (our sending numbers) are warm too.
        for url in pages.values():
            assert client.get(url).status_code == 200
        for name, url in pages.items():
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200
            costs[(name, size)] = len(queries.captured_queries)
    for name in ("live", "progress", "review"):
        assert costs[(name, 5)] == costs[(name, 300)], (name, costs)
    assert costs[("progress", 300)] <= 8


def test_a_draft_has_nothing_sent_yet(marketer, spring_sale):
    campaign, _ = campaign_with_messages(spring_sale, outcomes={}, status=Campaign.Status.DRAFT, launched_at=None)
    page = client_for(marketer).get(f"/admin/campaigns/campaign/{campaign.pk}/live/").content.decode()
    assert "Nothing sent yet." in page
    assert campaign_progress(campaign).as_dict()["percent"] == 0
    assert timezone.now() - campaign.created_at < timedelta(minutes=1)
