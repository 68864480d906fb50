"""Celery tasks of the WhatsApp side: thin, each loads an id and calls a service."""

from __future__ import annotations

import logging

from celery import shared_task

from whatsapp.client import WhatsAppError
from whatsapp.services import (
    WebhookProcessingError,
    webhook_deliveries_drain,
    webhook_deliveries_requeue,
    webhook_delivery_process,
)
from whatsapp.template_sync import template_sync

logger = logging.getLogger(__name__)


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


@shared_task(acks_late=True)
def templates_sync_task() -> None:
    """Periodic: store the account's templates (see CELERY_BEAT_SCHEDULE)."""
    try:
        result = template_sync()
    except WhatsAppError as exc:
        logger.error("template sync failed: %s", exc)
        return
    logger.info("template sync: %s created, %s updated, %s deleted", result.created, result.updated, result.deleted)


@shared_task(acks_late=True)
def webhook_deliveries_requeue_task() -> None:
    """Periodic: deliveries stored while the broker was unreachable still get processed."""
    deliveries = webhook_deliveries_requeue()
    if deliveries:
        logger.warning("queued again: %s webhook deliveries", len(deliveries))
