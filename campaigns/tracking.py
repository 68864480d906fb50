"""Click tracking: a signed token per message in the template's link button, and the click it records.

The template's URL button at WhatsApp points at ``<PUBLIC_BASE_URL>/r/{{1}}``; the sender fills the
``{{1}}`` with ``click_token`` of the message. ``click_record`` checks the signature, records the
click and answers the campaign's own destination, never a URL taken from the request, so the
redirect cannot be turned into an open redirect. The token holds the message id and the campaign
id; without the server's secret key nobody can make one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import transaction

from campaigns.models import Campaign, Click, Message
from core.tokens import token_sign, token_unsign

CLICK_SALT = "campaigns.click"


def click_token(*, message_id: uuid.UUID, campaign_id: int) -> str:
    """The signed token of one message's tracked link (76 URL-safe characters)."""
    return token_sign(message_id.bytes + campaign_id.to_bytes(8, "big"), salt=CLICK_SALT)


def button_token(campaign: Campaign, message: Message) -> str:
    """What the sender puts into the link button: the signed click token when the campaign
    tracks a link, otherwise the message id (the button needs some value)."""
    if campaign.tracked_url:
        return click_token(message_id=message.pk, campaign_id=campaign.pk)
    return message.pk.hex


@dataclass(frozen=True)
class ClickTarget:
    message_id: uuid.UUID
    campaign_id: int


def click_token_read(token: str) -> ClickTarget | None:
    """The message and campaign a token stands for, or None for a forged, garbled or unknown one."""
    raw = token_unsign(token, salt=CLICK_SALT, size=24)
    if raw is None:
        return None
    return ClickTarget(message_id=uuid.UUID(bytes=raw[:16]), campaign_id=int.from_bytes(raw[16:], "big"))


@transaction.atomic
def click_record(*, token: str) -> str | None:
    """Record one click on a tracked link; returns the campaign's destination, or None (then: 404).

    A test send's link works too (its message carries the campaign in its decision) without
    counting in the campaign's figures.
    """
    target = click_token_read(token)
    if target is None:
        return None
    destination = (
        Campaign.objects.filter(pk=target.campaign_id).exclude(tracked_url="").values_list("tracked_url", flat=True).first()
    )
    message = Message.objects.filter(pk=target.message_id).only("pk", "kind", "campaign_id", "decision").first()
    if destination is None or message is None:
        return None
    if message.kind == Message.Kind.CAMPAIGN:
        belongs = message.campaign_id == target.campaign_id
    else:
        belongs = message.kind == Message.Kind.TEST and message.decision.get("campaign") == target.campaign_id
    if not belongs:
        return None
    Click.objects.create(message=message)
    return destination
