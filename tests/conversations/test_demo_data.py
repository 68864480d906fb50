"""`make run`'s demo: run twice, it shows the promised product (and nothing twice)."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from campaigns.analytics import campaign_funnel
from campaigns.demo import FINISHED_CAMPAIGN, SKU7_SEGMENT, TRACKED_TEMPLATE, WAITING_CAMPAIGN
from campaigns.models import Campaign, Event, Message, Segment, StaffTestNumber
from campaigns.segments import segment_contacts
from consent.models import ConsentEvent, ConsentSource, ConsentState, ConsentStatus, Contact
from conversations.models import InboundMessage
from tests.factories import client_for
from whatsapp.models import MessageTemplate

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("demo")


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, demo_dir):
    """The demo, run twice, once for the module: the two runs take most of a minute. In a transaction
    rolled back after the module's last test; each test runs in a savepoint of its own inside it
    (pytest-django's), so what one test writes is gone before the next."""
    with (
        django_db_blocker.unblock(),
        override_settings(VAR_DIR=demo_dir, PUBLIC_BASE_URL="http://127.0.0.1:8000"),
        transaction.atomic(),
    ):
        call_command("demo_data", stdout=StringIO())
        first = _figures()
        call_command("demo_data", stdout=StringIO())
        yield first
        transaction.set_rollback(True)


def _figures() -> dict:
    return {
        "contacts": Contact.objects.count(), "consent events": ConsentEvent.objects.count(), "events": Event.objects.count(),
        "campaigns": Campaign.objects.count(), "messages": Message.objects.count(), "inbound": InboundMessage.objects.count(),
    }  # fmt: skip


def test_running_it_twice_adds_nothing_the_second_time(demo):
    assert _figures() == demo


def test_people_are_opted_in_from_several_sources_with_behaviour_over_30_days(demo):
    assert Contact.objects.count() >= 300
    sources = set(ConsentEvent.objects.filter(action="opt_in").values_list("source", flat=True))
    assert {ConsentSource.IMPORT, ConsentSource.API, ConsentSource.WEB_FORM} <= sources
    assert ConsentState.objects.filter(status=ConsentStatus.OPTED_IN).count() >= 250
    names = set(Event.objects.values_list("name", flat=True))
    assert {"product_viewed", "cart_added", "purchase"} <= names
    oldest = Event.objects.order_by("occurred_at").first().occurred_at
    assert timezone.now() - timedelta(days=31) < oldest < timezone.now() - timedelta(days=20)


def test_the_sku7_segment_has_people_and_the_finished_campaign_has_its_figures(demo):
    segment = Segment.objects.get(name=SKU7_SEGMENT)
    assert segment_contacts(segment.rules).count() > 0

    finished = Campaign.objects.get(name=FINISHED_CAMPAIGN)
    assert finished.status == Campaign.Status.COMPLETED and finished.segment == segment
    funnel = campaign_funnel(finished)
    assert funnel.targeted > 20
    assert funnel.targeted > funnel.sent > funnel.delivered > funnel.read > funnel.clicked > 0
    assert funnel.replied > 0 and funnel.opted_out > 0 and funnel.failed_total > 0


def test_one_campaign_waits_for_the_approver_and_the_approver_sees_it(demo):
    waiting = Campaign.objects.get(status=Campaign.Status.PENDING_APPROVAL)
    assert waiting.name == WAITING_CAMPAIGN
    home = client_for(User.objects.get(username="approver")).get("/admin/").content.decode()
    assert "Waiting for you" in home and WAITING_CAMPAIGN in home


def test_the_inbox_has_one_unanswered_message_inside_24_hours(demo):
    unanswered = InboundMessage.objects.filter(answered=False, sent_at__gte=timezone.now() - timedelta(hours=24))
    assert unanswered.count() == 1


def test_the_marketer_has_an_opted_in_test_number_and_a_template_points_at_this_installation(demo, demo_dir):
    link = StaffTestNumber.objects.select_related("contact", "user").get(user__username="marketer")
    assert ConsentState.objects.get(contact=link.contact).status == ConsentStatus.OPTED_IN

    template = MessageTemplate.objects.get(name=TRACKED_TEMPLATE)
    assert template.is_sendable and template.url_button_index is not None
    buttons = next(c for c in template.components if c["type"] == "BUTTONS")["buttons"]
    assert buttons[0]["url"] == "http://127.0.0.1:8000/r/{{1}}"
    # The sandbox starts with the same templates (scripts/run-dev.sh), so the sync keeps it.
    sandbox = json.loads((demo_dir / "demo-sandbox.json").read_text())
    assert TRACKED_TEMPLATE in {t["name"] for t in sandbox["templates"]}


def test_the_demo_pages_answer_without_errors(demo):
    marketer = client_for(User.objects.get(username="marketer"))
    finished = Campaign.objects.get(name=FINISHED_CAMPAIGN)
    for path in ("/", "/optin/acme/", "/admin/", "/admin/campaigns/campaign/dashboard/", f"/admin/campaigns/campaign/{finished.pk}/live/"):
        assert marketer.get(path).status_code == 200, path
