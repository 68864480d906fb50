"""Personal details past their retention period are emptied or deleted, in bounded batches."""

from __future__ import annotations

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Campaign, Event, Message, MessageStatus
from consent.models import OptInForm, Purpose
from consent.retention import retention_apply
from consent.services import contact_upsert
from consent.tasks import retention_apply_task
from conversations.models import InboundMessage, OptInConfirmation
from whatsapp.models import WebhookDelivery, WebhookReceipt

pytestmark = pytest.mark.django_db

DAY = timezone.timedelta(days=1)


@pytest.fixture
def contact():
    return contact_upsert(phone="+4915123456789", name="Ana")[0]


def _ago(days: float):
    return timezone.now() - days * DAY


def _events(contact, count: int, *, days_ago: float) -> None:
    Event.objects.bulk_create([Event(contact=contact, name="product_viewed", properties={"n": n}, occurred_at=_ago(days_ago)) for n in range(count)])


def test_old_events_are_deleted_in_batches_of_the_configured_size(contact):
    _events(contact, 5, days_ago=settings.EVENT_RETENTION_DAYS + 1)
    _events(contact, 2, days_ago=settings.EVENT_RETENTION_DAYS - 1)

    with CaptureQueriesContext(connection) as queries:
        results = {r.kind: r for r in retention_apply(batch_size=2)}

    assert (results["events"].rows, results["events"].batches, results["events"].finished) == (5, 3, True)
    assert Event.objects.count() == 2
    deletes = [q["sql"] for q in queries if q["sql"].startswith('DELETE FROM "campaigns_event"')]
    assert len(deletes) == 3  # one bounded statement per batch, never one for the whole table


def test_finished_messages_keep_their_status_and_lose_their_details(contact):
    campaign = Campaign.objects.create(name="Old sale", status=Campaign.Status.COMPLETED)
    old = Message.objects.create(
        campaign=campaign, contact=contact, status=MessageStatus.READ, wamid="wamid.OLD", error_detail="",
        decision={"parameters": ["Ana"], "outcome": "send"}, created_at=_ago(settings.MESSAGE_DETAIL_RETENTION_DAYS + 1),
    )  # fmt: skip
    reply = Message.objects.create(kind=Message.Kind.REPLY, contact=contact, status=MessageStatus.FAILED, body="Hi Ana",
                                   error_detail="+4915123456789 unreachable", created_at=_ago(400))  # fmt: skip
    waiting = Message.objects.create(kind=Message.Kind.REPLY, contact=contact, status=MessageStatus.QUEUED, body="Hi", created_at=_ago(400))
    recent = Message.objects.create(kind=Message.Kind.REPLY, contact=contact, status=MessageStatus.READ, body="Hi", created_at=_ago(3))

    retention_apply()

    old.refresh_from_db(), reply.refresh_from_db(), waiting.refresh_from_db(), recent.refresh_from_db()
    assert (old.status, old.wamid, old.decision) == ("read", None, {})
    assert (reply.status, reply.body, reply.error_detail) == ("failed", "", "")
    assert (waiting.body, recent.body) == ("Hi", "Hi")  # not finished / not old enough
    assert Message.objects.filter(campaign=campaign, status="read").count() == 1  # the campaign's figures stay


def test_old_inbound_texts_are_emptied_and_the_rows_stay(contact):
    def inbound(wamid: str, days_ago: float) -> InboundMessage:
        return InboundMessage.objects.create(
            wamid=wamid, contact=contact, from_wa_id="4915123456789", type="text", text="my address is ...",
            sent_at=_ago(days_ago), received_at=_ago(days_ago), keyword_action="help",
        )  # fmt: skip

    old, recent = inbound("wamid.OLD", settings.INBOUND_TEXT_RETENTION_DAYS + 1), inbound("wamid.NEW", 1)

    retention_apply()

    old.refresh_from_db(), recent.refresh_from_db()
    assert (old.text, old.keyword_action, recent.text) == ("", "help", "my address is ...")


def test_processed_webhook_payloads_and_receipts_expire(contact):
    cutoff_days = settings.WHATSAPP_WEBHOOK_RETENTION_DAYS + 1
    old = WebhookDelivery.objects.create(body_sha256="a" * 64, body="{}", received_at=_ago(cutoff_days), processed_at=_ago(cutoff_days))
    waiting = WebhookDelivery.objects.create(body_sha256="b" * 64, body="{}", received_at=_ago(cutoff_days))
    WebhookReceipt.objects.create(key="preference:4915123456789:marketing_messages:stop:1", handled_at=_ago(cutoff_days))

    retention_apply()

    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [waiting.pk]
    assert not WebhookReceipt.objects.exists()
    assert old.pk not in WebhookDelivery.objects.values_list("pk", flat=True)


def test_sign_ups_never_confirmed_are_deleted_after_their_period(contact):
    form = OptInForm.objects.create(slug="old", business_name="Acme", notice_text="Yes, Acme may...", purpose=Purpose.objects.get(code="marketing"))

    def request(*, expired_days_ago: float, confirmed: bool = False) -> OptInConfirmation:
        return OptInConfirmation.objects.create(
            contact=contact, form=form, notice_text=form.notice_text, ip_address="203.0.113.9", expires_at=_ago(expired_days_ago),
            confirmed_at=_ago(expired_days_ago + 1) if confirmed else None,
        )  # fmt: skip

    old = request(expired_days_ago=settings.OPTIN_REQUEST_RETENTION_DAYS + 1)
    recent = request(expired_days_ago=settings.OPTIN_REQUEST_RETENTION_DAYS - 1)
    confirmed = request(expired_days_ago=settings.OPTIN_REQUEST_RETENTION_DAYS + 1, confirmed=True)

    retention_apply()

    assert set(OptInConfirmation.objects.values_list("pk", flat=True)) == {recent.pk, confirmed.pk}
    assert old.pk not in OptInConfirmation.objects.values_list("pk", flat=True)


def test_a_run_out_of_time_says_so_and_the_next_run_goes_on(contact):
    _events(contact, 3, days_ago=settings.EVENT_RETENTION_DAYS + 1)

    cut_short = {r.kind: r for r in retention_apply(time_budget_seconds=0)}
    assert (cut_short["events"].rows, cut_short["events"].finished) == (0, False)
    out = StringIO()
    call_command("apply_retention", "--batch-size", "2", stdout=out)

    assert "events: 3 rows in 2 batches (done)" in out.getvalue()
    assert not Event.objects.exists()


def test_the_periodic_task_is_scheduled_daily_and_applies_the_periods(contact, settings):
    settings.EVENT_RETENTION_DAYS = 10
    _events(contact, 1, days_ago=11)

    retention_apply_task()

    assert not Event.objects.exists()
    entry = settings.CELERY_BEAT_SCHEDULE["retention-apply"]
    assert (entry["task"], entry["schedule"]) == ("consent.tasks.retention_apply_task", 24 * 3600.0)
