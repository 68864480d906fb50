"""The WhatsApp account as a whole: its open problems (which stop sending) and its messaging limit.

An account problem is opened by the first account-scoped error (``ErrorScope.ACCOUNT``: payment,
token, display name, marketing blocked on the Cloud API...), whether a send got it or a webhook
reported it out of band. It stays open, shown on the dashboard, until a person clears it: Meta does
not tell us when the cause is fixed.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.audit import PLATFORM_ACTOR, Actor, audit_record
from whatsapp.client import ErrorScope, WhatsAppError
from whatsapp.models import AccountProblem, MessagingLimit


class AccountProblemError(ValueError):
    """A person tried something on an account problem that cannot be done (e.g. clear it twice)."""


def account_problem_record(*, error: WhatsAppError, source: str, actor: Actor = PLATFORM_ACTOR) -> tuple[AccountProblem, bool]:
    """Open the account problem for ``error`` (audited), or count one more occurrence of the open one.

    Returns (the record, whether it was opened now). Only account-scoped errors are recorded.
    """
    if error.scope is not ErrorScope.ACCOUNT:
        raise ValueError(f"{error} is not an account problem")
    now = timezone.now()
    seen = AccountProblem.objects.filter(code=error.code, cleared_at__isnull=True)
    if seen.update(occurrences=F("occurrences") + 1, last_seen_at=now):
        return seen.get(), False
    try:
        with transaction.atomic():
            problem = AccountProblem.objects.create(code=error.code, explanation=error.explanation, source=source[:40], opened_at=now, last_seen_at=now)
    except IntegrityError:  # opened a moment ago by another worker
        seen.update(occurrences=F("occurrences") + 1, last_seen_at=now)
        return seen.get(), False
    audit_record(
        actor=actor, action="whatsapp.account_problem", object_type="whatsapp_account", object_id=problem.pk,
        details={"code": error.code, "source": source, "explanation": problem.explanation, "http_status": error.http_status},
    )  # fmt: skip
    return problem, True


def account_problems_open() -> list[AccountProblem]:
    return list(AccountProblem.objects.filter(cleared_at__isnull=True).order_by("opened_at"))


def account_sending_blocked() -> AccountProblem | None:
    """The oldest open account problem (sending must wait until a person clears it), or None."""
    return AccountProblem.objects.filter(cleared_at__isnull=True).order_by("opened_at").first()


@transaction.atomic
def account_problem_clear(*, problem_id: int, actor: Actor) -> AccountProblem:
    """A person says the problem is fixed at Meta; paused campaigns may then be resumed (by a person)."""
    problem = AccountProblem.objects.select_for_update().filter(pk=problem_id).first()
    if problem is None:
        raise AccountProblemError("This account problem does not exist.")
    if problem.cleared_at is not None:
        raise AccountProblemError(f"This account problem was cleared already by {problem.cleared_by}.")
    problem.cleared_at, problem.cleared_by = timezone.now(), actor.display[:200]
    problem.save(update_fields=["cleared_at", "cleared_by"])
    audit_record(actor=actor, action="whatsapp.account_problem_clear", object_type="whatsapp_account", object_id=problem.pk,
                 details={"code": problem.code})  # fmt: skip
    return problem


def out_of_band_errors_record(*, value: dict[str, Any]) -> list[WhatsAppError]:
    """``entry.changes.value.errors`` outside any status: audited; account-scoped ones open a problem."""
    errors = [WhatsAppError.from_error_object(item) for item in value.get("errors") or [] if isinstance(item, dict)]
    for error in errors:
        audit_record(
            actor=PLATFORM_ACTOR, action="whatsapp.error", object_type="whatsapp_account",
            details={"code": error.code, "scope": error.scope.value, "message": error.message, "explanation": error.explanation},
        )  # fmt: skip
        if error.scope is ErrorScope.ACCOUNT:
            account_problem_record(error=error, source="webhook error")
    return errors


# --- messaging limit ------------------------------------------------------------------------------

_TIER_RE = re.compile(r"^TIER_(\d+)(K?)$")


def tier_daily_limit(tier: str) -> int | None:
    """People per 24 hours of a tier name (TIER_250, TIER_2K, TIER_100K); None for unlimited or unknown."""
    match = _TIER_RE.match(tier.strip().upper())
    if match is None:
        return None
    return int(match.group(1)) * (1000 if match.group(2) else 1)


def messaging_limit_record(*, value: dict[str, Any]) -> MessagingLimit | None:
    """Store the limit a ``phone_number_quality_update`` (or ``account_update``) reports, if it carries one.

    Meta names the limit ``max_daily_conversations_per_business`` (``current_limit`` until February
    2026): https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/phone_number_quality_update
    """
    tier = str(value.get("max_daily_conversations_per_business") or value.get("current_limit") or "").upper()
    number = str(value.get("display_phone_number") or value.get("phone_number") or "")[:32]
    if not tier:
        return None
    event = str(value.get("event") or "")[:40]
    limit, _ = MessagingLimit.objects.update_or_create(
        display_phone_number=number,
        defaults={"tier": tier[:40], "daily_limit": tier_daily_limit(tier), "event": event,
                  "quality": event if event in ("FLAGGED", "UNFLAGGED") else "", "updated_at": timezone.now()},  # fmt: skip
    )
    return limit


def messaging_limit_current() -> MessagingLimit | None:
    """The most recently reported limit, whichever of our numbers reported it.

    Since 7 October 2025 Meta sets the messaging limit per business portfolio, shared by all its
    phone numbers ("Messaging limits are calculated and set at the business portfolio level and are
    shared by all business phone numbers within a portfolio":
    https://developers.facebook.com/documentation/business-messaging/whatsapp/messaging-limits, and
    .../upcoming-messaging-limits-changes). Each number's ``phone_number_quality_update`` reports that
    one limit, so the newest report is the limit of every number, and the headroom under it is one
    for all of them (campaigns.sending.batch.messaging_limit_defer).
    """
    return MessagingLimit.objects.order_by("-updated_at").first()
