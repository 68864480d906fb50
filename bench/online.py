"""Benchmarks on the running stack (bench/stack.py): end-to-end sending with the raw client
ceiling (3), webhooks (5) and the CPU cost per sent message (6).

``python -m bench.online`` prints one JSON object. The stack runs on its own database
(``<name>_bench_stack``) and the benchmark Redis db; the sandbox answers every send after 50 ms.
"""

from __future__ import annotations

import json
import os
import signal
import sys
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
    }


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
    result = post_all(url=stack.webhook_url, bodies=status_bodies(messages, statuses=("sent",), **signing), processes=2, threads=16)
    stack.wait_for_webhooks(timeout=3600)
    (stored, first_received, last_received, last_processed) = stack.sql(
        "SELECT count(*), extract(epoch FROM min(received_at)), extract(epoch FROM max(received_at)), "
        "extract(epoch FROM max(processed_at)) FROM whatsapp_webhookdelivery"
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
    return results


if __name__ == "__main__":
    print(json.dumps(main(), default=str))
