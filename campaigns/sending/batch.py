"""One claimed batch: check under the consent locks, mark SENDING, send concurrently, write the results back."""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from campaigns import eligibility
from campaigns.caps import cap_limits
from campaigns.lifecycle import (
    account_problem_reason,
    account_sending_stop,
    campaign_stop,
)
from campaigns.models import Campaign, Message, MessageStatus
from campaigns.parameters import parameter_values, template_components
from campaigns.sending import inflight
from campaigns.sending.claims import dispatcher_heartbeat, release
from campaigns.sending.decide import Verdict, decision_record, decisions
from campaigns.sending.locks import consent_locks
from campaigns.sending.outcomes import Outcome, outcome_apply
from campaigns.sending.throttle import (
    bucket_back_off,
    bucket_rate,
    bucket_take,
    outage_failure_record,
    outage_success_record,
)
from campaigns.tracking import button_token
from campaigns.unknown_codes import unknown_code_reason, unknown_codes_count
from campaigns.variants import CONTROL, CONTROL_SKIP_REASON, campaign_views_by_label
from consent.services import platform_optout_record
from core.rows import rows_update
from whatsapp import client as whatsapp_client
from whatsapp.account import account_problem_record, account_sending_blocked, messaging_limit_current
from whatsapp.client import HELD_BACK_RETRY_BEFORE, UNKNOWN_CODE_PAUSE_AFTER, ErrorScope, WhatsAppError
from whatsapp.models import MessageTemplate
from whatsapp.numbers import Number, marketing_messages_api_for, number_get

logger = logging.getLogger(__name__)

MESSAGING_LIMIT_LOCK = 0x72656C69  # pg_advisory_xact_lock key of the day's headroom count under the messaging limit

_MESSAGE_WRITE_FIELDS = [
    "status", "skip_reason", "decision", "wamid", "attempts", "error_code", "error_title", "error_detail",
    "send_after", "claim_token", "lease_expires_at", "dispatched_at", "accepted_at", "failed_at", "is_marketing",
    "phone_number_id",
]  # fmt: skip
# What marking a row SENDING changes. Only these are written for those rows: the instances come from the
# claim, and writing back their other columns would cost CPU for nothing (or undo a change made since).
_SENDING_WRITE_FIELDS = ["status", "decision", "attempts", "dispatched_at", "is_marketing", "phone_number_id"]

# --- 3. send ------------------------------------------------------------------------------------


def _send_all(
    campaign: Campaign, number: Number, token: uuid.UUID, to_send: list[tuple[Message, MessageTemplate, list[dict]]]
) -> list[Outcome]:
    stop = threading.Event()
    phone_number_id = number.phone_number_id  # the campaign's number: its own limiter, its own /messages
    rate = bucket_rate(phone_number_id)
    # Per template (each A/B variant's has its own category), decided here: the send threads must not
    # read the database (each would open, and keep, a connection of its own).
    marketing_messages_api = {
        template.pk: marketing_messages_api_for(category=template.category, phone_number_id=phone_number_id)
        for _, template, _ in to_send
    }

    def send_one(item: tuple[Message, MessageTemplate, list[dict]]) -> Outcome:
        message, template, components = item
        try:
            if (
                stop.is_set()
                or not bucket_take(  # the grant records the call's start: one round trip
                    phone_number_id, rate=rate, timeout=settings.CAMPAIGN_LEASE_SECONDS / 3, call=inflight.call_record(token, message.pk)
                )
            ):
                return Outcome(message, attempted=False)
        except redis.RedisError as exc:  # no token or no record of the call: it must not start
            logger.warning("send of message %s not started: %s", message.pk, exc.__class__.__name__)
            return Outcome(message, attempted=False)
        try:
            result = whatsapp_client.send_template(
                **message.contact.whatsapp_address(),  # the number when we hold it, else the BSUID
                template_name=template.name,
                language=template.language,
                components=components,
                callback_data=message.callback_data,
                marketing_messages_api=marketing_messages_api[template.pk],
                phone_number_id=phone_number_id,
            )
        except WhatsAppError as error:
            if error.stops_campaign:
                stop.set()
            return Outcome(message, error=error, during_outage=_send_rate_adjust(phone_number_id, error))
        except Exception as exc:  # a bug must not leave the batch half-written; the outcome is unknown
            logger.exception("unexpected error sending message %s", message.pk)
            return Outcome(message, error=WhatsAppError(f"Unexpected error: {exc.__class__.__name__}"))
        _send_rate_adjust(phone_number_id, None)
        return Outcome(message, result=result)

    futures = [_send_threads().submit(send_one, item) for item in to_send]
    # A slow batch is not a dead worker: while its calls run, keep its lease (and the campaign's
    # dispatcher heartbeat) alive, so recovery does not turn rows that are being sent into UNKNOWN.
    while wait(futures, timeout=settings.CAMPAIGN_LEASE_SECONDS / 3).not_done:
        _lease_renew(campaign.pk, token, [message.pk for message, _, _ in to_send])
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
        release(messages, token)
        report.stopped = f"campaign is {campaign.status}"
        return report
    views = campaign_views_by_label(campaign)  # one per A/B variant: its own template and parameters
    for view in views.values():
        template = view.template_chosen()
        if not template.is_sendable:
            release(messages, token)
            reason = f"Template {template} is {template.get_status_display().lower()} at WhatsApp: sending paused."
            campaign_stop(campaign, reason)
            report.stopped = reason
            return report
    account_problem = account_sending_blocked()
    if account_problem is not None:  # a person clears it, then resumes the campaign
        release(messages, token)
        reason = account_problem_reason(account_problem)
        campaign_stop(campaign, reason)
        report.stopped = reason
        return report
    number = number_get(campaign.phone_number_id)
    if number is None:  # removed or deactivated since the approval: a person chooses another
        release(messages, token)
        reason = f"The sending number {campaign.phone_number_id or '(default)'} is not configured any more: sending paused."
        campaign_stop(campaign, reason)
        report.stopped = reason
        return report
    limits = cap_limits(campaign=campaign)
    outcomes: list[Outcome] = []
    with consent_locks(sorted({m.contact_id for m in messages})):
        now = timezone.now()
        verdicts = []
        by_view: dict[str, list[Message]] = {}
        for message in messages:
            by_view.setdefault(message.variant if message.variant in views else next(iter(views)), []).append(message)
        for label, group in by_view.items():
            verdicts.extend(decisions(views[label], group, limits, now))
        for verdict in verdicts:
            if verdict.message.variant == CONTROL:  # the hold-out is never messaged, however its row got here
                verdict.reason, verdict.send_after = CONTROL_SKIP_REASON, None
        to_send: list[tuple[Message, MessageTemplate, list[dict]]] = []
        inflight.batch_open(token)  # before any row is SENDING: recovery can then tell unknown from unsent
        with transaction.atomic():
            # Counted and marked in one transaction under a lock: batches side by side never both take
            # the last of the day's headroom.
            verdicts = messaging_limit_defer(verdicts, now)
            # By primary key and token only, the status checked here: with ``status = 'queued'`` in the
            # query the planner (the table's statistics are those of before the launch) read every
            # queued entry of the campaign+status index and its heap page instead (37,881 entries and
            # 2,089 pages, 93 ms per batch at 30,000 recipients: more with every recipient).
            owned = {
                pk
                for pk, status in Message.objects.select_for_update()
                .filter(pk__in=[m.pk for m in messages], claim_token=token)
                .values_list("pk", "status")
                if status == MessageStatus.QUEUED
            }
            written = []
            for verdict in verdicts:
                message = verdict.message
                if message.pk not in owned:
                    continue
                view = views.get(message.variant) or next(iter(views.values()))
                values = parameter_values(view.parameters, verdict.row)
                held_back = message.decision.get("held_back")
                message.decision = decision_record(view, verdict, limits, now, values)
                if held_back:  # kept: a second hold-back fails the message
                    message.decision["held_back"] = held_back
                    if verdict.reason == eligibility.ELIGIBLE and now > datetime.fromisoformat(held_back["at"]) + HELD_BACK_RETRY_BEFORE:
                        verdict.reason = eligibility.HELD_BACK_TOO_LATE  # Meta's one retry is within 48 h
                if verdict.reason == eligibility.ELIGIBLE:
                    message.decision["sent_from"] = {"phone_number_id": number.phone_number_id, "rate_per_second": bucket_rate(number.phone_number_id)}
                    message.phone_number_id = number.phone_number_id
                    message.status = MessageStatus.SENDING
                    message.attempts += 1
                    message.dispatched_at = now
                    # The template's category now, not at materialisation: it counts toward the caps.
                    message.is_marketing = view.is_marketing
                    template = view.template_chosen()
                    to_send.append((message, template, template_components(template, values, link_token=button_token(campaign, message))))
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
            sending = [message for message in written if message.status == MessageStatus.SENDING]
            rows_update(Message, sending, _SENDING_WRITE_FIELDS)
            rows_update(Message, [message for message in written if message.status != MessageStatus.SENDING], _MESSAGE_WRITE_FIELDS)
        # Committed: a crash from here on leaves SENDING rows, which are never re-sent blindly.
        if to_send:
            outcomes = _send_all(campaign, number, token, to_send)
    # Every call has returned: opt-outs waiting on the locks may go ahead now.
    problem = _results_write(outcomes, report, token)
    if problem and problem[1].stops_account:
        account_problem, _ = account_problem_record(error=problem[1], source="send")
        account_sending_stop(account_problem)
        report.stopped = account_problem_reason(account_problem)
    elif problem:
        campaign_stop(campaign, problem[0])
        report.stopped = problem[0]
    unknown = [outcome.error for outcome in outcomes if outcome.error is not None and outcome.error.unknown_code is not None]
    if unknown and not report.stopped:
        total = unknown_codes_count(campaign.pk, len(unknown))
        if total >= UNKNOWN_CODE_PAUSE_AFTER:
            report.stopped = unknown_code_reason(unknown[-1], total)
            campaign_stop(campaign, report.stopped)
    _platform_optouts_record(outcomes)
    return report


def messaging_limit_defer(verdicts: list[Verdict], now: datetime) -> list[Verdict]:
    """Defer to the next day the sendable verdicts beyond today's headroom under the messaging limit.

    Meta's limit counts business-initiated messages to unique people per 24 hours (the notes'
    "Limits" section); a campaign larger than it is spread over days instead of being refused.
    Since 7 October 2025 Meta sets it per business portfolio, shared by all the portfolio's numbers
    ("one number can consume all of the portfolio's messaging capability":
    https://developers.facebook.com/documentation/business-messaging/whatsapp/messaging-limits), so the
    headroom is one for all our numbers, whichever number reported the limit last: campaigns on
    different numbers draw on it together, under one lock.
    Today is the UTC day; the headroom is the limit less the campaign messages dispatched today.
    Call it inside the transaction that marks the batch SENDING: the count is taken under a lock
    held until then, so dispatchers working side by side never overshoot.
    """
    eligible = [verdict for verdict in verdicts if verdict.reason == eligibility.ELIGIBLE]
    limit = messaging_limit_current() if eligible else None
    if limit is None or limit.daily_limit is None:
        return verdicts
    if connection.vendor == "postgresql":  # held until the caller's transaction marks the batch SENDING
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [MESSAGING_LIMIT_LOCK])
    day_start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    used = Message.objects.filter(kind=Message.Kind.CAMPAIGN, dispatched_at__gte=day_start).count()
    headroom = max(limit.daily_limit - used, 0)
    for verdict in eligible[headroom:]:
        verdict.reason = eligibility.MESSAGING_LIMIT
        verdict.send_after = day_start + timedelta(days=1, seconds=random.uniform(0, 600))
    return verdicts


def _results_write(outcomes: list[Outcome], report: BatchReport, token: uuid.UUID) -> tuple[str, WhatsAppError] | None:
    if not outcomes:
        return None
    now = timezone.now()
    problem: tuple[str, WhatsAppError] | None = None
    # Sends WhatsApp accepted (nearly all) are written by one statement on PostgreSQL; the rest go
    # through the outcome table row by row.
    accepted = [outcome for outcome in outcomes if outcome.result is not None] if connection.vendor == "postgresql" else []
    by_id = {outcome.message.pk: outcome for outcome in outcomes if outcome.result is None or not accepted}
    with transaction.atomic():
        if accepted:
            # Locks every row of the batch, the others too, in primary key order (the order of every
            # writer of message rows), before it writes any: the read below then waits for no lock.
            report.sent += _accepted_write(accepted, [outcome.message.pk for outcome in outcomes], now)
        if not by_id:
            return None
        fresh = list(Message.objects.select_for_update().filter(pk__in=list(by_id)).order_by("pk"))
        # A send that never started, on a row recovered since (the batch outlived its lease), is not
        # ours any more: another dispatcher may hold it now.
        fresh = [message for message in fresh if by_id[message.pk].attempted or message.claim_token == token]
        for message in fresh:
            found, error = outcome_apply(message, by_id[message.pk], now)
            if found and error is not None and problem is None:  # a problem always comes with its error
                problem = (found, error)
            if message.status == MessageStatus.ACCEPTED or by_id[message.pk].result is not None:
                report.sent += 1
            elif message.status == MessageStatus.FAILED:
                report.failed += 1
            elif message.status == MessageStatus.UNKNOWN:
                report.unknown += 1
        rows_update(Message, fresh, _MESSAGE_WRITE_FIELDS)
    return problem


def _accepted_write(accepted: list[Outcome], batch_ids: list[uuid.UUID], now: datetime) -> int:
    """``outcome_apply`` of accepted sends, in one statement (PostgreSQL); returns the rows written.

    Loading each row with its decision document, changing it in Python and writing 16 columns back
    took about 8 ms of a worker's CPU per 100 accepted sends; this statement takes under 1 ms. The
    same change, in SQL: the claim ends; the first wamid and acceptance time are kept; a row still in
    flight becomes ACCEPTED, one a status webhook settled meanwhile (e.g. delivered) keeps its
    status; the decision gets its result (its "at" is Python's isoformat, as outcome_apply writes it).

    The ``ARRAY(... FOR UPDATE)`` sub-select is run once and whole before the update writes (and so
    locks) its first row: it locks all of ``batch_ids``, the rows of the other outcomes too, in
    primary key order, the order of the status drain and of lease recovery. Locking the accepted
    rows here and the others in a second pass could take them out of that order and deadlock.
    """
    in_flight = [MessageStatus.SENDING.value, MessageStatus.UNKNOWN.value]
    rows = json.dumps([{"id": str(outcome.message.pk), "wamid": outcome.result.wamid} for outcome in accepted if outcome.result])
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {Message._meta.db_table} AS t SET
                claim_token = NULL,
                lease_expires_at = NULL,
                wamid = COALESCE(NULLIF(t.wamid, ''), v.wamid),
                accepted_at = COALESCE(t.accepted_at, %(now)s),
                status = CASE WHEN t.status = ANY(%(in_flight)s) THEN %(accepted)s ELSE t.status END,
                error_detail = CASE WHEN t.status = ANY(%(in_flight)s) THEN '' ELSE t.error_detail END,
                decision = t.decision || jsonb_build_object(
                    'result', jsonb_build_object('at', %(at)s::text, 'outcome', 'accepted', 'wamid', v.wamid)
                )
            FROM jsonb_to_recordset(%(rows)s::jsonb) AS v(id uuid, wamid varchar)
            WHERE t.id = v.id
              AND t.id = ANY(ARRAY(SELECT id FROM {Message._meta.db_table} WHERE id = ANY(%(batch)s::uuid[]) ORDER BY id FOR UPDATE))
            """,
            {
                "now": now,
                "at": now.isoformat(),  # the string outcome_apply writes, not PostgreSQL's rendering of the time
                "in_flight": in_flight,
                "accepted": MessageStatus.ACCEPTED.value,
                "rows": rows,
                "batch": "{" + ",".join(str(pk) for pk in batch_ids) + "}",
            },
        )
        return cursor.rowcount


def _platform_optouts_record(outcomes: list[Outcome]) -> None:
    """131050: the person stopped marketing in WhatsApp itself; record it in our ledger too."""
    for outcome in outcomes:
        if outcome.error is not None and outcome.error.records_platform_optout:
            contact = outcome.message.contact
            try:
                platform_optout_record(contact=contact, detail=outcome.error.details)
            except Exception:
                logger.exception("could not record the platform opt-out of contact %s", contact.pk)
