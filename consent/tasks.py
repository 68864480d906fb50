"""Celery tasks of the consent domain: thin, each calls a service."""

from __future__ import annotations

from celery import shared_task

from consent.retention import retention_apply


@shared_task(acks_late=True)
def retention_apply_task() -> None:
    """Periodic (see CELERY_BEAT_SCHEDULE): delete or empty personal details past their retention period."""
    retention_apply()
