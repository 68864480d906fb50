"""Celery tasks of the WhatsApp side: thin, each loads an id and calls a service."""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import shared_task
from django.conf import settings

from whatsapp.client import WhatsAppError
from whatsapp.services import (
    SendRetryLater,
    WebhookProcessingError,
    replies_requeue,
    reply_send,
    webhook_deliveries_drain,
    webhook_deliveries_prune,
    webhook_deliveries_requeue,
    webhook_delivery_process,
)

logger = logging.getLogger(__name__)


def _retry_when_transient(task, send: Callable[[], object]) -> None:
    try:
        send()
    except SendRetryLater as exc:
        raise task.retry(exc=exc, countdown=min(300, 10 * 2**task.request.retries)) from exc


@shared_task(bind=True, max_retries=8, acks_late=True)
def webhook_delivery_process_task(self, delivery_id: int) -> None:
    """Apply a stored webhook delivery; failed items are retried with backoff (applied ones are skipped)."""
    try:
        webhook_delivery_process(delivery_id=delivery_id)
    except WebhookProcessingError as exc:
        raise self.retry(exc=exc, countdown=min(600, 5 * 2**self.request.retries)) from exc


@shared_task(acks_late=True)
def webhook_deliveries_drain_task() -> None:
    """Apply the fresh webhook deliveries in batches; hand over to a fresh task if time ran out."""
    if webhook_deliveries_drain():
        webhook_deliveries_drain_task.delay()


@shared_task(bind=True, max_retries=4, acks_late=True)
def reply_send_task(self, message_id: str) -> None:
    """Send a keyword confirmation or other free-form reply recorded as a Message."""
    _retry_when_transient(self, lambda: reply_send(message_id=message_id))


@shared_task(bind=True, max_retries=4, acks_late=True)
def optin_confirmation_send_task(self, confirmation_id: str) -> None:
    """Send the double opt-in confirmation template."""
    from whatsapp.double_optin import double_optin_send

    _retry_when_transient(self, lambda: double_optin_send(confirmation_id=confirmation_id))


@shared_task(acks_late=True)
def templates_sync_task() -> None:
    """Periodic: store the account's templates (see CELERY_BEAT_SCHEDULE)."""
    from whatsapp.template_sync import template_sync

    try:
        result = template_sync()
    except WhatsAppError as exc:
        logger.error("template sync failed: %s", exc)
        return
    logger.info("template sync: %s created, %s updated, %s deleted", result.created, result.updated, result.deleted)


@shared_task(acks_late=True)
def webhook_deliveries_prune_task() -> None:
    """Periodic: raw deliveries carry personal data; keep them only WHATSAPP_WEBHOOK_RETENTION_DAYS."""
    deleted = webhook_deliveries_prune(older_than_days=settings.WHATSAPP_WEBHOOK_RETENTION_DAYS)
    logger.info("pruned %s processed webhook deliveries", deleted)


@shared_task(acks_late=True)
def webhook_deliveries_requeue_task() -> None:
    """Periodic: deliveries and replies stored while the broker was unreachable still get processed."""
    deliveries, replies = webhook_deliveries_requeue(), replies_requeue()
    if deliveries or replies:
        logger.warning("queued again: %s webhook deliveries, %s replies", len(deliveries), len(replies))
