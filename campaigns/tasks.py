"""Celery tasks of the campaigns side: thin, each takes an id and calls a service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from campaigns.sending.dispatcher import campaign_dispatch
from campaigns.sending.service import service_message_send, service_messages_sweep
from campaigns.services import campaign_launch, campaigns_tick


@shared_task(acks_late=True)
def campaign_launch_task(campaign_id: int) -> None:
    """Materialise an approved campaign's messages and start its dispatchers (idempotent)."""
    campaign_launch(campaign_id=campaign_id)


@shared_task(acks_late=True)
def campaign_dispatch_task(campaign_id: int) -> None:
    """Send the campaign's due messages for a while, then hand over to a fresh task if more are due."""
    if campaign_dispatch(campaign_id=campaign_id, time_budget=settings.CAMPAIGN_DISPATCH_SECONDS):
        campaign_dispatch_task.delay(campaign_id)


def dispatchers_start(campaign_id: int) -> None:
    """Queue the configured number of parallel dispatchers for the campaign."""
    for _ in range(settings.CAMPAIGN_DISPATCHERS):
        campaign_dispatch_task.delay(campaign_id)


@shared_task(expires=settings.CAMPAIGN_TICK_SECONDS * 5)
def campaigns_tick_task() -> None:
    """Periodic (beat): start due campaigns, recover stopped workers' leases, restart idle dispatchers."""
    campaigns_tick()


@shared_task(acks_late=True)
def service_message_send_task(message_id: str) -> None:
    """Send one queued reply, confirmation or test message (a repeated task sends nothing more)."""
    service_message_send(message_id=message_id)


@shared_task(acks_late=True, expires=55)
def service_messages_sweep_task() -> None:
    """Periodic (beat): send what a lost task left queued; recover what a killed worker left SENDING."""
    service_messages_sweep()
