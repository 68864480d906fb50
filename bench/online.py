"""Benchmarks on the running stack (bench/stack.py): end-to-end sending with the raw client
ceiling (3), webhooks (5), the CPU cost per sent message (6) and STOP while sending (7).

``python -m bench.online`` prints one JSON object. The stack runs on its own database
(``<name>_bench_stack``) and the benchmark Redis db; the sandbox answers every send after 50 ms.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

from bench.env import bench_database_url, bench_redis_url
from bench.scale import Sizes

SANDBOX_LATENCY_MS = float(os.environ.get("BENCH_SANDBOX_LATENCY_MS", "50"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
WORKER_CONCURRENCY = int(os.environ.get("BENCH_WORKER_CONCURRENCY", "2"))
# The sender's knobs as deployed for a large sender; the rate is set above what the machine can do.
SENDER_ENV = {
    "CAMPAIGN_SEND_RATE": "100000",
    "CAMPAIGN_BATCH_SIZE": os.environ.get("CAMPAIGN_BATCH_SIZE", "100"),
    "CAMPAIGN_SEND_CONCURRENCY": os.environ.get("CAMPAIGN_SEND_CONCURRENCY", "16"),
    "CAMPAIGN_DISPATCHERS": os.environ.get("CAMPAIGN_DISPATCHERS", "4"),
    "CAMPAIGN_DISPATCH_SECONDS": "30",
    "CAMPAIGN_LEASE_SECONDS": "120",
    "LOG_LEVEL": "WARNING",
}


def _progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def _cpu_groups(stack) -> dict:
    from bench.cpu import named_pids, postgres_pids, process_tree

    def tree(*names: str):
        return lambda: [pid for name in names if name in stack.processes for pid in process_tree(stack.processes[name].popen.pid)]

    workers = [name for name in stack.processes if name.startswith("worker-")]
    return {
        "workers": tree(*workers),
        "web": tree("web"),
        "beat": tree("beat"),
        "postgres": lambda: postgres_pids(stack.database_name),
        "redis": lambda: named_pids("redis-server"),
    }


class StopsWhileSending:
    """Benchmark 7: people still queued send "STOP" while the campaign sends at full rate.

    Once a tenth of the campaign is accepted, ``count`` people whose message is still queued are
    picked at random; their signed STOP texts go to the real webhook endpoint, ``STOP_THREADS`` at a
    time, one every ``STOP_INTERVAL_S`` per thread. Measured per STOP: the time to the 200 (the opt-out
    is applied before it), the time until it is effective (first seen committed as ``opted_out`` by
    a watcher polling every ``WATCH_INTERVAL_S`` on its own connection: the moment a send-time check
    can see it) and the ledger event's ``recorded_at`` (taken when the event is written, before the
    consent lock is waited for); after the campaign, every message to those people dispatched after
    their STOP was answered (must be none).
    """

    STOP_THREADS = 4
    STOP_INTERVAL_S = 0.2
    WATCH_INTERVAL_S = 0.01

    def __init__(self, stack, campaign_id: int, *, recipients: int, count: int) -> None:
        self.stack, self.campaign_id, self.recipients, self.count = stack, campaign_id, recipients, count
        self.answers: list[tuple[str, int, float, float, int]] = []  # (wa_id, contact id, posted, answered, status)
        self.error = ""
        self._lock = threading.Lock()
        self.seen_opted_out: dict[int, float] = {}  # contact id -> when the watcher first saw the opt-out committed
        self._watching: set[int] = set()
        self._posting_done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._watcher = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> StopsWhileSending:
        self._thread.start()
        self._watcher.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.join(timeout=600)
        self._posting_done.set()
        self._watcher.join(timeout=60)

    def _watch(self) -> None:
        import psycopg2

        connection = psycopg2.connect(self.stack.database_url)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                while True:
                    with self._lock:
                        pending = list(self._watching - set(self.seen_opted_out))
                    if not pending and self._posting_done.is_set():
                        return
                    if pending:
                        cursor.execute(
                            "SELECT contact_id FROM consent_consentstate WHERE contact_id = ANY(%s) AND status = 'opted_out'",
                            [pending],
                        )
                        seen = time.time()
                        with self._lock:
                            for (contact_id,) in cursor.fetchall():
                                self.seen_opted_out.setdefault(contact_id, seen)
                    time.sleep(self.WATCH_INTERVAL_S)
        finally:
            connection.close()

    def _run(self) -> None:
        try:
            self._post_stops()
        except Exception as error:  # reported with the results, not lost in a thread
            self.error = repr(error)

    def _post_stops(self) -> None:
        from bench.stack import wait_until
        from bench.webhooks import post_timed, stop_body

        # Counts at most a tenth, through the campaign+status index: counting every accepted_at of the
        # campaign read all its rows' versions ten times a second, a load on the database (and partly
        # on its CPU figure) that grew with the campaign.
        wait_until(
            lambda: self.stack.sql("SELECT count(*) FROM (SELECT 1 FROM campaigns_message WHERE campaign_id = %s "
                                   "AND status = 'accepted' LIMIT %s) AS sent", [self.campaign_id, self.recipients // 10],
                                   )[0][0] >= self.recipients // 10,
            timeout=3600, what="a tenth of the campaign to be sent", interval=0.1,
        )  # fmt: skip
        people = self.stack.sql(
            "SELECT substr(c.phone, 2), c.id FROM campaigns_message m JOIN consent_contact c ON c.id = m.contact_id "
            "WHERE m.campaign_id = %s AND m.status = 'queued' ORDER BY random() LIMIT %s",
            [self.campaign_id, self.count],
        )
        env = self.stack.env
        signing = {"app_secret": self.stack.app_secret, "waba_id": env["WHATSAPP_BUSINESS_ACCOUNT_ID"],
                   "phone_number_id": env["WHATSAPP_PHONE_NUMBER_ID"]}  # fmt: skip
        bodies = iter([(wa_id, contact_id, *stop_body(wa_id, sequence=index, **signing)) for index, (wa_id, contact_id) in enumerate(people)])

        def post() -> None:
            while True:
                with self._lock:
                    item = next(bodies, None)
                if item is None:
                    return
                wa_id, contact_id, body, signature = item
                with self._lock:
                    self._watching.add(contact_id)
                posted, answered, status = post_timed(self.stack.webhook_url, body, signature)
                with self._lock:
                    self.answers.append((wa_id, contact_id, posted, answered, status))
                time.sleep(self.STOP_INTERVAL_S)

        threads = [threading.Thread(target=post) for _ in range(self.STOP_THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def results(self) -> dict:
        """Figures, once the campaign is finished."""
        if self.error or not self.answers:
            return {"error": self.error or "no STOP was posted"}
        answered_at = {contact_id: answered for _, contact_id, _, answered, _ in self.answers}
        posted_at = {contact_id: posted for _, contact_id, posted, _, _ in self.answers}
        ids = list(answered_at)
        recorded = dict(self.stack.sql(
            "SELECT contact_id, extract(epoch FROM min(recorded_at)) FROM consent_consentevent "
            "WHERE contact_id = ANY(%s) AND action = 'opt_out' GROUP BY contact_id", [ids],
        ))  # fmt: skip
        messages = self.stack.sql(
            "SELECT contact_id, status, extract(epoch FROM dispatched_at), extract(epoch FROM accepted_at) FROM campaigns_message "
            "WHERE campaign_id = %s AND contact_id = ANY(%s)", [self.campaign_id, ids],
        )  # fmt: skip
        (last_accepted,) = self.stack.sql(
            "SELECT extract(epoch FROM max(accepted_at)) FROM campaigns_message WHERE campaign_id = %s", [self.campaign_id]
        )[0]
        sent_after = [row for row in messages if row[2] is not None and float(row[2]) > answered_at[row[0]]]
        in_flight = [row for row in messages if row[2] is not None and float(row[2]) <= answered_at[row[0]]
                     and row[3] is not None and float(row[3]) > posted_at[row[0]]]  # fmt: skip
        answer_ms = sorted(1000 * (answered - posted) for _, _, posted, answered, _ in self.answers)
        recorded_ms = sorted(1000 * (float(recorded[c]) - posted_at[c]) for c in ids if c in recorded)
        effective_ms = sorted(1000 * (self.seen_opted_out[c] - posted_at[c]) for c in ids if c in self.seen_opted_out)
        # By where the person's message was when the STOP arrived. In a batch being sent, the opt-out waits
        # for that batch's consent lock, held until all its HTTP calls return.
        place = {c: "queued" for c in ids}
        for contact_id, _, dispatched, accepted in messages:
            if dispatched is not None and accepted is not None and float(accepted) < posted_at[contact_id]:
                place[contact_id] = "sent_before"
            elif dispatched is not None and float(dispatched) <= answered_at[contact_id]:
                place[contact_id] = "in_a_batch"
        answer_by_place = {
            where: sorted(1000 * (a - p) for _, c, p, a, _ in self.answers if place[c] == where)
            for where in ("queued", "in_a_batch", "sent_before")
        }
        return {
            "stops": len(self.answers),
            "answered_while_sending": sum(answered < float(last_accepted or 0) for *_, answered, _ in self.answers),
            "answered_200": sum(status == 200 for *_, status in self.answers),
            "answer_p50_ms": _percentile(answer_ms, 0.5),
            "answer_p99_ms": _percentile(answer_ms, 0.99),
            "answer_max_ms": answer_ms[-1],
            "effective": len(effective_ms),
            "effective_p50_ms": _percentile(effective_ms, 0.5),
            "effective_p99_ms": _percentile(effective_ms, 0.99),
            "effective_max_ms": effective_ms[-1] if effective_ms else None,
            "answer_by_message_place": {
                where: {"stops": len(values), "p50_ms": _percentile(values, 0.5), "p99_ms": _percentile(values, 0.99)}
                for where, values in answer_by_place.items()
            },
            "ledger_recorded_p50_ms": _percentile(recorded_ms, 0.5),
            "ledger_recorded_p99_ms": _percentile(recorded_ms, 0.99),
            "ledger_events": len(recorded_ms),
            "messages_by_status": {status: sum(row[1] == status for row in messages) for status in {row[1] for row in messages}},
            "dispatched_before_stop_answered_and_accepted_after_post": len(in_flight),
            "campaign_last_accepted_at": float(last_accepted or 0),
            "sent_after_stop_answered": len(sent_after),
        }


def _percentile(values: list[float], fraction: float) -> float | None:
    return values[int(fraction * (len(values) - 1))] if values else None


def sending(stack, sizes: Sizes) -> dict:
    """A campaign to ``campaign_recipients`` opted-in contacts, approved and sent by the workers."""
    from django.contrib.auth.models import User
    from django.db import connection

    from bench import datagen
    from bench.cpu import CpuMeter
    from campaigns.models import Campaign
    from campaigns.services import campaign_approve, campaign_create, campaign_submit
    from core.audit import Actor
    from whatsapp.models import MessageTemplate

    datagen.quiet_hours_off()
    started = time.perf_counter()
    datagen.opted_in_contacts(count=sizes.campaign_recipients)
    with connection.cursor() as cursor:  # as after any bulk import; autovacuum would, a minute later
        cursor.execute("ANALYZE consent_contact, consent_consentstate, consent_consentevent")
    _progress(f"{sizes.campaign_recipients} opted-in contacts in {time.perf_counter() - started:.1f} s")
    datagen.staff_token("bench-marketer", "Marketer")
    datagen.staff_token("bench-approver", "Approver")
    marketer, approver = User.objects.get(username="bench-marketer"), User.objects.get(username="bench-approver")
    campaign = campaign_create(
        actor=Actor(user=marketer),
        name="bench: end to end",
        template=MessageTemplate.objects.get(name="spring_sale", language="en_US"),
        segment=datagen.segment_everyone(),
        parameters=[{"field": "name", "fallback": "there"}, {"value": "20%"}],
        tracked_url="https://shop.example/spring",
    )
    campaign_submit(campaign=campaign, actor=Actor(user=marketer))
    with CpuMeter(_cpu_groups(stack)) as meter:
        launched = time.time()
        campaign_approve(campaign=campaign, actor=Actor(user=approver))  # launches it (after commit)
        with StopsWhileSending(stack, campaign.pk, recipients=sizes.campaign_recipients, count=stop_count(sizes)) as stops:
            state = stack.wait_for_campaign(campaign.pk, timeout=3600)
    wall = time.time() - launched
    (sent, first_claim, last_accept, p50, p99, dispatched_first) = stack.sql(
        """
        SELECT count(*) FILTER (WHERE accepted_at IS NOT NULL),
               extract(epoch FROM min(claimed_at)), extract(epoch FROM max(accepted_at)),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM accepted_at - claimed_at)),
               percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM accepted_at - claimed_at)),
               extract(epoch FROM min(dispatched_at))
        FROM campaigns_message WHERE campaign_id = %s
        """,
        [campaign.pk],
    )[0]
    sends = stack.sandbox_sends()
    callbacks = [send["callback_data"] for send in sends]
    cpu = meter.seconds()
    seconds = float(last_accept) - launched
    return {
        "campaign": campaign.pk,
        "state": state,
        "recipients": sizes.campaign_recipients,
        "sent": sent,
        "sandbox_accepted": len(sends),
        "duplicates": len(callbacks) - len(set(callbacks)),
        "statuses": stack.message_counts(campaign.pk),
        "seconds": seconds,
        "wall_seconds": wall,
        "launch_to_first_claim_s": float(first_claim) - launched,
        "per_second": sent / seconds,
        "sending_per_second": sent / (float(last_accept) - float(dispatched_first)),
        "claim_to_result_p50_ms": 1000 * float(p50),
        "claim_to_result_p99_ms": 1000 * float(p99),
        "cpu_seconds": cpu,
        "cpu_ms_per_message": 1000 * sum(cpu.values()) / max(sent, 1),
        "campaign_status": Campaign.objects.get(pk=campaign.pk).status,
        "stop_while_sending": stops.results(),
    }


def stop_count(sizes: Sizes) -> int:
    """STOPs posted during the send: 1% of the recipients, 20 to 300 (a few seconds of the send)."""
    return max(20, min(300, sizes.campaign_recipients // 100))


def webhooks(stack, sizes: Sizes, campaign_id: int) -> dict:
    from bench.webhooks import post_all, status_bodies

    count = max(1, sizes.webhook_statuses // 3)
    messages = stack.sql(
        "SELECT wamid, substr(c.phone, 2), 'msg:' || m.id FROM campaigns_message m JOIN consent_contact c ON c.id = m.contact_id "
        "WHERE m.campaign_id = %s AND m.wamid IS NOT NULL ORDER BY m.id LIMIT %s",
        [campaign_id, count],
    )
    signing = {"app_secret": stack.app_secret, "waba_id": stack.env["WHATSAPP_BUSINESS_ACCOUNT_ID"],
               "phone_number_id": stack.env["WHATSAPP_PHONE_NUMBER_ID"]}  # fmt: skip
    # A: "sent" statuses into the endpoint while the workers apply them as they come (steady state).
    # Only this part's deliveries count (the STOPs of benchmark 7 are in the same table, minutes older).
    (before,) = stack.sql("SELECT coalesce(max(id), 0) FROM whatsapp_webhookdelivery")[0]
    result = post_all(url=stack.webhook_url, bodies=status_bodies(messages, statuses=("sent",), **signing), processes=2, threads=16)
    stack.wait_for_webhooks(timeout=3600)
    (stored, first_received, last_received, last_processed) = stack.sql(
        "SELECT count(*), extract(epoch FROM min(received_at)), extract(epoch FROM max(received_at)), "
        "extract(epoch FROM max(processed_at)) FROM whatsapp_webhookdelivery WHERE id > %s",
        [before],
    )[0]
    result.update(
        applied_while_arriving_per_s=stored / (float(last_processed) - float(first_received)),
        apply_lag_at_end_ms=1000 * (float(last_processed) - float(last_received)),
    )
    # B: the workers' capacity: "delivered" and "read" statuses stored while they are stopped, then applied.
    workers = [index for index in range(WORKERS) if stack.worker_running(index)]
    for index in workers:
        stack.kill_worker(index, signal.SIGTERM)
    backlog = status_bodies(messages, statuses=("delivered", "read"), **signing)
    post_all(url=stack.webhook_url, bodies=backlog, processes=2, threads=16)
    for index in workers:
        stack.restart_worker(index)
    stack.wait_for_webhooks(timeout=3600)
    (applied, first_processed, last_processed, failed) = stack.sql(
        "SELECT count(*), extract(epoch FROM min(processed_at)), extract(epoch FROM max(processed_at)), "
        "(SELECT count(*) FROM whatsapp_webhookdelivery WHERE last_error <> '') "
        "FROM whatsapp_webhookdelivery WHERE id > (SELECT max(id) - %s FROM whatsapp_webhookdelivery)",
        [len(backlog)],
    )[0]
    result.update(
        backlog=applied,
        applied_per_s=applied / (float(last_processed) - float(first_processed)),
        processing_errors=failed,
        statuses_after=stack.message_counts(campaign_id),
    )
    return result


def main() -> dict:
    from bench.ceiling import measure as ceiling_measure
    from bench.stack import Stack

    sizes = Sizes.from_env()
    database_url = bench_database_url().rstrip("/") + "_stack"
    with Stack(
        database_url,
        bench_redis_url(),
        workers=WORKERS,
        worker_concurrency=WORKER_CONCURRENCY,
        sandbox_latency_ms=SANDBOX_LATENCY_MS,
        env_overrides=SENDER_ENV,
    ) as stack:
        os.environ.update(stack.env)
        import django

        django.setup()
        stack.sandbox_config(webhook_url="")  # statuses are benchmark 5's; here only the sends count
        results: dict = {"settings": {"workers": WORKERS, "worker_concurrency": WORKER_CONCURRENCY,
                                      "sandbox_latency_ms": SANDBOX_LATENCY_MS, **SENDER_ENV}}  # fmt: skip
        results["sending"] = sending(stack, sizes)
        _progress(f"sending: {results['sending']}")
        in_flight = min(int(SENDER_ENV["CAMPAIGN_DISPATCHERS"]), WORKERS * WORKER_CONCURRENCY)
        results["ceiling"] = ceiling_measure(
            sandbox_url=stack.sandbox_url, access_token=stack.access_token, sends=sizes.campaign_recipients, processes=in_flight,
            threads=int(SENDER_ENV["CAMPAIGN_SEND_CONCURRENCY"]),
        )  # fmt: skip
        _progress(f"ceiling: {results['ceiling']}")
        results["webhooks"] = webhooks(stack, sizes, results["sending"]["campaign"])
        _progress(f"webhooks: {results['webhooks']}")
        # This server runs without autovacuum: what the stand-in did in its place (bench/autovacuum.py).
        results["autovacuum_stand_in"] = stack.autovacuum.summary() if stack.autovacuum else None
        _progress(f"autovacuum stand-in: {results['autovacuum_stand_in'] or 'not needed (the server runs autovacuum)'}")
    return results


if __name__ == "__main__":
    print(json.dumps(main(), default=str))
