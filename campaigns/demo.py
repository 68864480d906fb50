"""Demo data of the campaigns layer (`make run`): templates, behaviour, the SKU-7 segment, a finished campaign
with its figures, one waiting for approval and the marketer's test number. Every function is idempotent.

The finished campaign is written, submitted and approved through the services; its sending is history, so
its messages are created directly with the times a send two days ago would have left, and their statuses
come in through the same function the status webhooks use.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User

from campaigns.models import Campaign, Click, Event, Message, MessageStatus, Segment, StaffTestNumber
from campaigns.segments import segment_contacts
from campaigns.services import (
    MAX_EVENTS_PER_BATCH,
    StatusReport,
    campaign_approve,
    campaign_create,
    campaign_snapshot_hash,
    campaign_submit,
    events_ingest,
    message_statuses_apply,
    segment_create,
)
from consent.models import Contact
from consent.services import contact_upsert
from core.audit import Actor
from whatsapp.models import MessageTemplate
from whatsapp.sandbox.catalog import default_templates
from whatsapp.template_sync import templates_store

DEMO_SEED = 15
TRACKED_TEMPLATE = "acme_comeback"
SKU7_SEGMENT = "Viewed SKU-7, did not buy"
FINISHED_CAMPAIGN = "Autumn comeback (SKU-7 viewers)"
WAITING_CAMPAIGN = "Winter boots preview"
TEST_PHONE = "+4915123459999"  # the marketer's own phone, for test sends
SKUS = [f"SKU-{n}" for n in range(1, 10)]
# Where `make run` starts the sandbox with the demo's templates (scripts/run-dev.sh: --config @<file>).
SANDBOX_CONFIG = "demo-sandbox.json"


def demo_tracked_template_definition() -> dict:
    """A marketing template whose link button points at this installation's click tracking (/r/<token>)."""
    link = settings.PUBLIC_BASE_URL.rstrip("/") + "/r/{{1}}"
    return {
        "id": "900000000000515",
        "name": TRACKED_TEMPLATE,
        "language": "de",
        "status": "APPROVED",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Noch da!"},
            {
                "type": "BODY",
                "text": "Hallo {{1}}, der {{2}} wartet noch auf dich: diese Woche 10 % Rabatt mit dem Code HERBST10.",
                "example": {"body_text": [["Ana", "Trail Runner"]]},
            },
            {"type": "FOOTER", "text": "Antworte STOP zum Abbestellen"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "URL", "text": "Zum Shop", "url": link, "example": [link.replace("{{1}}", "tok123")]},
                    {"type": "QUICK_REPLY", "text": "Stop promotions"},
                ],
            },
        ],
        "quality_score": {"score": "GREEN"},
        "rejected_reason": "NONE",
    }


def demo_templates() -> MessageTemplate:
    """Store the sandbox's templates plus the tracked one, and write them where the sandbox reads them at start."""
    templates = [*default_templates(), demo_tracked_template_definition()]
    Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
    (Path(settings.VAR_DIR) / SANDBOX_CONFIG).write_text(json.dumps({"templates": templates}, indent=1))
    templates_store(remote_templates=templates)
    return MessageTemplate.objects.get(name=TRACKED_TEMPLATE, language="de")


def demo_events(people: list[Contact], *, now: datetime) -> int:
    """Product views, carts and purchases over the last 30 days (once: none when the people have events)."""
    if Event.objects.filter(contact__in=people).exists():
        return 0
    rng = random.Random(DEMO_SEED + 2)
    items = []
    for index, contact in enumerate(people):
        # A quarter look at SKU-7 (the demo's hero product); most of them leave it in the shop.
        interests = rng.sample(SKUS, 2) + (["SKU-7"] if index % 4 == 0 else [])
        for sku in interests:
            viewed = now - timedelta(days=rng.uniform(1, 30), minutes=rng.uniform(0, 600))
            for view in range(rng.randint(1, 3)):
                items.append(_event(contact, "product_viewed", sku, viewed + timedelta(minutes=3 * view)))
            if rng.random() < 0.3:
                items.append(_event(contact, "cart_added", sku, viewed + timedelta(minutes=12)))
                if rng.random() < (0.15 if sku == "SKU-7" else 0.5):
                    items.append(_event(contact, "purchase", sku, viewed + timedelta(minutes=20), amount=round(rng.uniform(39, 149), 2)))
    for start in range(0, len(items), MAX_EVENTS_PER_BATCH):
        events_ingest(items=items[start : start + MAX_EVENTS_PER_BATCH])
    return len(items)


def _event(contact: Contact, name: str, sku: str, at: datetime, **extra: float) -> dict:
    return {"phone": contact.phone, "name": name, "properties": {"sku": sku, **extra}, "occurred_at": at.isoformat()}


def demo_segment(*, actor: Actor) -> Segment:
    existing = Segment.objects.filter(name=SKU7_SEGMENT).first()
    if existing is not None:
        return existing
    rules = {
        "all": [
            {"event": "product_viewed", "where": {"sku": "SKU-7"}, "within_days": 30},
            {"not": {"event": "purchase", "where": {"sku": "SKU-7"}, "within_days": 30}},
        ]
    }
    return segment_create(name=SKU7_SEGMENT, rules=rules, description="Looked at the Trail Runner (SKU-7) in the last 30 days and did not buy it.", actor=actor)


def demo_audience(segment: Segment, *, among: list[Contact]) -> list[Contact]:
    """The segment's members among ``among`` (people opted in long enough before the finished campaign)."""
    ids = {contact.pk for contact in among}
    return [contact for contact in segment_contacts(segment.rules).order_by("pk") if contact.pk in ids]


@dataclass(frozen=True)
class FinishedCampaign:
    campaign: Campaign
    messages: list[Message]


def _approved(name: str, *, template: MessageTemplate, segment: Segment, author: User, approver: User, send_at: datetime) -> Campaign:
    """A campaign written by ``author`` and approved by ``approver``, scheduled for ``send_at`` (in the future)."""
    campaign = campaign_create(
        actor=Actor(user=author), name=name, template=template, segment=segment,
        parameters=[{"field": "name", "fallback": "du"}, {"value": "Trail Runner"}],
        tracked_url="https://acme-shoes.example/trail-runner", send_at=send_at,
    )  # fmt: skip
    campaign_submit(campaign=campaign, actor=Actor(user=author))
    return campaign_approve(campaign=campaign, actor=Actor(user=approver))


def demo_finished_campaign(
    *, template: MessageTemplate, segment: Segment, audience: list[Contact], author: User, approver: User, now: datetime
) -> FinishedCampaign:
    """A campaign sent two days ago to ``audience``: delivered, read, failed and clicked (replies and opt-outs:
    conversations/demo.py). Once: a second run finds it and returns it."""
    campaign = Campaign.objects.filter(name=FINISHED_CAMPAIGN).first()
    if campaign is not None:
        return FinishedCampaign(campaign, list(campaign.messages.select_related("contact").order_by("accepted_at", "pk")))
    launched = now - timedelta(days=2, hours=3)
    # Approved for a moment still to come, so that approving starts nothing; then its sending becomes history.
    campaign = _approved(FINISHED_CAMPAIGN, template=template, segment=segment, author=author, approver=approver, send_at=now + timedelta(days=1))
    campaign.send_at, campaign.launched_at = launched, launched
    campaign.submitted_at, campaign.approved_at = launched - timedelta(hours=5), launched - timedelta(hours=2)
    campaign.status, campaign.completed_at = Campaign.Status.COMPLETED, launched + timedelta(minutes=40)
    campaign.created_at = launched - timedelta(days=1)
    campaign.approval_hash = campaign_snapshot_hash(campaign)
    campaign.save()

    rng = random.Random(DEMO_SEED + 3)
    messages, reports = [], []
    for index, contact in enumerate(audience):
        accepted = launched + timedelta(seconds=index * 6 + rng.uniform(0, 5))
        message = Message(
            campaign=campaign, contact=contact, kind=Message.Kind.CAMPAIGN, is_marketing=True, status=MessageStatus.ACCEPTED,
            wamid=f"wamid.demo.{campaign.pk}.{contact.pk}", created_at=launched, dispatched_at=accepted, accepted_at=accepted,
            attempts=1, decision={"outcome": "send", "reason": "eligible"}, pricing_category="marketing",
        )  # fmt: skip
        messages.append(message)
        roll = rng.random()
        if roll < 0.04:  # not on WhatsApp any more, or undeliverable
            reports.append(StatusReport(wamid=message.wamid or "", status="failed", at=accepted + timedelta(seconds=2), error_code=131026, error_title="Message undeliverable"))
            continue
        reports.append(StatusReport(wamid=message.wamid or "", status="sent", at=accepted + timedelta(seconds=1)))
        if roll < 0.08:  # phone off: sent, never delivered
            continue
        delivered = accepted + timedelta(seconds=rng.uniform(2, 90))
        reports.append(StatusReport(wamid=message.wamid or "", status="delivered", at=delivered))
        if roll < 0.70:
            reports.append(StatusReport(wamid=message.wamid or "", status="read", at=delivered + timedelta(minutes=rng.uniform(1, 600))))
    Message.objects.bulk_create(messages)
    message_statuses_apply(reports)
    stored = list(campaign.messages.select_related("contact").order_by("accepted_at", "pk"))
    clicks = [
        Click(message=message, at=message.read_at + timedelta(minutes=rng.uniform(0.5, 15)))
        for message in stored
        if message.read_at is not None and rng.random() < 0.2
    ]
    Click.objects.bulk_create(clicks)
    return FinishedCampaign(campaign, stored)


def demo_waiting_campaign(*, template: MessageTemplate, segment: Segment, author: User, now: datetime) -> Campaign:
    """A campaign the marketer submitted this morning: waiting for the approver."""
    campaign = Campaign.objects.filter(name=WAITING_CAMPAIGN).first()
    if campaign is None:
        campaign = campaign_create(
            actor=Actor(user=author), name=WAITING_CAMPAIGN, template=template, segment=segment,
            parameters=[{"field": "name", "fallback": "du"}, {"value": "Winterstiefel Nordkap"}],
            tracked_url="https://acme-shoes.example/winter", send_at=now + timedelta(days=2),
        )  # fmt: skip
    if campaign.status == Campaign.Status.DRAFT:
        campaign_submit(campaign=campaign, actor=Actor(user=author))
    return campaign


def demo_test_number(user: User) -> StaffTestNumber:
    """The marketer's own phone as their test number (opting it in is the marketer's own act: conversations/demo.py)."""
    contact, _ = contact_upsert(phone=TEST_PHONE, name=f"{user.get_username()} (own phone)", language="de")
    link, _ = StaffTestNumber.objects.update_or_create(user=user, defaults={"contact": contact})
    return link
