"""Support's pages: find a person by number, their one timeline, the inbox and answers in the 24-hour window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Click, Message
from consent.models import ConsentEvent, Contact
from consent.services import Evidence, consent_revoke
from conversations.models import InboundMessage
from core.audit import Actor
from core.models import AuditEntry
from tests.factories import campaign_with_messages, client_for, contacts_create, inbound

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(spring_sale):
    """Someone with a consent history, a campaign message, a click and a reply."""
    _, (message,) = campaign_with_messages(spring_sale, outcomes={"read": 1})
    Click.objects.create(message=message, at=timezone.now() - timedelta(minutes=2))
    inbound(message.contact, "Do you ship to Austria?", minutes_ago=1)
    return message.contact


@pytest.mark.parametrize("typed", ["{e164}", "{spaced}", "{digits}", "00{digits}", "{national}"])
def test_a_person_is_found_by_their_number_typed_any_way(support, person, settings, typed):
    settings.PHONE_DEFAULT_REGION = "DE"
    digits = person.phone[1:]
    text = typed.format(e164=person.phone, spaced=f"+{digits[:2]} {digits[2:5]} {digits[5:9]} {digits[9:]}", digits=digits, national="0" + digits[2:])
    response = client_for(support).get("/admin/support/find/", {"phone": text})
    assert response.status_code == 302 and response["Location"] == f"/admin/support/people/{person.pk}/"


def test_an_unknown_or_unreadable_number_is_explained(support, person):
    client = client_for(support)
    assert "No one with the number +4915199887766 is in Retarget." in client.get("/admin/support/find/", {"phone": "+49 151 99887766"}).content.decode()
    assert "is not a phone number we can read" in client.get("/admin/support/find/", {"phone": "12ab"}).content.decode()


def test_one_timeline_shows_consent_with_evidence_messages_with_decisions_replies_and_clicks_in_order(support, person):
    page = client_for(support).get(f"/admin/support/people/{person.pk}/").content.decode()
    assert page.index("Do you ship to Austria?") < page.index("Opened the link") < page.index("<strong>Campaign</strong>: <a")
    # A consent entry with its evidence, a message with its status and the decision behind it.
    assert "Yes, Acme may send me offers on WhatsApp, up to 4 a month." in page and "Notice version v1" in page
    assert "<strong>Read</strong>" in page and "Decision: send — Eligible" in page
    assert "Waiting for an answer" in page and "Free-text answers possible until" in page
    kinds = [chunk.split('"')[0] for chunk in page.split('class="rt-entry rt-entry-')[1:]]
    assert sorted(kinds) == ["click", "consent", "inbound", "message"]


def test_the_timeline_pages_back_in_time_at_the_same_cost(support, person, spring_sale, no_quiet_hours):
    client = client_for(support)
    url = f"/admin/support/people/{person.pk}/"
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for n in range(70):  # a person with a long history: replies, and opt-outs and opt-ins
        inbound(person, f"Message {n}", minutes_ago=100 + n, answered=True)
    for _ in range(3):
        consent_revoke(contact=person, source="support", evidence=Evidence(note="asked by phone"))
    with CaptureQueriesContext(connection) as many:
        first = client.get(url).content.decode()
    assert len(many.captured_queries) == len(few.captured_queries)
    assert first.count('class="rt-entry ') == 50 and "Message 0<" in first and "Message 69" not in first
    older = first.split('href="?before=')[1].split('"')[0]
    second = client.get(f"{url}?before={older}").content.decode()
    assert "Message 69" in second and "Message 0<" not in second
    # 77 entries in all: 50 on the first page, the rest on the second, which is the last.
    assert second.count('class="rt-entry ') == 27 and "Older entries" not in second


def test_recording_an_opt_out_from_the_timeline_comes_back_to_it(support, person):
    client = client_for(support)
    timeline = f"/admin/support/people/{person.pk}/"
    page = client.get(timeline).content.decode()
    link = f"/admin/consent/contact/{person.pk}/record-opt-out/?next=/admin/support/people/{person.pk}/"
    assert link in page.replace("%2F", "/")
    form = client.get(link).content.decode()
    assert "reason" in form
    refused = client.post(link, {"reason": ""})
    assert refused.status_code == 200 and not ConsentEvent.objects.filter(contact=person, action="opt_out").exists()
    response = client.post(link, {"reason": "Phoned on 3 March, ticket 4711"}, follow=True)
    assert response.redirect_chain[-1][0] == timeline
    page = response.content.decode()
    assert "Opt-out: recorded for" in page and 'id="consent-state">Opted out<' in page
    assert "Note: Phoned on 3 March, ticket 4711" in page and "Number on the do-not-message list" in page


def test_support_finds_export_and_erasure_on_the_timeline(support, person):
    page = client_for(support).get(f"/admin/support/people/{person.pk}/").content.decode()
    assert f'href="/admin/consent/contact/{person.pk}/export/"' in page
    assert f'href="/admin/consent/contact/{person.pk}/erase/"' in page
    assert "/u/" in page  # the person's unsubscribe link, to hand out on request


def test_an_answer_within_the_window_is_queued_and_marks_the_messages_answered(support, person, django_capture_on_commit_callbacks):
    client = client_for(support)
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(
            f"/admin/support/people/{person.pk}/reply/", {"body": "Yes, we ship to Austria.", "next": "/admin/support/inbox/"}
        )
    assert response["Location"] == "/admin/support/inbox/"
    reply = Message.objects.get(kind=Message.Kind.REPLY)
    assert (reply.contact, reply.body, reply.status) == (person, "Yes, we ship to Austria.", "queued")
    assert reply.decision["answered_by"] == "sue" and reply.decision["window_closes_at"]
    assert len(queued) == 1  # the send task, after commit
    assert not InboundMessage.objects.filter(contact=person, answered=False).exists()
    assert AuditEntry.objects.filter(action="support.reply", object_id=str(person.pk), actor=support).exists()


def test_after_24_hours_the_answer_is_refused_with_the_time_the_window_closed(support, spring_sale):
    (late,) = contacts_create(1, start=300)
    inbound(late, "Hello?", minutes_ago=25 * 60)
    client = client_for(support)
    page = client.get(f"/admin/support/people/{late.pk}/").content.decode()
    assert "24-hour window closed" in page and "Send answer" not in page
    response = client.post(f"/admin/support/people/{late.pk}/reply/", {"body": "Sorry for the wait"}, follow=True)
    closed = timezone.localtime(late.last_inbound_at + timedelta(hours=24)).strftime("%Y-%m-%d at %H:%M")
    assert f"Not sent: The 24-hour window for free-text answers closed on {closed}" in response.content.decode()
    assert not Message.objects.filter(kind=Message.Kind.REPLY).exists()
    (never,) = contacts_create(1, start=301)
    response = client.post(f"/admin/support/people/{never.pk}/reply/", {"body": "Hi"}, follow=True)
    assert "the person never wrote to us" in response.content.decode()
    assert "Write the answer first." in client.post(f"/admin/support/people/{late.pk}/reply/", {"body": "  "}, follow=True).content.decode()


def test_the_inbox_lists_newest_first_marks_the_unanswered_and_pages_back(support, spring_sale):
    people = contacts_create(3, start=400)
    inbound(people[0], "oldest, answered", minutes_ago=30, answered=True)
    inbound(people[1], "middle, waiting", minutes_ago=20)
    inbound(people[2], "newest, waiting", minutes_ago=10)
    InboundMessage.objects.create(wamid="w.old", contact=people[0], from_wa_id="1", type="text", text="a day ago", sent_at=timezone.now() - timedelta(days=1), answered=False)
    client = client_for(support)
    page = client.get("/admin/support/inbox/").content.decode()
    assert page.index("newest, waiting") < page.index("middle, waiting") < page.index("oldest, answered") < page.index("a day ago")
    assert page.count('<span class="rt-badge">Unanswered</span>') == 3
    assert 'Waiting for an answer <span class="rt-badge">3</span>' in page
    waiting = client.get("/admin/support/inbox/", {"show": "waiting"}).content.decode()
    assert "oldest, answered" not in waiting and "newest, waiting" in waiting
    # An answer form where a message waits and its writer's window is open (the day-old message's
    # writer wrote again 30 minutes ago, so it can be answered too).
    assert page.count("<summary>Answer</summary>") == 3


def test_the_inbox_pages_with_a_cursor_and_the_same_queries_whatever_its_size(support, spring_sale, settings):
    (person,) = contacts_create(1, start=500)
    client = client_for(support)
    for n in range(5):
        inbound(person, f"early {n}", minutes_ago=1000 + n)
    with CaptureQueriesContext(connection) as few:
        client.get("/admin/support/inbox/")
    for n in range(120):
        inbound(person, f"message {n}", minutes_ago=n + 1, answered=n % 2 == 0)
    with CaptureQueriesContext(connection) as many:
        first = client.get("/admin/support/inbox/").content.decode()
    assert len(many.captured_queries) <= len(few.captured_queries) + 2  # the badge and forms do not grow
    assert "message 0<" in first and "message 49<" in first and "message 50<" not in first
    older = first.split("&amp;before=")[1].split('"')[0]
    second = client.get(f"/admin/support/inbox/?show=all&before={older}").content.decode()
    assert "message 50<" in second and "message 49<" not in second


def test_an_erased_person_has_no_buttons_but_stays_on_the_do_not_message_list(support, person):
    from consent.rights import contact_erase

    contact_erase(contact=person, actor=Actor(user=support), reason="asked")
    page = client_for(support).get(f"/admin/support/people/{person.pk}/").content.decode()
    assert "data was erased on" in page and "Record opt-out" not in page and "Send answer" not in page
    assert Contact.objects.get(pk=person.pk).phone is None
