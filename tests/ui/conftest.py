"""Helpers for the admin pages and public links: campaigns with messages in every state, clients per role."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, Message, MessageStatus, Segment
from campaigns.services import campaign_snapshot_hash
from consent.models import Contact
from tests.campaigns.conftest import contacts_create, everyone, no_quiet_hours, spring_sale, templates  # noqa: F401 (fixtures)

_addresses = itertools.count(1)


def fresh_ip() -> str:
    """An address no other test used: rate-limit counters live in the shared cache."""
    n = next(_addresses)
    return f"198.51.{n // 250}.{n % 250 + 1}"


def client_for(user=None) -> Client:
    client = Client(REMOTE_ADDR=fresh_ip())
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def no_dashboard_cache(settings) -> None:
    settings.DASHBOARD_CACHE_SECONDS = 0


def campaign_with_messages(
    template, *, outcomes: dict[str, int], author=None, tracked_url: str = "https://shop.example.com/spring", **fields: Any
) -> tuple[Campaign, list[Message]]:
    """A sending campaign whose messages are in the given states, as the sender and webhooks leave them.

    ``outcomes`` keys: queued, skipped:<reason>, accepted, delivered, read, failed:<code>.
    """
    total = sum(outcomes.values())
    contacts = contacts_create(total, start=Contact.objects.count() + 1000)
    segment = Segment.objects.get_or_create(name="whole audience", defaults={"rules": {"all": []}})[0]
    now = timezone.now()
    campaign = Campaign.objects.create(
        name=fields.pop("name", "Spring"), template=template, segment=segment, created_by=author,
        parameters=[{"field": "name", "fallback": "there"}, {"value": "20%"}], tracked_url=tracked_url,
        status=fields.pop("status", Campaign.Status.SENDING), launched_at=fields.pop("launched_at", now - timedelta(minutes=10)), **fields,
    )  # fmt: skip
    if campaign.status != Campaign.Status.DRAFT:  # as approved: what was approved is what it is
        campaign.approval_hash = campaign_snapshot_hash(campaign)
        campaign.save(update_fields=["approval_hash"])
    messages = []
    people = iter(contacts)
    for outcome, count in outcomes.items():
        state, _, detail = outcome.partition(":")
        for n in range(count):
            message = Message(campaign=campaign, contact=next(people), is_marketing=True, created_at=now - timedelta(minutes=10))
            sent_at = now - timedelta(minutes=9 - n % 5)
            if state == "queued":
                message.status = MessageStatus.QUEUED
            elif state == "skipped":
                message.status, message.skip_reason = MessageStatus.SKIPPED, detail
                message.decision = {"outcome": "skip", "reason": detail}
            elif state == "failed":
                message.status, message.error_code, message.error_title = MessageStatus.FAILED, int(detail), f"Error {detail}"
                message.dispatched_at, message.failed_at = sent_at, sent_at
            else:
                message.status = {"accepted": MessageStatus.ACCEPTED, "delivered": MessageStatus.DELIVERED, "read": MessageStatus.READ}[state]
                message.dispatched_at = message.accepted_at = sent_at
                message.wamid = f"wamid.{campaign.pk}.{message.contact_id}"
                message.decision = {"outcome": "send", "reason": "eligible"}
                if state in ("delivered", "read"):
                    message.delivered_at = sent_at + timedelta(seconds=5)
                if state == "read":
                    message.read_at = sent_at + timedelta(minutes=1)
            messages.append(message)
    Message.objects.bulk_create(messages)
    return campaign, messages


@pytest.fixture
def staffer(db):
    """A staff account with no role: it reaches the admin, and every purpose-built page refuses it."""
    from django.contrib.auth.models import User

    return User.objects.create_user(username="stan", password="pw-stan", is_staff=True)


def inbound(contact: Contact, text: str, *, minutes_ago: float = 5, answered: bool = False, **fields: Any):
    """A message the person sent us, as the webhook stores it (it also opens their 24-hour window)."""
    from conversations.models import InboundMessage

    sent_at = timezone.now() - timedelta(minutes=minutes_ago)
    message = InboundMessage.objects.create(
        wamid=f"wamid.in.{contact.pk}.{InboundMessage.objects.count()}", contact=contact, from_wa_id=(contact.phone or "").lstrip("+"),
        type="text", text=text, sent_at=sent_at, answered=answered, **fields,
    )  # fmt: skip
    if contact.last_inbound_at is None or contact.last_inbound_at < sent_at:
        Contact.objects.filter(pk=contact.pk).update(last_inbound_at=sent_at)
        contact.last_inbound_at = sent_at
    return message
