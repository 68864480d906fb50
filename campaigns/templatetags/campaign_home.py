"""The admin home's "waiting for you" list (templates/admin/index.html)."""

from __future__ import annotations

from typing import Any

from django import template

from campaigns.models import Campaign
from campaigns.services import campaigns_waiting_for

register = template.Library()


@register.simple_tag
def waiting_for_approval(user: Any) -> list[Campaign]:
    """Campaigns submitted for approval that ``user`` may approve now (none for anyone else)."""
    return campaigns_waiting_for(user)
