"""Service messages: keyword confirmations, double opt-in templates, support answers and test sends.

They are rows of the same outbox and follow the same rules as campaign messages: a row is claimed
with a lease, checked, its call recorded in ``inflight`` before it starts, sent, and its outcome
written with the outcome table (``outcomes.outcome_apply``). A call that may have reached WhatsApp
is never sent again: the row becomes UNKNOWN until its status webhook resolves it.

A task sends each one right after its transaction commits. ``service_messages_sweep`` (beat, every
minute) sends whatever a lost task or a broker outage left queued, and recovers the rows a killed
worker left SENDING (``claims.leases_expire``), so no confirmation is lost and none goes twice.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.models import Message, MessageStatus
from campaigns.sending import inflight
from campaigns.sending.claims import leases_expire
from campaigns.sending.outcomes import Outcome, outcome_apply
from campaigns.sending.throttle import bucket_take
from consent.models import Contact
from core.rows import rows_update
from whatsapp import client as whatsapp_client
from whatsapp.account import account_sending_blocked
from whatsapp.client import WhatsAppError
from whatsapp.models import MessageTemplate
from whatsapp.numbers import marketing_messages_api_for

logger = logging.getLogger(__name__)

SEND_TASK = "campaigns.tasks.service_message_send_task"
SERVICE_KINDS = (Message.Kind.REPLY, Message.Kind.CONFIRMATION, Message.Kind.TEST)
_WRITE_FIELDS = [
    "status", "skip_reason", "wamid", "attempts", "error_code", "error_title", "error_detail", "decision",
    "send_after", "claim_token", "lease_expires_at", "dispatched_at", "accepted_at", "failed_at",
]  # fmt: skip


@dataclass(frozen=True)
class TemplateContent:
    """A template message as it will be sent: stored on the row when it is queued."""

    name: str
    language: str
    components: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {"template": {"name": self.name, "language": self.language, "components": self.components}}


def service_message_queue(
    *,
    contact: Contact,
    kind: str,
    body: str = "",
    template: TemplateContent | None = None,
    decision: dict[str, Any] | None = None,
    send_after_commit: bool = True,
) -> Message:
    """Queue a service message (free text in ``body``, or a ``template``) and send it after commit.

    Must run inside the transaction that decided to send it: the row and the change it confirms
    commit together. A broker error after commit loses nothing: the sweeper sends it later.
    ``send_after_commit=False`` leaves the send to the caller (a test send, sent while the marketer waits).
    """
    if kind not in SERVICE_KINDS:
        raise ValueError(f"{kind!r} is not a service message kind; campaign messages are materialised.")
    if (template is None) == (not body):
        raise ValueError("A service message has either a text body or a template, not both or neither.")
    message = Message.objects.create(
        kind=kind,
        contact=contact,
        body=body,
        content=template.as_json() if template else None,
        status=MessageStatus.QUEUED,
        decision=decision or {},
        is_marketing=False,
    )
    if send_after_commit:
        transaction.on_commit(lambda: _send_request(message.pk), robust=True)
    return message


def _send_request(message_id: uuid.UUID | str) -> None:
    # By name: the tasks module imports this one.
    current_app.send_task(SEND_TASK, args=[str(message_id)])


def service_message_send(*, message_id: str | uuid.UUID) -> Message | None:
    """Claim, check, send and record one queued service message; returns the row as it ends up.

    A repeated task, or one for a row another worker holds or already sent, changes nothing.
    """
    token = uuid.uuid4()
    message = _claim(message_id, token)
    if message is None:
        return Message.objects.filter(pk=message_id).first()
    now = timezone.now()
    refusal = _refusal(message)
    if refusal:
        Message.objects.filter(pk=message.pk, claim_token=token).update(
            status=MessageStatus.SKIPPED, skip_reason=refusal, claim_token=None, lease_expires_at=None
        )
        message.refresh_from_db()
        return message
    if _held_for_account(message):
        Message.objects.filter(pk=message.pk, claim_token=token, status=MessageStatus.QUEUED).update(
            claim_token=None, lease_expires_at=None, send_after=now + ACCOUNT_PROBLEM_RETRY
        )
        message.refresh_from_db()
        return message
    try:
        inflight.batch_open(token)  # before the row is SENDING: recovery can tell unknown from unsent
    except redis.RedisError as exc:
        logger.warning("service message %s not started (no record of calls): %s", message.pk, exc.__class__.__name__)
        _release(message, token)
        return message
    message.status, message.attempts, message.dispatched_at = MessageStatus.SENDING, message.attempts + 1, now
    marked = Message.objects.filter(pk=message.pk, claim_token=token, status=MessageStatus.QUEUED).update(
        status=message.status, attempts=message.attempts, dispatched_at=now
    )
    if not marked:  # the lease ran out before this (stalled) worker got here: the row is another's now
        return Message.objects.filter(pk=message.pk).first()
    # Committed (autocommit): a crash from here on leaves a SENDING row, never re-sent blindly.
    outcome = _send(message, token)
    with transaction.atomic():
        fresh = Message.objects.select_for_update().get(pk=message.pk)
        if not outcome.attempted and fresh.claim_token != token:
            return fresh  # recovered and taken over meanwhile: not ours any more
        outcome_apply(fresh, outcome, timezone.now())
        rows_update(Message, [fresh], _WRITE_FIELDS)
    if outcome.error is not None:
        logger.warning("%s message %s to contact %s: %s", fresh.kind, fresh.pk, fresh.contact_id, outcome.error)
    return fresh


def _claim(message_id: str | uuid.UUID, token: uuid.UUID) -> Message | None:
    now = timezone.now()
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(skip_locked=True, of=("self",))  # not the contact: others lock it
            .select_related("contact")
            .filter(pk=message_id, kind__in=SERVICE_KINDS, status=MessageStatus.QUEUED)
            .filter(Q(send_after__isnull=True) | Q(send_after__lte=now), Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
            .first()
        )
        if message is None:
            return None
        message.claim_token, message.claimed_at = token, now
        message.lease_expires_at = now + timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS)
        message.save(update_fields=["claim_token", "claimed_at", "lease_expires_at"])
    return message


def _release(message: Message, token: uuid.UUID) -> None:
    Message.objects.filter(pk=message.pk, claim_token=token, status=MessageStatus.QUEUED).update(
        claim_token=None, lease_expires_at=None
    )


# A marketing service message waits this long between looks while the account has an open problem.
ACCOUNT_PROBLEM_RETRY = timedelta(minutes=5)


def _held_for_account(message: Message) -> bool:
    """A marketing template (a test send of a campaign's template) waits while the account has a problem."""
    template = (message.content or {}).get("template")
    if not template or account_sending_blocked() is None:
        return False
    return message.is_marketing or MessageTemplate.objects.filter(
        name=template.get("name"), language=template.get("language"), category=MessageTemplate.Category.MARKETING
    ).exists()


def _template_category(template: dict) -> str:
    """The latest category of a service message's template (a test send of a campaign's may be MARKETING)."""
    return (
        MessageTemplate.objects.filter(name=template.get("name"), language=template.get("language"))
        .values_list("category", flat=True)
        .first()
        or ""
    )


def _refusal(message: Message) -> str:
    """Why the message must not go out now, or "": an erased person has no number or BSUID to write to."""
    contact = message.contact
    if contact.erased_at is not None or not contact.whatsapp_address():
        return "erased"
    return ""


def _send(message: Message, token: uuid.UUID) -> Outcome:
    phone_number_id = settings.WHATSAPP_PHONE_NUMBER_ID
    try:
        if not bucket_take(phone_number_id, timeout=settings.CAMPAIGN_LEASE_SECONDS / 3) or not inflight.call_start(token, message.pk):
            return Outcome(message, attempted=False)
    except redis.RedisError as exc:
        logger.warning("service message %s not started: %s", message.pk, exc.__class__.__name__)
        return Outcome(message, attempted=False)
    address = message.contact.whatsapp_address(prefer_wa_id=True)  # the number when we hold it, else the BSUID
    try:
        template = (message.content or {}).get("template")
        if template:
            result = whatsapp_client.send_template(
                **address,
                template_name=template["name"],
                language=template["language"],
                components=template["components"],
                callback_data=message.callback_data,
                marketing_messages_api=marketing_messages_api_for(category=_template_category(template), phone_number_id=phone_number_id),
            )
        else:
            result = whatsapp_client.send_text(**address, body=message.body, callback_data=message.callback_data)
    except WhatsAppError as error:
        return Outcome(message, error=error)
    except Exception as exc:  # a bug must not leave the row SENDING for ever; its outcome is unknown
        logger.exception("unexpected error sending service message %s", message.pk)
        return Outcome(message, error=WhatsAppError(f"Unexpected error: {exc.__class__.__name__}"))
    return Outcome(message, result=result)


def service_messages_sweep(*, older_than_seconds: int = 30, now: datetime | None = None) -> list[str]:
    """Send again what a lost task left queued, and recover what a killed worker left SENDING.

    Returns the ids of the messages queued for sending.
    """
    now = now or timezone.now()
    leases_expire(now=now, kinds=SERVICE_KINDS)
    due = (
        Message.objects.filter(kind__in=SERVICE_KINDS, status=MessageStatus.QUEUED, created_at__lt=now - timedelta(seconds=older_than_seconds))
        .filter(Q(send_after__isnull=True) | Q(send_after__lte=now), Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .order_by("created_at")
        .values_list("pk", flat=True)[:1000]
    )
    stale = [str(pk) for pk in due]
    for message_id in stale:
        _send_request(message_id)
    return stale
