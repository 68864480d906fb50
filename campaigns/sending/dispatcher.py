"""The dispatcher loop: batches of one campaign until none is due, with batches in flight side by side."""

from __future__ import annotations

import logging
import math
import threading
import time

from django.conf import settings
from django.db import connection

from campaigns.models import Campaign
from campaigns.sending.batch import batch_send
from campaigns.sending.claims import dispatcher_heartbeat, leases_expire, messages_claim
from campaigns.sending.locks import consent_locks_close
from campaigns.sending.throttle import bucket_rate
from campaigns.services import campaign_complete_if_done

logger = logging.getLogger(__name__)

# --- 4. the dispatcher loop ---------------------------------------------------------------------


def campaign_dispatch(*, campaign_id: int, time_budget: float) -> bool:
    """Send batches of the campaign until none is due or ``time_budget`` seconds passed.

    Returns True when due work remains (the caller should run again soon). On PostgreSQL the
    dispatcher keeps CAMPAIGN_BATCHES_IN_FLIGHT batches going at once, each in its own thread with
    its own connections: while one is being claimed, checked or written back, the other's calls
    keep the send threads busy. Each batch is claimed, locked and recorded exactly as when alone.
    """
    leases_expire(campaign_id=campaign_id)
    deadline = time.monotonic() + time_budget
    stop = threading.Event()
    lanes = settings.CAMPAIGN_BATCHES_IN_FLIGHT if connection.vendor == "postgresql" else 1
    helpers = [threading.Thread(target=_lane_run, args=(campaign_id, deadline, stop), daemon=True) for _ in range(lanes - 1)]
    for helper in helpers:
        helper.start()
    try:
        outcome = _batches_send(campaign_id, deadline, stop)
    finally:
        consent_locks_close()
        for helper in helpers:
            helper.join()
    if outcome == "more":
        return True
    if outcome == "done":  # completes only a campaign still sending with nothing left to send
        campaign_complete_if_done(campaign_id=campaign_id)
    return False


def _lane_run(campaign_id: int, deadline: float, stop: threading.Event) -> None:
    try:
        _batches_send(campaign_id, deadline, stop)
    except Exception:  # the rows it held are recovered with their lease; the other lane goes on
        logger.exception("a send lane of campaign %s stopped", campaign_id)
    finally:
        consent_locks_close()
        connection.close()


def _batches_send(campaign_id: int, deadline: float, stop: threading.Event) -> str:
    """One lane: claim and send batches until none is due ("done"), the time is up ("more") or the
    campaign stopped ("stopped"; a batch that stopped it also tells the other lanes)."""
    number_id = Campaign.objects.filter(pk=campaign_id).values_list("phone_number_id", flat=True).first() or ""
    rate = bucket_rate(number_id or settings.WHATSAPP_PHONE_NUMBER_ID)
    while not stop.is_set():
        if not Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING).exists():
            return "stopped"
        dispatcher_heartbeat(campaign_id)
        token, messages = messages_claim(campaign_id=campaign_id, limit=batch_limit(rate))
        if not messages:
            dispatcher_heartbeat(campaign_id, active=False)  # lets beat restart dispatchers when more is due
            return "done"
        report = batch_send(campaign_id=campaign_id, token=token, messages=messages)
        logger.info("campaign %s batch: %s", campaign_id, report)
        if report.stopped:
            stop.set()
            return "stopped"
        if time.monotonic() > deadline:
            return "more"
    return "stopped"


def batch_limit(rate: float | None = None) -> int:
    """How many messages a dispatcher claims at once: at most CAMPAIGN_BATCH_SIZE, and at most what its
    share of the send rate (the sending number's; CAMPAIGN_SEND_RATE by default) sends in about a second.

    A batch holds its recipients' consent locks until its last call returned, and an opt-out (a STOP
    webhook waiting for its 200) waits for them: at a low rate a full batch would hold them for
    many seconds.
    """
    share = (rate or settings.CAMPAIGN_SEND_RATE) / (settings.CAMPAIGN_DISPATCHERS * settings.CAMPAIGN_BATCHES_IN_FLIGHT)
    return max(1, min(settings.CAMPAIGN_BATCH_SIZE, math.ceil(share)))
