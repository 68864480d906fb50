"""E-mails about approvals: approvers hear of a submitted campaign, its author of the decision.

Sent after the transaction commits (a rolled-back submission mails no one) and never in the way: a mail
server that is down or refuses is logged, and the submission, approval or rejection stands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse

from campaigns.models import Campaign

logger = logging.getLogger(__name__)


def _review_link(campaign: Campaign) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("admin:campaigns_campaign_review", args=[campaign.pk])


def campaign_approvers(campaign: Campaign, *, may_approve: Callable[[User, Campaign], bool]) -> list[User]:
    """Active users with the Approver role for whom ``may_approve`` holds (services' four-eyes rule)."""
    candidates = User.objects.filter(is_active=True).filter(
        Q(is_superuser=True)
        | Q(user_permissions__codename="approve_campaign", user_permissions__content_type__app_label="campaigns")
        | Q(groups__permissions__codename="approve_campaign", groups__permissions__content_type__app_label="campaigns")
    ).distinct().order_by("pk")
    return [user for user in candidates if may_approve(user, campaign)]


def _send(*, subject: str, body: str, recipients: list[str], what: str, campaign_id: int) -> None:
    if not recipients:
        logger.info("campaign %s: no one with an e-mail address to tell (%s)", campaign_id, what)
        return
    try:
        send_mail(subject, body, None, recipients, fail_silently=False)
    except Exception:  # any mail failure: the decision already stands, so log it and go on
        logger.exception("campaign %s: the %s e-mail could not be sent", campaign_id, what)


def _after_commit(campaign_id: int, notify: Callable[[Campaign], None]) -> None:
    def run() -> None:
        campaign = Campaign.objects.select_related("created_by", "approved_by", "rejected_by").filter(pk=campaign_id).first()
        if campaign is None:
            return
        try:
            notify(campaign)
        except Exception:  # working out who to tell must not break the request that already committed
            logger.exception("campaign %s: approval e-mail not sent", campaign_id)

    transaction.on_commit(run)


def _submitted(campaign: Campaign, *, may_approve: Callable[[User, Campaign], bool]) -> None:
    author = campaign.created_by.get_username() if campaign.created_by else "someone"
    _send(
        subject=f"Waiting for your approval: {campaign.name}",
        body=(
            f"{author} submitted the campaign “{campaign.name}” for approval.\n\n"
            f"Review it and approve or reject it here:\n{_review_link(campaign)}\n"
        ),
        recipients=[user.email for user in campaign_approvers(campaign, may_approve=may_approve) if user.email],
        what="submission",
        campaign_id=campaign.pk,
    )


def _decided(campaign: Campaign, *, approved: bool) -> None:
    author = campaign.created_by
    if approved:
        approver = campaign.approved_by.get_username() if campaign.approved_by else "an approver"
        subject = f"Approved: {campaign.name}"
        when = f"at {campaign.send_at:%Y-%m-%d %H:%M %Z}" if campaign.send_at else "now"
        body = f"{approver} approved the campaign “{campaign.name}”. It starts sending {when}.\n\n{_review_link(campaign)}\n"
        what = "approval"
    else:
        rejecter = campaign.rejected_by.get_username() if campaign.rejected_by else "an approver"
        subject = f"Not approved: {campaign.name}"
        body = (
            f"{rejecter} sent the campaign “{campaign.name}” back to you as a draft:\n\n"
            f"{campaign.rejection_comment}\n\nChange it and submit it again:\n{_review_link(campaign)}\n"
        )
        what = "rejection"
    _send(subject=subject, body=body, recipients=[author.email] if author and author.email else [], what=what, campaign_id=campaign.pk)


def campaign_submitted_notify(campaign: Campaign, *, may_approve: Callable[[User, Campaign], bool]) -> None:
    """Once committed, mail everyone who may approve ``campaign`` (``may_approve``: the four-eyes rule)."""
    _after_commit(campaign.pk, lambda committed: _submitted(committed, may_approve=may_approve))


def campaign_decided_notify(campaign: Campaign, *, approved: bool) -> None:
    """Once committed, mail the campaign's author that it was approved (or rejected)."""
    _after_commit(campaign.pk, lambda committed: _decided(committed, approved=approved))
