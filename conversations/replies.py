"""Replies to a campaign, for its funnel (campaigns.analytics counts them through this)."""

from __future__ import annotations

from campaigns.analytics import people_answering
from campaigns.models import Campaign
from conversations.models import InboundMessage


def campaign_replies_count(campaign: Campaign, variant: str | None = None) -> int:
    """People who wrote back (anything but an opt-out keyword) within the attribution window of the message."""
    inbound = InboundMessage.objects.filter(contact__isnull=False).exclude(keyword_action="opt_out")
    return people_answering(campaign, inbound, recorded_field="received_at", moment_field="sent_at", variant=variant)
