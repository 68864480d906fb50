"""How campaigns react to what WhatsApp says about the account and the templates, outside any one send.

- Account problems (payment, token, display name, marketing blocked...): every sending campaign
  pauses, and stays paused until a person clears the problem and resumes it.
- Template status: a template paused or disabled by Meta pauses every campaign using it; a re-approval
  does not resume them (a person does).
- Template category: a send always uses the template's category at send time (campaigns.eligibility),
  so a UTILITY template turned MARKETING needs marketing consent from then on; it is audited here.
- Unknown error codes: counted per campaign; after UNKNOWN_CODE_PAUSE_AFTER the campaign pauses
  instead of spending every recipient's attempts.

Registered for ``ItemKind.CHANGE`` in CampaignsConfig.ready(), after whatsapp's own handler (which
stores the template's new status and category first).
"""

from __future__ import annotations

import logging

from django.db import connection
from django.db.models import Q

from campaigns.models import Campaign
from campaigns.services import CampaignError, campaign_pause
from core.audit import PLATFORM_ACTOR, Actor, audit_record
from whatsapp.account import account_sending_blocked
from whatsapp.handlers import ItemPairs
from whatsapp.models import AccountProblem, MessageTemplate
from whatsapp.template_sync import template_for_webhook
from whatsapp.webhooks import OUT_OF_BAND_ERRORS

logger = logging.getLogger(__name__)

SENDER = Actor(label="campaign sender")
_ACTIVE = (Campaign.Status.SENDING, Campaign.Status.SCHEDULED)
# Template events after which nothing may be sent with it (REINSTATED/APPROVED change nothing here).
_TEMPLATE_STOPS = {"PAUSED", "DISABLED", "REJECTED", "PENDING_DELETION", "DELETED", "LIMIT_EXCEEDED", "ARCHIVED"}


def campaign_stop(campaign: Campaign, reason: str, *, actor: Actor = SENDER) -> bool:
    """Pause a sending or scheduled campaign (another worker may have paused it a moment ago)."""
    try:
        campaign_pause(campaign=campaign, actor=actor, reason=reason[:500])
    except CampaignError:
        return False
    return True


def account_problem_reason(problem: AccountProblem) -> str:
    code = f"error {problem.code}" if problem.code is not None else "an account error"
    return (
        f"Sending is paused for the whole WhatsApp account ({code}): {problem.explanation} "
        "Clear the problem on the dashboard once it is fixed, then resume the campaign."
    )


def account_sending_stop(problem: AccountProblem, *, actor: Actor = SENDER) -> int:
    """Pause every sending campaign for an account problem; returns how many were paused."""
    reason = account_problem_reason(problem)
    paused = 0
    for campaign in Campaign.objects.filter(status=Campaign.Status.SENDING):
        paused += campaign_stop(campaign, reason, actor=actor)
    return paused


# --- webhook changes ----------------------------------------------------------------------------


def changes_handle(pairs: ItemPairs) -> None:
    """Template status/category/quality updates and out-of-band errors, as they concern campaigns."""
    for item, _ in pairs:
        if item.field == "message_template_status_update":
            _template_status_changed(item.value)
        elif item.field == "template_category_update":
            _template_category_changed(item.value)
        elif item.field == "message_template_quality_update":
            _template_quality_changed(item.value)
        elif item.field == OUT_OF_BAND_ERRORS:
            problem = account_sending_blocked()
            if problem is not None:
                account_sending_stop(problem, actor=PLATFORM_ACTOR)


def _using_q(template: MessageTemplate) -> Q:
    """Campaigns sending ``template``, as their own or as one of their A/B variants'.

    JSON containment needs PostgreSQL; on SQLite (development) a variant's template is caught by the
    sender instead, which checks every variant's template before each batch.
    """
    using = Q(template=template)
    if connection.vendor == "postgresql":
        using |= Q(variants__contains=[{"template": template.name, "language": template.language}])
    return using


def _campaigns_using(template: MessageTemplate):
    return Campaign.objects.filter(_using_q(template), status__in=_ACTIVE)


def _template_status_changed(value: dict) -> None:
    event = str(value.get("event") or "").upper()
    template = template_for_webhook(value)
    if template is None or event not in _TEMPLATE_STOPS:
        return
    why = str(value.get("reason") or "")
    why = "" if why.upper() in ("", "NONE") else f" ({why})"
    reason = (
        f"Template {template} was {event.lower().replace('_', ' ')} by WhatsApp{why}: sending paused. "
        "It resumes only when a person resumes it, after the template is approved again."
    )
    for campaign in _campaigns_using(template):
        campaign_stop(campaign, reason, actor=PLATFORM_ACTOR)


def _template_category_changed(value: dict) -> None:
    template = template_for_webhook(value)
    if template is None:
        return
    details = {
        "template": str(template), "previous_category": value.get("previous_category"),
        "new_category": value.get("new_category"), "correct_category": value.get("correct_category"),
        "category_now": template.category,
    }  # fmt: skip
    for campaign in Campaign.objects.filter(_using_q(template), status__in=(*_ACTIVE, Campaign.Status.PAUSED)):
        # Nothing to change: every remaining send checks consent against the category it has now.
        audit_record(actor=PLATFORM_ACTOR, action="campaign.template_category", object_type="campaign", object_id=campaign.pk, details=details)


def _template_quality_changed(value: dict) -> None:
    template = template_for_webhook(value)
    if template is None:
        return
    details = {"template": str(template), "previous": value.get("previous_quality_score"), "new": value.get("new_quality_score")}
    for campaign in _campaigns_using(template):
        audit_record(actor=PLATFORM_ACTOR, action="campaign.template_quality", object_type="campaign", object_id=campaign.pk, details=details)
