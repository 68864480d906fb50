"""The seven fault drills. ``python -m chaos.drills <name> --result <file>`` runs one in this process.

Each drill gets its own database (``retarget_chaos_<name>``, dropped and created again) and a Redis
db, starts the stack, creates its audience (opted-in people plus a few without consent and a few
opted out, whom nothing may reach), has a marketer and an approver launch the campaign through the
REST API on gunicorn, breaks something while it sends, waits for the status webhooks and counts.
Sizes scale with ``CHAOS_SCALE`` (1 = the sizes of the issue).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import requests

from bench.stack import FINISHED_CAMPAIGN_STATES, ROOT, OwnRedis, Stack, wait_until
from chaos.accounting import Audience, DrillResult, account
from chaos.webhooks import SIGNATURE_HEADER, WebhookRecorder, inbound_text_envelope, post, signature


def _server_of(url: str) -> str:
    """``scheme://user@host:port`` of a database or Redis URL (the drills name their own databases)."""
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}" if parsed.scheme and parsed.netloc else ""


# The servers of DATABASE_URL / REDIS_URL when set, else the local ones; CHAOS_*_SERVER override.
DATABASE_SERVER = (
    os.environ.get("CHAOS_DATABASE_SERVER") or _server_of(os.environ.get("DATABASE_URL", "")) or "postgres://postgres@127.0.0.1:5432"
).rstrip("/")
REDIS_SERVER = (os.environ.get("CHAOS_REDIS_SERVER") or _server_of(os.environ.get("REDIS_URL", "")) or "redis://127.0.0.1:6379").rstrip("/")
LOG_ROOT = ROOT / "var" / "chaos"
# Only the "sent" status, in envelopes of up to 50 events: enough to resolve unknown sends, cheap to process.
SENT_STATUS_ONLY = {"delivered_rate": 0.0, "webhook_batch_max": 50}
DRILL_TIMEOUT = float(os.environ.get("CHAOS_CAMPAIGN_TIMEOUT", "1500"))  # seconds one campaign may take
PARAMETERS = [{"field": "name", "fallback": "there"}, {"value": "20%"}]


def scaled(count: int, scale: float) -> int:
    return max(50, round(count * scale))


# --- set-up shared by the drills ----------------------------------------------------------------


def drill_stack(name: str, redis_db: int, *, redis_server: str = "", **options) -> Stack:
    """The drill's stack, with Django in this process set up on the same database and settings.

    ``redis_server``: a Redis of the drill's own (OwnRedis.url) instead of the machine's.
    """
    log_dir = LOG_ROOT / name
    shutil.rmtree(log_dir, ignore_errors=True)
    stack = Stack(f"{DATABASE_SERVER}/retarget_chaos_{name}", f"{redis_server or REDIS_SERVER}/{redis_db}", log_dir=log_dir, **options)
    os.environ.update(stack.env)
    import django

    django.setup()
    return stack


def audience_create(count: int, *, max_per_day: int = 1) -> Audience:
    """``count`` opted-in people, plus 2% never opted in and 2% opted out; no quiet hours."""
    from bench import datagen

    datagen.quiet_hours_off(max_per_day=max_per_day)
    controls = max(1, count // 50)
    return Audience(
        opted_in=datagen.opted_in_contacts(count=count, start=0),
        without_consent=datagen.contacts_without_consent(count=controls, start=count),
        opted_out=datagen.opted_out_contacts(count=controls, start=count + controls),
    )


class Desk:
    """A marketer and an approver working through the REST API on gunicorn (four eyes)."""

    def __init__(self, stack: Stack) -> None:
        from bench import datagen

        self.api = f"{stack.web_url}/api/v1"
        self.marketer = datagen.staff_token("chaos-marketer", "Marketer")
        self.approver = datagen.staff_token("chaos-approver", "Approver")
        self.segment_id = datagen.segment_everyone().pk

    def _post(self, token: str, path: str, body: dict | None = None) -> dict:
        response = requests.post(f"{self.api}{path}", json=body, headers={"Authorization": f"Token {token}"}, timeout=60)
        if response.status_code >= 300:
            raise RuntimeError(f"POST {path} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    def campaign_created(self, name: str, *, send_at: datetime | None = None) -> int:
        body = {"name": name, "template": "spring_sale", "language": "en_US", "segment": self.segment_id, "parameters": PARAMETERS}
        if send_at is not None:
            body["send_at"] = send_at.isoformat()
        campaign_id = self._post(self.marketer, "/campaigns", body)["id"]
        self._post(self.marketer, f"/campaigns/{campaign_id}/submit")
        return campaign_id

    def approve(self, campaign_id: int) -> None:
        self._post(self.approver, f"/campaigns/{campaign_id}/approve")

    def campaign_launched(self, name: str) -> int:
        campaign_id = self.campaign_created(name)
        self.approve(campaign_id)
        return campaign_id


def accepted_count(stack: Stack, campaign_id: int) -> int:
    """Messages of the campaign WhatsApp accepted so far (by the database's record)."""
    return stack.sql(
        "SELECT count(*) FROM campaigns_message WHERE campaign_id = %s AND status IN ('accepted', 'sent', 'delivered', 'read')",
        [campaign_id],
    )[0][0]


def sending_count(stack: Stack, campaign_id: int) -> int:
    return stack.sql("SELECT count(*) FROM campaigns_message WHERE campaign_id = %s AND status = 'sending'", [campaign_id])[0][0]


def unknown_count(stack: Stack, campaign_ids: list[int]) -> int:
    return stack.sql("SELECT count(*) FROM campaigns_message WHERE campaign_id = ANY(%s) AND status = 'unknown'", [campaign_ids])[0][0]


def wait_for_share_sent(stack: Stack, campaign_id: int, share: float, recipients: int) -> None:
    wait_until(
        lambda: accepted_count(stack, campaign_id) >= share * recipients or stack.campaign_status(campaign_id) in FINISHED_CAMPAIGN_STATES,
        timeout=DRILL_TIMEOUT,
        what=f"{share:.0%} of campaign {campaign_id} to be sent",
        interval=0.25,
    )


def finish(stack: Stack, result: DrillResult, campaign_ids: list[int], audience: Audience, started: float, **checks) -> DrillResult:
    """Wait for the campaign(s) and their status webhooks, then count against the sandbox's log."""
    for campaign_id in campaign_ids:
        status = stack.wait_for_campaign(campaign_id, timeout=DRILL_TIMEOUT)
        if status != "completed":
            result.problems.append(f"campaign {campaign_id} ended {status}")
    result.seconds = time.monotonic() - started
    stack.wait_for_webhooks(timeout=600)
    return account(result, campaign_ids=campaign_ids, audience=audience, sends=stack.sandbox_sends(), **checks)


# --- 1. worker kills ----------------------------------------------------------------------------


def worker_kills(scale: float, redis_db: int) -> DrillResult:
    """SIGKILL a random worker every few seconds during a 20,000-recipient campaign, restarting it each time."""
    result = DrillResult("1 worker kills")
    workers, worker_concurrency = 2, 3
    with drill_stack("worker_kills", redis_db, workers=workers, worker_concurrency=worker_concurrency, sandbox_latency_ms=50,
                     sandbox_config=SENT_STATUS_ONLY) as stack:  # fmt: skip
        audience = audience_create(scaled(20_000, scale))
        desk = Desk(stack)
        rng = random.Random(1)
        started = time.monotonic()
        campaign_id = desk.campaign_launched("worker kills")
        kills = in_flight = 0
        deadline = started + DRILL_TIMEOUT
        while stack.campaign_status(campaign_id) not in FINISHED_CAMPAIGN_STATES and time.monotonic() < deadline:
            time.sleep(rng.uniform(3, 6))
            if stack.campaign_status(campaign_id) in FINISHED_CAMPAIGN_STATES:
                break
            index = rng.randrange(workers)
            stack.kill_worker(index)
            kills += 1
            in_flight += sending_count(stack, campaign_id)  # rows marked sending when the worker died (an upper bound)
            stack.restart_worker(index)
        stack.wait_for_campaign(campaign_id, timeout=DRILL_TIMEOUT)
        unknown_when_sent = unknown_count(stack, [campaign_id])
        finish(stack, result, [campaign_id], audience, started)
        # At most this many calls can be in flight in one worker: its processes times their send threads.
        per_kill = worker_concurrency * int(stack.env["CAMPAIGN_SEND_CONCURRENCY"])
        result.notes.append(
            f"{kills} kills ({in_flight} rows marked sending at the kills, at most {per_kill} calls in flight each); "
            f"{unknown_when_sent} unknown when sending ended, {result.unknown} once the status webhooks were in"
        )
        if result.unknown > kills * per_kill:
            result.problems.append("more messages unknown than calls can have been in flight at the kills")
    return result


# --- 2 and 3: the broker and the database fail under a running campaign ---------------------------


def _campaign_under_fault(
    key: str, result: DrillResult, size: int, redis_db: int, fault: Callable[[Stack, int, int], str], *, redis_server: str = ""
) -> DrillResult:
    """Launch a campaign to ``size`` people, run ``fault(stack, campaign_id, size)`` while it sends, count."""
    with drill_stack(key, redis_db, redis_server=redis_server, workers=2, worker_concurrency=3, sandbox_latency_ms=20,
                     sandbox_config=SENT_STATUS_ONLY) as stack:  # fmt: skip
        audience = audience_create(size)
        started = time.monotonic()
        campaign_id = Desk(stack).campaign_launched(result.drill)
        result.notes.append(fault(stack, campaign_id, len(audience.opted_in)))
        finish(stack, result, [campaign_id], audience, started)
    return result


def redis_restart(scale: float, redis_db: int) -> DrillResult:
    """Restart the broker (Redis, without saving: queued tasks are lost) in the middle of a campaign.

    The drill's own Redis server (broker, limiter, record of calls), started and restarted on a port of
    its own: the machine's Redis, shared with others, is never touched.
    """
    with OwnRedis() as server:

        def restart(stack: Stack, campaign_id: int, recipients: int) -> str:
            wait_for_share_sent(stack, campaign_id, 0.3, recipients)
            down = stack.restart_redis(server)
            return f"Redis down {down:.1f} s at {accepted_count(stack, campaign_id)} sent"

        return _campaign_under_fault(
            "redis_restart", DrillResult("2 Redis restart"), scaled(10_000, scale), redis_db, restart, redis_server=server.url
        )


def db_terminate(scale: float, redis_db: int) -> DrillResult:
    """``pg_terminate_backend`` the workers' connections three times during a campaign."""

    def terminate(stack: Stack, campaign_id: int, recipients: int) -> str:
        terminated = []
        for share in (0.2, 0.45, 0.7):
            wait_for_share_sent(stack, campaign_id, share, recipients)
            terminated.append(stack.terminate_db_connections())
        return f"worker connections terminated: {' + '.join(map(str, terminated))}"

    return _campaign_under_fault("db_terminate", DrillResult("3 DB terminate"), scaled(10_000, scale), redis_db, terminate)


# --- 4. API faults --------------------------------------------------------------------------------


class AttemptMeter:
    """Send attempts per second reaching the sandbox (accepted + refused), sampled in the background."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _attempts(self) -> int:
        answer = self.stack.sandbox_request("GET", "/_sandbox/sends?offset=999999999")
        return answer["count"] + sum(answer["refused"].values())

    def _run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.monotonic(), self._attempts()))
            self.stop.wait(0.5)

    def rate(self, start: float, end: float) -> float:
        inside = [(t, n) for t, n in self.samples if start <= t <= end]
        if len(inside) < 2:
            return 0.0
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def api_faults(scale: float, redis_db: int) -> DrillResult:
    """30% transient errors and bursts of throughput errors, then the API down for 30 s."""
    result = DrillResult("4 API faults")
    outage = 30.0
    # A message fails all of N attempts with probability 0.3^N: 0.24% with the default 5. Runs showed the
    # unluckiest of 2,500 messages needing 10-12 attempts (failures cluster around the outage), so the drill
    # allows 20. Waits start at 0.5 s instead of 30 s and stop growing at 15 s instead of an hour, so that
    # the drill takes minutes, not hours.
    env = {"CAMPAIGN_MAX_ATTEMPTS": "20", "CAMPAIGN_RETRY_BASE_SECONDS": "0.5", "CAMPAIGN_RETRY_MAX_SECONDS": "15"}
    with drill_stack("api_faults", redis_db, workers=2, worker_concurrency=3, sandbox_latency_ms=20,
                     sandbox_config={**SENT_STATUS_ONLY, "server_error_rate": 0.3}, env_overrides=env) as stack:  # fmt: skip
        audience = audience_create(scaled(10_000, scale))
        desk = Desk(stack)
        meter = AttemptMeter(stack)
        meter.thread.start()
        started = time.monotonic()
        campaign_id = desk.campaign_launched("API faults")
        bursts = 0
        try:

            def throughput_bursts(until_share: float) -> None:
                nonlocal bursts
                while accepted_count(stack, campaign_id) < until_share * len(audience.opted_in):
                    if stack.campaign_status(campaign_id) in FINISHED_CAMPAIGN_STATES:
                        return
                    time.sleep(3)
                    stack.sandbox_config(throttle_rate=1.0)
                    time.sleep(1)
                    stack.sandbox_config(throttle_rate=0.0)
                    bursts += 1

            throughput_bursts(0.35)
            before_start = time.monotonic()
            time.sleep(10)
            before = meter.rate(before_start, time.monotonic())
            stack.sandbox_config(server_error_rate=1.0)
            down_start = time.monotonic()
            time.sleep(outage)
            stack.sandbox_config(server_error_rate=0.3)
            during = meter.rate(down_start, time.monotonic())
            throughput_bursts(0.9)
        finally:
            meter.stop.set()
        refused = stack.sandbox_refused()
        result.notes.append(
            f"{bursts} throughput bursts; refused {refused}; attempts/s {before:.0f} before the outage, {during:.1f} while down"
        )
        if before and during > 0.5 * before:
            result.problems.append(f"the send rate did not back off while the API was down ({during:.1f}/s vs {before:.0f}/s)")
        finish(stack, result, [campaign_id], audience, started)
    return result


# --- 5. webhook storm -----------------------------------------------------------------------------

_STATUS_RANK = {"sent": 2, "delivered": 3, "read": 4}


def _expected_final_statuses(bodies: list[bytes]) -> dict[str, str]:
    import json

    final: dict[str, str] = {}
    for body in bodies:
        for entry in json.loads(body)["entry"]:
            for change in entry["changes"]:
                for status in change["value"].get("statuses", []):
                    wamid, new = status["id"], status["status"]
                    old = final.get(wamid)
                    if old == "failed" or (old and new != "failed" and _STATUS_RANK[new] <= _STATUS_RANK[old]):
                        continue
                    final[wamid] = new
    return final


def _bad_request(kind: int, good: bytes, secret: str) -> tuple[bytes, dict[str, str]]:
    json_header = {"Content-Type": "application/json"}
    if kind == 0:  # unsigned
        return good, json_header
    if kind == 1:  # signed with the wrong secret
        return good, {**json_header, SIGNATURE_HEADER: signature(good, "not-the-app-secret")}
    if kind == 2:  # a valid signature of another body
        return good, {**json_header, SIGNATURE_HEADER: signature(good + b" ", secret)}
    if kind == 3:  # signed, but not JSON
        body = good[: len(good) // 2]
        return body, {**json_header, SIGNATURE_HEADER: signature(body, secret)}
    body = b'{"object": "page", "entry": "nope"}'  # signed JSON, not a WhatsApp envelope
    return body, {**json_header, SIGNATURE_HEADER: signature(body, secret)}


def webhook_storm(scale: float, redis_db: int) -> DrillResult:
    """Every status webhook three times, shuffled, mixed with 10% unsigned, badly signed and malformed requests."""
    result = DrillResult("5 webhook storm")
    count = scaled(5_000, scale)
    config = {"delivered_rate": 0.9, "read_rate": 0.5, "webhook_batch_max": 10}
    with WebhookRecorder() as recorder, drill_stack("webhook_storm", redis_db, workers=2, worker_concurrency=3,
                                                    sandbox_latency_ms=10, sandbox_config=config) as stack:  # fmt: skip
        from bench.datagen import phone  # Django is set up by drill_stack

        failing = [phone(n) for n in range(0, count, 97)]  # about 1%: accepted, then a failed status
        # The storm replays the sandbox's webhooks later: for now they go to the recorder.
        stack.sandbox_config(webhook_url=recorder.url, failure_rules=[{"number": number, "code": 131026} for number in failing])
        audience = audience_create(count)
        desk = Desk(stack)
        started = time.monotonic()
        campaign_id = desk.campaign_launched("webhook storm")
        stack.wait_for_campaign(campaign_id, timeout=DRILL_TIMEOUT)
        wait_until(lambda: stack.sandbox_webhooks()["pending"] == 0, timeout=300, what="the sandbox's webhooks")
        valid = [delivery for delivery in recorder.deliveries if SIGNATURE_HEADER in delivery.headers]
        expected = _expected_final_statuses([delivery.body for delivery in valid])

        rng = random.Random(5)
        requests_to_send: list[tuple[bool, bytes, dict[str, str]]] = [(True, d.body, d.headers) for d in valid for _ in range(3)]
        bad_count = max(5, len(requests_to_send) // 9)  # 10% of the whole storm
        for i in range(bad_count):
            body, headers = _bad_request(i % 5, rng.choice(valid).body, stack.app_secret)
            requests_to_send.append((False, body, headers))
        rng.shuffle(requests_to_send)
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(lambda item: (item[0], post(stack.webhook_url, item[1], item[2])[0]), requests_to_send))
        valid_refused = sum(1 for is_valid, code in answers if is_valid and code != 200)
        bad_accepted = sum(1 for is_valid, code in answers if not is_valid and not 400 <= code < 500)
        if valid_refused:
            result.problems.append(f"{valid_refused} valid webhook request(s) not answered 200")
        if bad_accepted:
            result.problems.append(f"{bad_accepted} bad webhook request(s) not refused with 4xx")

        finish(stack, result, [campaign_id], audience, started)
        from campaigns.models import Message  # Django is set up by drill_stack

        stored = dict(Message.objects.filter(campaign_id=campaign_id, wamid__in=list(expected)).values_list("wamid", "status"))
        wrong = sum(1 for wamid, status in expected.items() if stored.get(wamid) != status)
        result.lost += wrong  # a valid status that did not end up applied
        result.notes.append(
            f"{len(requests_to_send)} requests ({len(valid)} deliveries x3 + {bad_count} bad); "
            f"{len(expected)} final statuses checked, {wrong} wrong"
        )
    return result


# --- 6. STOP storm --------------------------------------------------------------------------------


def stop_storm(scale: float, redis_db: int) -> DrillResult:
    """1,000 recipients reply STOP while their campaign sends; nothing may reach them after our 200."""
    result = DrillResult("6 STOP storm")
    count, stoppers = scaled(5_000, scale), scaled(1_000, scale)
    sending_seconds = 90  # the send rate is set so that the campaign takes about this long at any scale
    rate = max(10, count // sending_seconds)
    with drill_stack("stop_storm", redis_db, workers=2, worker_concurrency=3, sandbox_latency_ms=20,
                     sandbox_config=SENT_STATUS_ONLY, env_overrides={"CAMPAIGN_SEND_RATE": str(rate)}) as stack:  # fmt: skip
        from consent.models import Contact  # Django is set up by drill_stack

        audience = audience_create(count)
        desk = Desk(stack)
        rng = random.Random(6)
        chosen = rng.sample(audience.opted_in, stoppers)
        wa_ids = dict(Contact.objects.filter(pk__in=chosen).values_list("pk", "wa_id"))
        started = time.monotonic()
        campaign_id = desk.campaign_launched("STOP storm")
        wait_for_share_sent(stack, campaign_id, 0.05, count)

        answered: dict[int, float] = {}
        answer_seconds: list[float] = []
        refused: list[int] = []
        lock = threading.Lock()
        spread = 0.6 * sending_seconds  # over most of the campaign's sending time (at most ~20 STOPs/s)

        def reply_stop(position: int, contact_id: int) -> None:
            time.sleep(max(0.0, position * spread / stoppers - (time.monotonic() - storm_start)))
            body = inbound_text_envelope(
                wa_id=wa_ids[contact_id], text="STOP", message_id=f"wamid.drill-{uuid.uuid4().hex}",
                phone_number_id=stack.env["WHATSAPP_PHONE_NUMBER_ID"], waba_id=stack.env["WHATSAPP_BUSINESS_ACCOUNT_ID"],
            )  # fmt: skip
            headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(body, stack.app_secret)}
            posted = time.time()
            status, at = post(stack.webhook_url, body, headers)
            with lock:
                answer_seconds.append(at - posted)
                if status == 200:
                    answered[contact_id] = at
                else:
                    refused.append(status)

        storm_start = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda item: reply_stop(*item), enumerate(chosen)))
        sent_when_storm_ended = accepted_count(stack, campaign_id)
        if refused:
            result.problems.append(f"{len(refused)} STOP webhook(s) not answered 200: {sorted(set(refused))}")
        finish(stack, result, [campaign_id], audience, started, opt_outs_effective=answered)
        from campaigns.models import Message, MessageStatus

        spared = Message.objects.filter(campaign_id=campaign_id, contact_id__in=chosen, status=MessageStatus.SKIPPED).count()
        result.notes.append(
            f"{len(answered)} STOPs in {time.monotonic() - storm_start:.0f} s, {sent_when_storm_ended} sent when they ended; "
            f"{spared} of the {len(chosen)} people were not messaged (their STOP came first); "
            f"answered in {statistics.median(answer_seconds):.2f} s (median), {max(answer_seconds):.1f} s (slowest)"
        )
    return result


# --- 7. cap race ----------------------------------------------------------------------------------


def cap_race(scale: float, redis_db: int) -> DrillResult:
    """Three campaigns to the same 10,000 people launched at once on 4 workers; the daily cap is 1."""
    result = DrillResult("7 cap race")
    with drill_stack("cap_race", redis_db, workers=4, worker_concurrency=2, sandbox_latency_ms=20,
                     sandbox_config=SENT_STATUS_ONLY, env_overrides={"CAMPAIGN_DISPATCHERS": "2"}) as stack:  # fmt: skip
        audience = audience_create(scaled(10_000, scale), max_per_day=1)
        desk = Desk(stack)
        send_at = datetime.now(UTC) + timedelta(seconds=8)  # beat launches all three in the same tick
        campaign_ids = [desk.campaign_created(f"cap race {i}", send_at=send_at) for i in range(3)]
        for campaign_id in campaign_ids:
            desk.approve(campaign_id)
        wait_until(lambda: time.time() >= send_at.timestamp(), timeout=60, what="the start time")
        started = time.monotonic()
        # Deferred (capped) messages stay queued for tomorrow: the campaigns do not complete today.
        wait_until(
            lambda: all(stack.campaign_status(c) == "sending" for c in campaign_ids), timeout=120, what="the three launches"
        )
        stack.wait_for_messages_settled(campaign_ids, timeout=DRILL_TIMEOUT)
        result.seconds = time.monotonic() - started
        stack.wait_for_webhooks(timeout=600)
        account(result, campaign_ids=campaign_ids, audience=audience, sends=stack.sandbox_sends(), sends_per_person=1, max_per_day=1)
        per_campaign = [accepted_count(stack, c) for c in campaign_ids]
        result.notes.append(f"sent per campaign {per_campaign}; the rest deferred by the cap")
    return result


# --- 8. lifecycle faults --------------------------------------------------------------------------


UNKNOWN_CODES = 2  # fewer than UNKNOWN_CODE_PAUSE_AFTER (3): the campaign goes on


def lifecycle_faults(scale: float, redis_db: int) -> DrillResult:
    """Mixed answers during a 4,000-recipient campaign: Meta error codes of every reach, bare 502s, cut
    connections, statuses out of order, a template error that pauses the campaign (resumed through the
    API) and a template category notice from Meta."""
    result = DrillResult("8 lifecycle faults")
    # The pair-rate pause (5 minutes in production) shortened: the drill checks the retry, not the wait.
    env = {"CAMPAIGN_MAX_ATTEMPTS": "12", "CAMPAIGN_RETRY_BASE_SECONDS": "0.5", "CAMPAIGN_PAIR_RATE_RETRY_SECONDS": "5"}
    # Recipient-final codes (131026...) would count as lost: each fault here is one the message survives.
    faults = [
        {"code": 131000, "suffix": "11", "times": 40},  # transient: retried
        {"code": 130429, "suffix": "21", "times": 40},  # throughput: slowed down, retried
        {"code": 131056, "suffix": "31", "times": 20},  # pair rate: this person retried in minutes
        {"code": 139999, "times": UNKNOWN_CODES},  # unknown code: retried, fewer than pause the campaign
        {"fault": "html_502", "suffix": "41", "times": 20},  # may have arrived: UNKNOWN, never re-sent
        {"fault": "bare_500", "suffix": "51", "times": 20},
        {"fault": "cut_after_body", "suffix": "61", "times": 20},  # arrived: its statuses resolve it
    ]
    config = {**SENT_STATUS_ONLY, "delivered_rate": 1.0, "status_order": ["sent", "read", "delivered"], "send_faults": faults}
    with drill_stack("lifecycle_faults", redis_db, workers=2, worker_concurrency=3, sandbox_latency_ms=20,
                     sandbox_config=config, env_overrides=env) as stack:  # fmt: skip
        audience = audience_create(scaled(4_000, scale))
        desk = Desk(stack)
        started = time.monotonic()
        campaign_id = desk.campaign_launched("lifecycle faults")
        wait_for_share_sent(stack, campaign_id, 0.3, len(audience.opted_in))
        # Meta announces a recategorisation to UTILITY: until it happens, sends still need marketing consent.
        stack.sandbox_request("POST", "/_sandbox/notify", {"field": "template_category_update", "template": "spring_sale",
                                                           "new_category": "MARKETING", "correct_category": "UTILITY", "impending": True})  # fmt: skip
        # A template error of the campaign's own: it pauses with the reason, and a person resumes it.
        # Reconfiguring restarts each fault's count: the unknown code stays out, so all the campaign ever
        # sees of it is UNKNOWN_CODES answers, fewer than pause it, however the batches interleave.
        stack.sandbox_config(send_faults=[{"code": 132000, "times": 1}, *[f for f in faults if f.get("code") != 139999]])
        status = stack.wait_for_campaign(campaign_id, timeout=120, states=("paused", "completed"))
        reason = stack.sql("SELECT status_reason FROM campaigns_campaign WHERE id = %s", [campaign_id])[0][0]
        if status != "paused" or "132000" not in reason:
            result.problems.append(f"the template error did not pause the campaign ({status}: {reason[:120]})")
        else:
            desk._post(desk.marketer, f"/campaigns/{campaign_id}/resume")
        result.notes.append(f"paused by: {reason[:90]}")
        finish(stack, result, [campaign_id], audience, started)
        refused = stack.sandbox_refused()
        result.notes.append(f"refused {refused}")
    return result


DRILLS: dict[str, Callable[[float, int], DrillResult]] = {
    "worker_kills": worker_kills,
    "redis_restart": redis_restart,
    "db_terminate": db_terminate,
    "api_faults": api_faults,
    "webhook_storm": webhook_storm,
    "stop_storm": stop_storm,
    "cap_race": cap_race,
    "lifecycle_faults": lifecycle_faults,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chaos.drills", description="Run one fault drill.")
    parser.add_argument("drill", choices=sorted(DRILLS))
    parser.add_argument("--result", required=True, help="file to write the figures to (JSON)")
    parser.add_argument("--scale", type=float, default=float(os.environ.get("CHAOS_SCALE", "1")))
    parser.add_argument("--redis-db", type=int, default=10)
    args = parser.parse_args(argv)
    try:
        result = DRILLS[args.drill](args.scale, args.redis_db)
    except Exception as exc:
        traceback.print_exc()
        result = DrillResult(args.drill, problems=[f"the drill stopped: {exc.__class__.__name__}: {str(exc)[:300]}"])
    Path(args.result).write_text(result.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
