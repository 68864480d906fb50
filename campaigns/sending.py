"""The sending pipeline: materialise, claim, check, send, write back.

1. ``messages_materialise``: one queued row per (campaign, contact), INSERT ... SELECT from the
   segment query; a rerun adds only the missing rows (the unique constraint does the rest).
2. ``messages_claim``: a dispatcher takes a batch with ``FOR UPDATE SKIP LOCKED`` and a lease.
3. ``batch_send``: under a lock on the batch's consent rows (held on a second connection from
   the check until every HTTP call of the batch has returned), re-check consent, suppression,
   caps, quiet hours and parameters in one query; mark the sendable rows SENDING in a committed
   write; send them concurrently; release the locks; write the results back in bulk.

Why the lock matters: ``consent_record`` locks the contact's ConsentState row before it changes
it, so an opt-out recorded during a batch waits until the batch's sends have left, and every send
after the opt-out sees it. Concurrent batches (other campaigns, other workers) to the same contact
wait for each other, so the cap counts they read include each other's dispatched messages.

A row found SENDING after its lease expired whose call had started is never sent again: the call
may have reached WhatsApp. It becomes UNKNOWN until its status webhook (matched by callback data)
resolves it. A row whose call had not started is queued again (campaigns.inflight tells them apart).
A live worker renews its batch's lease while the calls run, so only a dead or frozen one loses it.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
import requests
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from campaigns import eligibility, inflight
from campaigns.caps import CAP_COUNTED_Q, CapLimits, cap_limits, cap_release_time, next_local_time, quiet_hours_end
from campaigns.models import Campaign, Message, MessageStatus
from campaigns.parameters import parameter_values, template_components, template_render_body
from campaigns.ratelimit import bucket_back_off, bucket_take, outage_failure_record, outage_success_record
from campaigns.segments import segment_contacts
from campaigns.tracking import button_token
from consent.models import ConsentState, Contact, Purpose
from core.audit import Actor
from core.rows import rows_update
from whatsapp import client as whatsapp_client
from whatsapp.client import ErrorScope, SendResult, WhatsAppError

logger = logging.getLogger(__name__)

_SENDER = Actor(label="campaign sender")  # who paused a campaign, in the audit log

_MESSAGE_WRITE_FIELDS = [
    "status", "skip_reason", "decision", "wamid", "attempts", "error_code", "error_title", "error_detail",
    "send_after", "claim_token", "lease_expires_at", "dispatched_at", "accepted_at", "failed_at",
]  # fmt: skip


# --- 1. materialise -----------------------------------------------------------------------------


# New message ids in the UUIDv7 layout (48 bits of Unix milliseconds, version 7, random bits): a
# million rows inserted at once land at the right edge of the primary key's index instead of at
# random places all over it (1,000,000 rows: 19 s -> 12 s).
_TIME_ORDERED_UUID_SQL = (
    "(lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7'"
    " || substr(replace(gen_random_uuid()::text, '-', ''), 14))::uuid"
)


def messages_materialise(*, campaign: Campaign, start: datetime) -> int:
    """Create the campaign's queued messages from its segment, set-based; returns how many were new.

    With a local send time, each message waits for that time in its recipient's time zone.
    """
    audience = segment_contacts(campaign.segment.rules).order_by().values("id")
    marketing = campaign.is_marketing
    if connection.vendor == "postgresql":
        select_sql, params = audience.query.get_compiler(connection=connection).as_sql()
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {Message._meta.db_table}
                    (id, kind, campaign_id, contact_id, status, skip_reason, decision, body, attempts,
                     error_title, error_detail, created_at, is_marketing)
                SELECT {_TIME_ORDERED_UUID_SQL}, %s, %s, audience.id, %s, '', '{{}}'::jsonb, '', 0, '', '', %s, %s
                FROM ({select_sql}) AS audience
                ON CONFLICT DO NOTHING
                """,
                [Message.Kind.CAMPAIGN, campaign.pk, MessageStatus.QUEUED, timezone.now(), marketing, *params],
            )
            created = cursor.rowcount
    else:  # SQLite (development): the same rows, in chunks
        before = Message.objects.filter(campaign=campaign).count()
        chunk: list[Message] = []
        for contact_id in audience.values_list("id", flat=True).iterator(chunk_size=2000):
            chunk.append(Message(campaign=campaign, contact_id=contact_id, is_marketing=marketing))
            if len(chunk) >= 2000:
                Message.objects.bulk_create(chunk, ignore_conflicts=True)
                chunk = []
        Message.objects.bulk_create(chunk, ignore_conflicts=True)
        created = Message.objects.filter(campaign=campaign).count() - before
    if campaign.local_time is not None:
        pending = Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED)
        for zone_name in pending.values_list("contact__time_zone", flat=True).distinct():
            pending.filter(contact__time_zone=zone_name).update(send_after=next_local_time(zone_name, start, campaign.local_time))
    return created


# --- 2. claim -----------------------------------------------------------------------------------


def leases_expire(*, now: datetime | None = None, campaign_id: int | None = None) -> int:
    """Recover rows a dead worker left SENDING; returns how many.

    A row whose call had started becomes UNKNOWN (never re-sent blindly: it may have reached
    WhatsApp); a row whose call provably never started is queued again (see campaigns.inflight).
    """
    now = now or timezone.now()
    stale = Message.objects.filter(status=MessageStatus.SENDING, lease_expires_at__lt=now)
    if campaign_id is not None:
        stale = stale.filter(campaign_id=campaign_id)
    requeued = 0
    for token in set(stale.values_list("claim_token", flat=True)):
        started = None
        if token is not None:
            try:
                started = inflight.batch_fence(token)
            except redis.RedisError:
                logger.warning("could not read which calls of batch %s started; its sends are unknown", token)
        if started is not None:
            requeued += (
                stale.filter(claim_token=token)
                .exclude(pk__in=started)
                .update(
                    status=MessageStatus.QUEUED,
                    attempts=Greatest(F("attempts") - 1, 0),
                    dispatched_at=None,
                    claim_token=None,
                    lease_expires_at=None,
                )
            )
    count = stale.update(
        status=MessageStatus.UNKNOWN,
        claim_token=None,
        lease_expires_at=None,
        error_detail="The worker stopped during the send; the outcome comes with the status webhook.",
    )
    if requeued:
        logger.warning("%s message(s) a stopped worker had not sent yet are queued again", requeued)
    if count:
        logger.warning("%s message(s) left in flight by a stopped worker are now unknown", count)
    return count + requeued


def _claimable(campaign_id: int, now: datetime) -> Any:
    return Message.objects.filter(campaign_id=campaign_id, kind=Message.Kind.CAMPAIGN, status=MessageStatus.QUEUED).filter(
        Q(send_after__isnull=True) | Q(send_after__lte=now), Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    )


def messages_claimable_exist(*, campaign_id: int, now: datetime | None = None) -> bool:
    return _claimable(campaign_id, now or timezone.now()).exists()


def messages_claim(*, campaign_id: int, limit: int) -> tuple[uuid.UUID, list[Message]]:
    """Lease up to ``limit`` due messages of the campaign to this dispatcher (skipping rows others hold)."""
    now = timezone.now()
    token = uuid.uuid4()
    with transaction.atomic():
        ids = list(_claimable(campaign_id, now).select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
        if ids:
            Message.objects.filter(pk__in=ids).update(
                claim_token=token, claimed_at=now, lease_expires_at=now + timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS)
            )
    # By primary key: claim_token has no index, and a scan of every message of every campaign per batch
    # grew with the table (100,000 rows read per claim in a 100,000-recipient campaign).
    messages = list(Message.objects.filter(pk__in=ids, claim_token=token).select_related("contact")) if ids else []
    return token, messages


def _release(messages: list[Message], token: uuid.UUID) -> None:
    Message.objects.filter(pk__in=[m.pk for m in messages], claim_token=token, status=MessageStatus.QUEUED).update(
        claim_token=None, lease_expires_at=None
    )


# --- 3. the per-contact lock --------------------------------------------------------------------

_lock_connections = threading.local()


def _lock_connection() -> Any:
    """A second connection of this process/thread, used only to hold the consent row locks."""
    cached = getattr(_lock_connections, "value", None)
    if cached is None or cached[0] != os.getpid():
        cached = (os.getpid(), connections.create_connection(DEFAULT_DB_ALIAS))
        _lock_connections.value = cached
    return cached[1]


def consent_locks_close() -> None:
    """Close this thread's lock connection (between tasks, so idle workers hold no extra connection)."""
    cached = getattr(_lock_connections, "value", None)
    if cached is not None and cached[0] == os.getpid():
        cached[1].close()
    _lock_connections.value = None


@contextmanager
def consent_locks(contact_ids: list[int]) -> Iterator[None]:
    """Hold FOR UPDATE locks on the contacts' marketing ConsentState rows for the ``with`` body.

    The locks live on their own connection so this process can commit its own writes (the
    SENDING marks before the HTTP calls) while still holding them. Rows are locked in contact
    order, so two batches never deadlock. SQLite (development) serialises writers anyway.
    """
    if connection.vendor != "postgresql" or not contact_ids:
        yield
        return
    lock_db = _lock_connection()
    lock_db.close_if_unusable_or_obsolete()
    lock_db.ensure_connection()
    lock_db.set_autocommit(False)
    try:
        with lock_db.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = %s", [f"{settings.CAMPAIGN_LOCK_TIMEOUT_SECONDS}s"])
            cursor.execute(
                f"""
                SELECT state.id FROM {ConsentState._meta.db_table} AS state
                JOIN {Purpose._meta.db_table} AS purpose ON purpose.id = state.purpose_id
                WHERE purpose.code = %s AND state.contact_id = ANY(%s)
                ORDER BY state.contact_id
                FOR UPDATE OF state
                """,
                [Purpose.MARKETING, sorted(contact_ids)],
            )
            cursor.fetchall()
        yield
    finally:
        try:
            lock_db.rollback()
            lock_db.set_autocommit(True)
        except Exception:  # a broken lock connection is replaced next time; its locks die with it
            logger.exception("could not release the consent locks cleanly")
            lock_db.close()


# --- 3. check -----------------------------------------------------------------------------------


@dataclass
class _Verdict:
    message: Message
    reason: str  # eligibility.ELIGIBLE or a reason
    row: dict[str, Any]
    send_after: datetime | None = None


def _decisions(campaign: Campaign, messages: list[Message], limits: CapLimits, now: datetime) -> list[_Verdict]:
    """The send-time check of a whole batch, in one query (plus one for capped contacts)."""
    by_contact = {m.contact_id: m for m in messages}
    zones = sorted({m.contact.time_zone for m in messages})
    rows = {
        row["pk"]: row
        for row in eligibility.eligibility_annotate(
            Contact.objects.filter(pk__in=list(by_contact)), campaign=campaign, limits=limits, now=now, zones=zones
        ).values("pk", "verdict", "consent_status", "consent_event_id", "day_count", "week_count", "time_zone",
                 *[f"param_{i}" for i, entry in enumerate(campaign.parameters) if "value" not in entry])  # fmt: skip
    }
    capped = [cid for cid, row in rows.items() if row["verdict"] == eligibility.FREQUENCY_CAP]
    dispatched: dict[int, list[datetime]] = {}
    if capped:
        since = now - timedelta(days=8)
        for contact_id, moment in Message.objects.filter(
            CAP_COUNTED_Q, contact_id__in=capped, is_marketing=True, dispatched_at__gte=since
        ).values_list("contact_id", "dispatched_at"):
            dispatched.setdefault(contact_id, []).append(moment)
    verdicts = []
    for contact_id, message in by_contact.items():
        row = rows.get(contact_id) or {"verdict": eligibility.INVALID_NUMBER, "time_zone": "UTC"}
        verdict = _Verdict(message=message, reason=row["verdict"], row=row)
        if verdict.reason == eligibility.FREQUENCY_CAP:
            verdict.send_after = cap_release_time(row["time_zone"], now, limits, dispatched.get(contact_id, []))
            if verdict.send_after is None:  # counted differently a moment ago; check again shortly
                verdict.send_after = now + timedelta(seconds=5)
        elif verdict.reason == eligibility.QUIET_HOURS:
            verdict.send_after = quiet_hours_end(row["time_zone"], now, limits) or now + timedelta(minutes=1)
        verdicts.append(verdict)
    return verdicts


def _decision_record(campaign: Campaign, verdict: _Verdict, limits: CapLimits, now: datetime, values: list[str | None]) -> dict:
    row = verdict.row
    template = campaign.template
    record = {
        "checked_at": now.isoformat(),
        "outcome": "send" if verdict.reason == eligibility.ELIGIBLE else ("defer" if verdict.send_after else "skip"),
        "reason": verdict.reason,
        "template": {"name": template.name, "language": template.language, "category": template.category, "status": template.status},
        "marketing_consent": row.get("consent_status"),
        "consent_event": row.get("consent_event_id"),
        "caps": {"today": row.get("day_count"), "last_7_days": row.get("week_count"),
                 "max_per_day": limits.max_per_day, "max_per_week": limits.max_per_week},  # fmt: skip
        "time_zone": row.get("time_zone"),
    }
    if verdict.send_after:
        record["deferred_until"] = verdict.send_after.isoformat()
    if verdict.reason == eligibility.ELIGIBLE:
        record["parameters"] = values
    return record


# --- 3. send ------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    message: Message
    result: SendResult | None = None
    error: WhatsAppError | None = None
    attempted: bool = True
    during_outage: bool = False  # one of many server errors in a row: the API's fault, not the message's


def _never_left(error: WhatsAppError) -> bool:
    """True when the request certainly did not reach WhatsApp (so sending again is no duplicate)."""
    if error.http_status is not None:
        return True  # WhatsApp answered, with an error: nothing was accepted
    cause = error.__cause__
    if isinstance(cause, requests.ConnectTimeout):
        return True
    if isinstance(cause, requests.ConnectionError) and not isinstance(cause, requests.Timeout):
        reason = getattr(cause.args[0], "reason", None) if cause.args else None
        return reason is not None and "NewConnectionError" in type(reason).__name__
    return False


def _send_all(campaign: Campaign, token: uuid.UUID, to_send: list[tuple[Message, list[dict]]]) -> list[_Outcome]:
    stop = threading.Event()
    phone_number_id = settings.WHATSAPP_PHONE_NUMBER_ID
    template = campaign.template

    def send_one(item: tuple[Message, list[dict]]) -> _Outcome:
        message, components = item
        try:
            if (
                stop.is_set()
                or not bucket_take(phone_number_id, timeout=settings.CAMPAIGN_LEASE_SECONDS / 3)
                or not inflight.call_start(token, message.pk)
            ):
                return _Outcome(message, attempted=False)
        except redis.RedisError as exc:  # no token or no record of the call: it must not start
            logger.warning("send of message %s not started: %s", message.pk, exc.__class__.__name__)
            return _Outcome(message, attempted=False)
        try:
            result = whatsapp_client.send_template(
                to=message.contact.phone,
                template_name=template.name,
                language=template.language,
                components=components,
                callback_data=message.callback_data,
            )
        except WhatsAppError as error:
            if error.stops_campaign:
                stop.set()
            return _Outcome(message, error=error, during_outage=_send_rate_adjust(phone_number_id, error))
        except Exception as exc:  # a bug must not leave the batch half-written; the outcome is unknown
            logger.exception("unexpected error sending message %s", message.pk)
            return _Outcome(message, error=WhatsAppError(f"Unexpected error: {exc.__class__.__name__}"))
        _send_rate_adjust(phone_number_id, None)
        return _Outcome(message, result=result)

    futures = [_send_threads().submit(send_one, item) for item in to_send]
    # A slow batch is not a dead worker: while its calls run, keep its lease (and the campaign's
    # dispatcher heartbeat) alive, so recovery does not turn rows that are being sent into UNKNOWN.
    while wait(futures, timeout=settings.CAMPAIGN_LEASE_SECONDS / 3).not_done:
        _lease_renew(campaign.pk, token, [message.pk for message, _ in to_send])
    return [future.result() for future in futures]


_send_pool: tuple[int, int, ThreadPoolExecutor] | None = None
_send_pool_lock = threading.Lock()


def _send_threads() -> ThreadPoolExecutor:
    """The process's CAMPAIGN_SEND_CONCURRENCY send threads, shared by the batches it has in flight.

    Shared, so that one batch's calls keep the threads busy while another batch is being claimed,
    checked or written back, and the process never has more calls open than the setting says.
    """
    global _send_pool
    size = settings.CAMPAIGN_SEND_CONCURRENCY
    with _send_pool_lock:
        if _send_pool is None or _send_pool[:2] != (os.getpid(), size):  # a forked process makes its own
            _send_pool = (os.getpid(), size, ThreadPoolExecutor(max_workers=size, thread_name_prefix="send"))
        return _send_pool[2]


def _lease_renew(campaign_id: int, token: uuid.UUID, message_ids: list[uuid.UUID]) -> None:
    """Push back the lease of the batch's rows still in flight (rows recovered meanwhile are not ours)."""
    try:
        Message.objects.filter(pk__in=message_ids, claim_token=token, status=MessageStatus.SENDING).update(
            lease_expires_at=timezone.now() + timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS)
        )
        dispatcher_heartbeat(campaign_id)
    except Exception:  # the sends go on; at worst recovery marks them UNKNOWN, never sends them twice
        logger.exception("could not renew the lease of batch %s", token)


def _send_rate_adjust(phone_number_id: str, error: WhatsAppError | None) -> bool:
    """Throughput errors and outages slow every worker down; a success ends an outage.

    Returns True when ``error`` is part of an outage. Never raises: the send's outcome is known
    already and must be recorded as it is.
    """
    try:
        if error is None:
            outage_success_record(phone_number_id)
        elif error.is_throughput:
            bucket_back_off(phone_number_id, seconds=settings.CAMPAIGN_THROTTLE_BACKOFF_SECONDS)
        elif error.scope is ErrorScope.TRANSIENT and not error.is_pair_rate_limit:
            return outage_failure_record(phone_number_id)
    except redis.RedisError as exc:
        logger.warning("could not adjust the send rate: %s", exc.__class__.__name__)
    return False


def _retry_delay(attempts: int) -> timedelta:
    base = settings.CAMPAIGN_RETRY_BASE_SECONDS * (2 ** max(attempts - 1, 0))
    return timedelta(seconds=min(base, 3600) * random.uniform(0.5, 1.5))


def _apply_outcome(message: Message, outcome: _Outcome, now: datetime) -> tuple[str | None, WhatsAppError | None]:
    """Write one outcome onto the (locked, fresh) row; returns a campaign-level problem, if any."""
    result, error = outcome.result, outcome.error
    message.claim_token = None
    message.lease_expires_at = None
    in_flight = message.status in (MessageStatus.SENDING, MessageStatus.UNKNOWN)
    if result is not None:
        message.wamid = message.wamid or result.wamid
        message.accepted_at = message.accepted_at or now
        if in_flight:
            message.status = MessageStatus.ACCEPTED
            message.error_detail = ""
        message.decision = {**message.decision, "result": {"at": now.isoformat(), "outcome": "accepted", "wamid": result.wamid}}
        return None, None
    if not in_flight:  # a status webhook already settled it
        return None, None
    if not outcome.attempted:
        message.status, message.attempts = MessageStatus.QUEUED, max(message.attempts - 1, 0)
        return None, None
    assert error is not None
    message.error_code = error.code
    message.error_title = (error.title or "")[:300]
    message.error_detail = error.details or error.message
    record = {"at": now.isoformat(), "code": error.code, "scope": error.scope.value, "error": error.message}
    if error.scope is ErrorScope.TRANSIENT and not _never_left(error):
        message.status = MessageStatus.UNKNOWN
        record["outcome"] = "unknown: the request may have reached WhatsApp; its status webhook will tell"
    elif error.stops_campaign:
        message.status, message.attempts = MessageStatus.QUEUED, max(message.attempts - 1, 0)
        record["outcome"] = "requeued: the campaign was paused"
        problem = f"WhatsApp refused the send with error {error.code}: {error.message}"
        message.decision = {**message.decision, "result": record}
        return problem, error
    elif error.scope is ErrorScope.TRANSIENT:
        if error.is_throughput or outcome.during_outage:  # not this message's fault: no attempt spent
            message.status, message.attempts = MessageStatus.QUEUED, max(message.attempts - 1, 0)
            message.send_after = now + timedelta(seconds=settings.CAMPAIGN_THROTTLE_BACKOFF_SECONDS)
            record["outcome"] = "requeued: throughput limit" if error.is_throughput else "requeued: the API is failing for every send"
        elif message.attempts >= settings.CAMPAIGN_MAX_ATTEMPTS:
            message.status, message.failed_at = MessageStatus.FAILED, now
            record["outcome"] = f"failed after {message.attempts} attempts"
        else:
            delay = timedelta(minutes=5) if error.is_pair_rate_limit else _retry_delay(message.attempts)
            message.status, message.send_after = MessageStatus.QUEUED, now + delay
            record["outcome"] = f"retry after {int(delay.total_seconds())} s"
    else:
        message.status, message.failed_at = MessageStatus.FAILED, now
        record["outcome"] = "failed for this recipient"
    message.decision = {**message.decision, "result": record}
    return None, None


@dataclass
class BatchReport:
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    deferred: int = 0
    failed: int = 0
    unknown: int = 0
    stopped: str = ""  # why the campaign stopped, if it did


def batch_send(*, campaign_id: int, token: uuid.UUID, messages: list[Message]) -> BatchReport:
    """Check, send and record one claimed batch of one campaign (see the module docstring)."""
    report = BatchReport(claimed=len(messages))
    campaign = Campaign.objects.select_related("template", "segment").get(pk=campaign_id)
    if campaign.status != Campaign.Status.SENDING:
        _release(messages, token)
        report.stopped = f"campaign is {campaign.status}"
        return report
    template = campaign.template
    if not template.is_sendable:
        _release(messages, token)
        reason = f"Template {template} is {template.get_status_display().lower()} at WhatsApp: sending paused."
        _campaign_stop(campaign, reason)
        report.stopped = reason
        return report
    limits = cap_limits(campaign=campaign)
    outcomes: list[_Outcome] = []
    with consent_locks(sorted({m.contact_id for m in messages})):
        now = timezone.now()
        verdicts = _decisions(campaign, messages, limits, now)
        to_send: list[tuple[Message, list[dict]]] = []
        inflight.batch_open(token)  # before any row is SENDING: recovery can then tell unknown from unsent
        with transaction.atomic():
            owned = set(
                Message.objects.select_for_update()
                .filter(pk__in=[m.pk for m in messages], claim_token=token, status=MessageStatus.QUEUED)
                .values_list("pk", flat=True)
            )
            written = []
            for verdict in verdicts:
                message = verdict.message
                if message.pk not in owned:
                    continue
                values = parameter_values(campaign.parameters, verdict.row)
                message.decision = _decision_record(campaign, verdict, limits, now, values)
                if verdict.reason == eligibility.ELIGIBLE:
                    message.status = MessageStatus.SENDING
                    message.attempts += 1
                    message.dispatched_at = now
                    to_send.append((message, template_components(template, values, link_token=button_token(campaign, message))))
                elif verdict.send_after and not (campaign.expires_at and verdict.send_after > campaign.expires_at):
                    message.send_after = verdict.send_after
                    message.claim_token = message.lease_expires_at = None
                    report.deferred += 1
                else:
                    message.status = MessageStatus.SKIPPED
                    message.skip_reason = verdict.reason
                    message.claim_token = message.lease_expires_at = None
                    if verdict.send_after:
                        message.decision["expired"] = "deferred past the campaign's end"
                    report.skipped += 1
                written.append(message)
            rows_update(Message, written, _MESSAGE_WRITE_FIELDS)
        # Committed: a crash from here on leaves SENDING rows, which are never re-sent blindly.
        if to_send:
            outcomes = _send_all(campaign, token, to_send)
    # Every call has returned: opt-outs waiting on the locks may go ahead now.
    problem = _results_write(outcomes, report, token)
    if problem:
        _campaign_stop(campaign, problem[0])
        if problem[1].stops_account:
            for other in Campaign.objects.filter(status=Campaign.Status.SENDING).exclude(pk=campaign.pk):
                _campaign_stop(other, f"Account-wide problem: {problem[0]}")
        report.stopped = problem[0]
    _platform_optouts_record(outcomes)
    return report


def _campaign_stop(campaign: Campaign, reason: str) -> None:
    """Pause a sending campaign (another dispatcher may have paused it a moment ago)."""
    from campaigns.services import CampaignError, campaign_pause

    try:
        campaign_pause(campaign=campaign, actor=_SENDER, reason=reason)
    except CampaignError:
        pass


def _results_write(outcomes: list[_Outcome], report: BatchReport, token: uuid.UUID) -> tuple[str, WhatsAppError] | None:
    if not outcomes:
        return None
    now = timezone.now()
    problem = None
    by_id = {outcome.message.pk: outcome for outcome in outcomes}
    with transaction.atomic():
        fresh = list(Message.objects.select_for_update().filter(pk__in=list(by_id)).order_by("pk"))
        # A send that never started, on a row recovered since (the batch outlived its lease), is not
        # ours any more: another dispatcher may hold it now.
        fresh = [message for message in fresh if by_id[message.pk].attempted or message.claim_token == token]
        for message in fresh:
            found, error = _apply_outcome(message, by_id[message.pk], now)
            if found and problem is None:
                problem = (found, error)
            if message.status == MessageStatus.ACCEPTED or by_id[message.pk].result is not None:
                report.sent += 1
            elif message.status == MessageStatus.FAILED:
                report.failed += 1
            elif message.status == MessageStatus.UNKNOWN:
                report.unknown += 1
        rows_update(Message, fresh, _MESSAGE_WRITE_FIELDS)
    return problem


def _platform_optouts_record(outcomes: list[_Outcome]) -> None:
    """131050: the person stopped marketing in WhatsApp itself; record it in our ledger too."""
    from whatsapp.services import platform_optout_record

    for outcome in outcomes:
        if outcome.error is not None and outcome.error.records_platform_optout:
            contact = outcome.message.contact
            try:
                platform_optout_record(wa_id=contact.wa_id or (contact.phone or "").lstrip("+"), detail=outcome.error.details)
            except Exception:
                logger.exception("could not record the platform opt-out of contact %s", contact.pk)


# --- 4. the dispatcher loop ---------------------------------------------------------------------


def campaign_dispatch(*, campaign_id: int, time_budget: float) -> bool:
    """Send batches of the campaign until none is due or ``time_budget`` seconds passed.

    Returns True when due work remains (the caller should run again soon). On PostgreSQL the
    dispatcher keeps CAMPAIGN_BATCHES_IN_FLIGHT batches going at once, each in its own thread with
    its own connections: while one is being claimed, checked or written back, the other's calls
    keep the send threads busy. Each batch is claimed, locked and recorded exactly as when alone.
    """
    from campaigns.services import campaign_complete_if_done

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
    while not stop.is_set():
        if not Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING).exists():
            return "stopped"
        dispatcher_heartbeat(campaign_id)
        token, messages = messages_claim(campaign_id=campaign_id, limit=batch_limit())
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


def batch_limit() -> int:
    """How many messages a dispatcher claims at once: at most CAMPAIGN_BATCH_SIZE, and at most what its
    share of the send rate sends in about a second.

    A batch holds its recipients' consent locks until its last call returned, and an opt-out (a STOP
    webhook waiting for its 200) waits for them: at a low rate a full batch would hold them for
    many seconds.
    """
    share = settings.CAMPAIGN_SEND_RATE / (settings.CAMPAIGN_DISPATCHERS * settings.CAMPAIGN_BATCHES_IN_FLIGHT)
    return max(1, min(settings.CAMPAIGN_BATCH_SIZE, math.ceil(share)))


def _heartbeat_key(campaign_id: int) -> str:
    return f"retarget:campaign-dispatching:{campaign_id}"


def dispatcher_heartbeat(campaign_id: int, *, active: bool = True) -> None:
    """Tell beat a dispatcher works on the campaign (it expires with the lease if the worker dies)."""
    from django.core.cache import cache

    if active:
        cache.set(_heartbeat_key(campaign_id), 1, timeout=settings.CAMPAIGN_LEASE_SECONDS)
    else:
        cache.delete(_heartbeat_key(campaign_id))


def dispatcher_active(campaign_id: int) -> bool:
    from django.core.cache import cache

    return bool(cache.get(_heartbeat_key(campaign_id)))


def message_preview(*, campaign: Campaign, row: dict[str, Any]) -> str:
    """The body one annotated contact row would receive."""
    return template_render_body(campaign.template, parameter_values(campaign.parameters, row))
