"""Support's console: what a queued message will meet, times with their zone, who answered, assignment, canned replies."""

from __future__ import annotations

from datetime import time

import pytest

from campaigns.models import FrequencyCapPolicy
from consent.services import Evidence, consent_revoke
from conversations.models import CannedReply, ConversationAssignment
from core.models import AuditEntry
from tests.factories import campaign_with_messages, client_for, inbound

pytestmark = pytest.mark.django_db


def test_a_queued_message_to_an_opted_out_person_says_it_will_be_skipped(support, spring_sale, no_quiet_hours):
    _, (message,) = campaign_with_messages(spring_sale, outcomes={"queued": 1})
    person = message.contact
    page = client_for(support).get(f"/admin/support/people/{person.pk}/").content.decode()
    assert "will be skipped" not in page and "will wait" not in page
    consent_revoke(contact=person, source="support", evidence=Evidence(note="asked by phone"))
    page = client_for(support).get(f"/admin/support/people/{person.pk}/").content.decode()
    assert "Will be skipped: opted out" in page


def test_a_queued_message_in_quiet_hours_says_until_when_in_the_recipients_zone(support, spring_sale):
    # Quiet the whole day except one minute: whatever the hour, the person is in quiet hours.
    FrequencyCapPolicy.objects.update_or_create(
        pk=1, defaults={"quiet_hours_start": time(0, 0), "quiet_hours_end": time(23, 59)}
    )
    _, (message,) = campaign_with_messages(spring_sale, outcomes={"queued": 1})
    page = client_for(support).get(f"/admin/support/people/{message.contact.pk}/").content.decode()
    assert (
        "Will wait: quiet hours until " in page
        and f"23:59 {message.contact.time_zone} (the recipient&#x27;s time)" in page
    )


def test_every_time_on_the_timeline_and_inbox_shows_its_zone(support, spring_sale):
    _, (message,) = campaign_with_messages(spring_sale, outcomes={"read": 1})
    inbound(message.contact, "Hello there", minutes_ago=1)
    client = client_for(support)
    timeline = client.get(f"/admin/support/people/{message.contact.pk}/").content.decode()
    cells = [chunk.split("</td>")[0] for chunk in timeline.split('<td class="nowrap">')[1:]]
    assert cells and all(cell.endswith(" UTC") for cell in cells)
    assert "Free-text answers possible until" in timeline and timeline.split("Free-text answers possible until ")[
        1
    ].split("<")[0].endswith("UTC")
    inbox = client.get("/admin/support/inbox/").content.decode()
    assert inbox.split('<td class="nowrap">')[1].split("<")[0].endswith(" UTC")


def test_the_inbox_shows_the_answer_and_who_gave_it(support, spring_sale, django_capture_on_commit_callbacks):
    _, (message,) = campaign_with_messages(spring_sale, outcomes={"read": 1})
    inbound(message.contact, "Do you ship to Austria?", minutes_ago=1)
    client = client_for(support)
    with django_capture_on_commit_callbacks():
        client.post(f"/admin/support/people/{message.contact.pk}/reply/", {"body": "Yes, we ship to Austria."})
    inbox = client.get("/admin/support/inbox/", {"show": "answered"}).content.decode()
    assert "Do you ship to Austria?" in inbox and "Yes, we ship to Austria." in inbox
    assert "Answered by <strong>sue</strong>" in inbox


def test_a_conversation_is_assigned_and_unassigned_from_the_inbox_and_the_timeline(support, spring_sale, outsider):
    _, (message,) = campaign_with_messages(spring_sale, outcomes={"read": 1})
    person = message.contact
    inbound(person, "Anyone there?", minutes_ago=1)
    client = client_for(support)
    inbox = client.get("/admin/support/inbox/").content.decode()
    assert "Not assigned" in inbox and "Assign to me" in inbox
    response = client.post(
        f"/admin/support/people/{person.pk}/assign/", {"agent": "", "next": "/admin/support/inbox/"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/admin/support/inbox/"
    assert "Assigned to <strong>sue</strong>" in response.content.decode()
    assert ConversationAssignment.objects.get(contact=person).agent == support
    assert AuditEntry.objects.filter(
        action="support.assign", object_id=str(person.pk), actor=support, details__agent="sue"
    ).exists()
    # Someone who may not answer people cannot be given the conversation.
    refused = client.post(f"/admin/support/people/{person.pk}/assign/", {"agent": str(outsider.pk)}, follow=True)
    assert "Not assigned: otto may not answer people" in refused.content.decode()
    assert ConversationAssignment.objects.get(contact=person).agent == support
    timeline = client.get(f"/admin/support/people/{person.pk}/").content.decode()
    assert "Assigned to <strong>sue</strong>" in timeline and "Unassign" in timeline
    client.post(f"/admin/support/people/{person.pk}/assign/", {"unassign": "1"})
    assert not ConversationAssignment.objects.filter(contact=person).exists()
    assert AuditEntry.objects.filter(action="support.unassign", object_id=str(person.pk), actor=support).exists()
    assert "Not assigned" in client.get(f"/admin/support/people/{person.pk}/").content.decode()


def test_canned_replies_are_managed_in_the_admin_and_offered_in_the_reply_form(superuser, support, spring_sale):
    response = client_for(superuser).post(
        "/admin/conversations/cannedreply/add/",
        {"title": "Shipping", "body": "We ship to all EU countries within 3 days."},
    )
    assert response.status_code == 302 and CannedReply.objects.filter(title="Shipping").exists()
    _, (message,) = campaign_with_messages(spring_sale, outcomes={"read": 1})
    inbound(message.contact, "Where do you ship?", minutes_ago=1)
    page = client_for(support).get(f"/admin/support/people/{message.contact.pk}/").content.decode()
    assert 'data-body="We ship to all EU countries within 3 days.">Shipping</option>' in page
    assert 'data-target="reply-timeline"' in page and "support/canned.js" in page
