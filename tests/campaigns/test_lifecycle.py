# ruff: noqa: F811 (the workers' fixtures are imported, then named as arguments)
"""Account, template and error lifecycle with real workers, the sandbox as Meta and its webhooks.

What issue 13 asks to be shown: an account error pauses all sending after one answer; a bare 502
leaves the message UNKNOWN and never sends it twice; a template turned MARKETING mid-campaign needs
marketing consent from then on; a template paused by Meta pauses its campaign; unknown codes pause
after UNKNOWN_CODE_PAUSE_AFTER; 131049 is retried once, a day later; pricing is stored, priced and shown.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Message, MessageStatus, Segment
from campaigns.pricing import money, rate_card_current
from consent.models import Contact
from consent.services import ConsentChange, consent_record_many, contact_phone_fields
from core.models import AuditEntry
from tests.campaigns.test_workers import (  # noqa: F401 (fixtures)
    approved_via_api,
    finished,
    live,
    processes,
    sends_by_number,
    status_of,
    wait_until,
)
from tests.factories import NOTICE, api_client, contacts_create
from whatsapp.client import UNKNOWN_CODE_PAUSE_AFTER
from whatsapp.models import AccountProblem, MessageTemplate

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def segment(db) -> Segment:
    return Segment.objects.create(name="everyone", rules={"all": []})


def report_of(user, campaign_id: int) -> dict:
    return api_client(user).get(f"/api/v1/campaigns/{campaign_id}/report").json()


def test_a_payment_error_pauses_all_sending_after_one_answer_and_tells_the_admin(live, sandbox, marketer, approver, admin_client, segment):
    contacts_create(200)
    sandbox.configure(send_faults=[{"code": 131042}], webhook_url="")
    campaign_id = approved_via_api(marketer, approver, segment)

    campaign = finished(campaign_id, timeout=120)
    assert campaign.status == "paused" and "131042" in campaign.status_reason and "payment" in campaign.status_reason.lower()
    wait_until(lambda: not Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.SENDING).exists(), timeout=60, what="calls in flight")
    refused = sum(sandbox.refused().values())
    # Only the calls already in flight when the first answer came: one batch (50) per dispatcher (2).
    assert 1 <= refused <= 100
    counts = report_of(marketer, campaign_id)["counts"]
    assert counts["queued"] == 200 and counts["failed"] == 0  # everyone else still queued, no attempt lost
    (problem,) = AccountProblem.objects.filter(cleared_at__isnull=True)
    assert problem.code == 131042
    assert AuditEntry.objects.filter(action="whatsapp.account_problem").count() == 1
    page = admin_client.get("/admin/campaigns/campaign/dashboard/").content.decode()
    assert "all sending is paused" in page and "Error 131042" in page

    # Nobody resumes while the problem is open; a person clears it, then resumes.
    refused_resume = api_client(marketer).post(f"/api/v1/campaigns/{campaign_id}/resume")
    assert refused_resume.status_code == 400 and "clear it on the dashboard" in str(refused_resume.json())
    cleared = admin_client.post(f"/admin/campaigns/campaign/account-problems/{problem.pk}/clear/")
    assert cleared.status_code == 302 and AccountProblem.objects.get(pk=problem.pk).cleared_by
    sandbox.configure(send_faults=[])
    assert api_client(marketer).post(f"/api/v1/campaigns/{campaign_id}/resume").status_code == 200
    assert finished(campaign_id, timeout=120).status == "completed"
    assert len(sandbox.sends()) == 200 and max(sends_by_number(sandbox).values()) == 1


def test_an_out_of_band_account_error_pauses_every_sending_campaign(live, sandbox, marketer, approver, segment):
    contacts_create(600)
    sandbox.configure(latency=1.0)  # about 64 sends a second: the campaign takes ten seconds
    campaign_id = approved_via_api(marketer, approver, segment)
    wait_until(lambda: len(sandbox.sends()) >= 20, timeout=60, what="the first sends")
    sandbox.control("POST", "/_sandbox/notify", {"field": "errors", "code": 131063})

    wait_until(lambda: status_of(campaign_id) == "paused", timeout=60, what="the campaign to pause")
    assert "131063" in Campaign.objects.get(pk=campaign_id).status_reason
    assert AccountProblem.objects.get(cleared_at__isnull=True).source == "webhook error"
    assert AuditEntry.objects.filter(action="whatsapp.error", details__code=131063).exists()


def test_a_bare_502_leaves_the_message_unknown_and_never_sends_it_twice(live, sandbox, marketer, approver, segment):
    people = contacts_create(20)
    target = people[3].phone.lstrip("+")
    sandbox.configure(send_faults=[{"fault": "html_502", "number": target}])
    campaign_id = approved_via_api(marketer, approver, segment)

    assert finished(campaign_id, timeout=120).status == "completed"
    message = Message.objects.get(campaign_id=campaign_id, contact=people[3])
    assert message.status == MessageStatus.UNKNOWN and message.attempts == 1
    assert sum(sandbox.refused().values()) == 1  # one call, never repeated
    assert target not in {send["to"] for send in sandbox.sends()} and len(sandbox.sends()) == 19


def test_a_template_turned_marketing_mid_campaign_skips_people_without_marketing_consent(live, sandbox, marketer, approver, segment):
    contacts_create(300)
    without_consent = {c.phone for c in contacts_create(300, start=500, opted_in=False)}
    contacts_create(300, start=1000)  # people with consent after them too, whenever the change lands
    # About 32 sends a second (the campaign takes 20 s); only "sent" statuses, so the category webhook is not queued behind many.
    sandbox.configure(latency=2.0, delivered_rate=0.0)
    campaign_id = approved_via_api(marketer, approver, segment, template="order_shipped", parameters=[{"value": "A-1001"}])
    wait_until(lambda: len(sandbox.sends()) >= 30, timeout=60, what="the first sends")
    # The campaign crawls until the change has arrived (each call answered after 8 s, under the client's
    # 15 s read timeout), then runs on at full speed: on a loaded machine it could otherwise end before
    # the webhook is processed, leaving nobody to be checked under the new category. (A pause would not
    # do: resuming after the category changed sends the campaign back for approval.)
    sandbox.configure(latency=8.0)
    recategorised = {"field": "template_category_update", "template": "order_shipped", "new_category": "MARKETING"}
    sandbox.control("POST", "/_sandbox/notify", recategorised)
    template = MessageTemplate.objects.get(name="order_shipped", language="en_US")
    wait_until(lambda: MessageTemplate.objects.get(pk=template.pk).category == "MARKETING", timeout=120, what="the category change")
    sandbox.configure(latency=0.0)

    assert finished(campaign_id, timeout=180).status == "completed"
    # A batch checked before the change may still finish its calls; no send checked after it reached
    # anyone without marketing consent (each send's decision records the category it was checked under).
    sent_without_consent = Message.objects.filter(campaign_id=campaign_id, contact__phone__in=without_consent, dispatched_at__isnull=False)
    assert sent_without_consent.exclude(decision__template__category="UTILITY").count() == 0
    skipped = Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.SKIPPED, skip_reason="no_consent")
    assert skipped.count() > 0 and {m.contact.phone for m in skipped} <= without_consent
    # Sent after the change: counted toward the marketing caps, whatever was set when the rows were made.
    sent_as_marketing = Message.objects.filter(campaign_id=campaign_id, decision__template__category="MARKETING", dispatched_at__isnull=False)
    assert sent_as_marketing.exists() and all(m.is_marketing for m in sent_as_marketing)
    assert AuditEntry.objects.filter(action="campaign.template_category", object_id=str(campaign_id)).exists()


def test_a_template_paused_by_meta_pauses_its_campaign_until_a_person_resumes(live, sandbox, marketer, approver, segment):
    contacts_create(30)
    # Scheduled: a send would meet the paused template first (132015, tested in test_workers); here the webhook does it.
    campaign_id = approved_via_api(marketer, approver, segment, send_at=(timezone.now() + timedelta(hours=1)).isoformat())
    assert status_of(campaign_id) == "scheduled"
    sandbox.control("POST", "/_sandbox/notify", {"field": "message_template_status_update", "template": "spring_sale", "event": "PAUSED", "reason": "LOW_QUALITY"})

    wait_until(lambda: status_of(campaign_id) == "paused", timeout=60, what="the campaign to pause")
    assert "paused by WhatsApp" in Campaign.objects.get(pk=campaign_id).status_reason
    sandbox.control("POST", "/_sandbox/notify", {"field": "message_template_status_update", "template": "spring_sale", "event": "APPROVED"})
    wait_until(lambda: MessageTemplate.objects.get(name="spring_sale", language="en_US").status == "APPROVED", timeout=30, what="re-approval")
    time.sleep(2)  # several ticks of beat
    assert status_of(campaign_id) == "paused"  # re-approval does not resume it by itself


def test_unknown_error_codes_pause_the_campaign_after_a_few(live, sandbox, marketer, approver, segment):
    contacts_create(100)
    sandbox.configure(send_faults=[{"code": 139999}], webhook_url="")
    campaign_id = approved_via_api(marketer, approver, segment)

    campaign = finished(campaign_id, timeout=120)
    assert campaign.status == "paused" and "139999" in campaign.status_reason
    wait_until(lambda: not Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.SENDING).exists(), timeout=60, what="calls in flight")
    messages = Message.objects.filter(campaign_id=campaign_id)
    assert messages.filter(status=MessageStatus.FAILED).count() == 0  # nobody's attempts used up
    assert sum(sandbox.refused().values()) >= UNKNOWN_CODE_PAUSE_AFTER
    assert max(messages.values_list("attempts", flat=True)) <= 1


def test_a_held_back_message_is_retried_once_a_day_later_and_a_second_hold_back_fails_it(live, sandbox, marketer, approver, admin_client, segment):
    people = contacts_create(5)
    held = people[2]
    sandbox.configure(send_faults=[{"code": 131049, "number": held.phone.lstrip("+"), "times": 1}])
    started = timezone.now()
    campaign_id = approved_via_api(marketer, approver, segment)

    message = wait_until(
        lambda: Message.objects.filter(campaign_id=campaign_id, contact=held, decision__has_key="held_back", status=MessageStatus.QUEUED).first(),
        timeout=60, what="the hold-back",
    )  # fmt: skip
    assert started + timedelta(hours=24) <= message.send_after <= timezone.now() + timedelta(hours=24)
    report = report_of(marketer, campaign_id)
    assert report["held_back"]["count"] == 1 and report["status"] == "sending"
    page = admin_client.get(f"/admin/campaigns/campaign/{campaign_id}/live/").content.decode()
    assert "Held back by WhatsApp, retrying on" in page

    # A day later (moved forward here): the retry goes through the send-time check and is held back again.
    sandbox.configure(send_faults=[])  # the same rule again would count on from its first use
    sandbox.configure(send_faults=[{"code": 131049, "number": held.phone.lstrip("+"), "times": 1}])
    Message.objects.filter(pk=message.pk).update(send_after=timezone.now())
    assert finished(campaign_id, timeout=120).status == "completed"
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and message.error_code == 131049
    assert sandbox.refused() and sum(sandbox.refused().values()) == 2
    assert held.phone.lstrip("+") not in {send["to"] for send in sandbox.sends()}


def test_pricing_from_status_webhooks_is_stored_and_shown(live, sandbox, marketer, approver, admin_client, segment):
    contacts_create(10)
    sandbox.configure(pricing_category="marketing_lite", pricing_type="regular")
    campaign_id = approved_via_api(marketer, approver, segment)
    finished(campaign_id, timeout=120)

    wait_until(
        lambda: Message.objects.filter(campaign_id=campaign_id, pricing_category="marketing_lite").count() == 10,
        timeout=60, what="pricing from the status webhooks",
    )  # fmt: skip
    message = Message.objects.filter(campaign_id=campaign_id).first()
    assert (message.pricing_type, message.pricing_model, message.pricing_billable) == ("regular", "PMP", True)
    assert report_of(marketer, campaign_id)["sent_by_pricing_category"] == {"marketing_lite": 10}
    # Priced at the marketing rate of the recipients' market (German numbers) once delivered.
    card = rate_card_current()
    expected = str(money(card.rate(card.market_for("DE"), "marketing") * 10))
    wait_until(lambda: report_of(marketer, campaign_id)["cost"]["total"] == expected, timeout=60, what="the delivered messages priced")
    page = admin_client.get(f"/admin/campaigns/campaign/{campaign_id}/live/").content.decode()
    assert "Sent messages by pricing category" in page and "marketing_lite" in page
    assert f'<div class="rt-figure" id="actual-cost">{card.currency} {expected}</div>' in page


def test_a_us_number_gets_no_marketing_template(live, sandbox, marketer, approver, segment):
    contacts_create(3)
    us = Contact.objects.create(name="Sam", phone="+12025550123", **contact_phone_fields("+12025550123"))
    assert us.country == "US"
    consent_record_many(changes=[ConsentChange(contact=us, action="opt_in", source="web_form", evidence=NOTICE)])
    campaign_id = approved_via_api(marketer, approver, segment)
    assert finished(campaign_id, timeout=60).status == "completed"
    message = Message.objects.get(campaign_id=campaign_id, contact=us)
    assert (message.status, message.skip_reason) == (MessageStatus.SKIPPED, "us_marketing_blocked")
    assert len(sandbox.sends()) == 3
