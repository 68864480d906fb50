"""Benchmark 8: scale-out. N worker groups as if on N hosts send one campaign each round (N = 1, 2, 4).

A group is one Celery worker (its own process group, pool process and connection pools to
PostgreSQL and Redis), as another host would run it; all groups share one PostgreSQL database, one
Redis (broker and the send-rate limiter) and the sandbox, exactly as hosts would. Each group's
sending is kept small on purpose (``CAMPAIGN_SEND_CONCURRENCY`` send threads against the 50 ms
sandbox), so that a group is bound by its own calls in flight and not by this 2-core machine: the
rounds show whether adding groups adds sends, and the last one, whose groups together ask for more
than ``CAMPAIGN_SEND_RATE``, shows the shared limiter holding them all to the rate.

Measured per round: msg/s of the round (launch to last accepted send, and first to last accepted
send) and of each group (the sends its dispatchers logged, over the same spans), CPU per message of
each group; the busiest 1-second window on the limiter's clock (the grants read back from its Redis
window while the round runs) and on the sandbox's clock (the moments it accepted the sends, after
its latency: network and scheduling jitter can bunch them a little); duplicates (a message the
sandbox accepted twice) and lost messages (a recipient with no accepted send when the campaign
completed).

``python -m bench.scaleout`` prints one JSON object; it runs its own stack on ``<name>_bench_scaleout``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
from typing import cast

from bench.env import bench_database_url, bench_redis_url
from bench.limiter import busiest_window
from bench.scale import Sizes

GROUPS = tuple(int(n) for n in os.environ.get("BENCH_SCALEOUT_GROUPS", "1,2,4").split(","))
SEND_RATE = int(os.environ.get("BENCH_SCALEOUT_RATE", "200"))
SANDBOX_LATENCY_MS = 50.0
SENDER_ENV = {
    "CAMPAIGN_SEND_RATE": str(SEND_RATE),
    "CAMPAIGN_BATCH_SIZE": "100",
    "CAMPAIGN_SEND_CONCURRENCY": os.environ.get("BENCH_SCALEOUT_SEND_CONCURRENCY", "4"),
    "CAMPAIGN_BATCHES_IN_FLIGHT": "2",
    "CAMPAIGN_DISPATCH_SECONDS": "30",
    "CAMPAIGN_LEASE_SECONDS": "120",
    "LOG_LEVEL": "INFO",  # each dispatcher logs its batches: how many each group sent
}
# "campaign 3 batch: BatchReport(claimed=25, sent=25, ..." (campaigns/sending/dispatcher.py)
_BATCH_LINE = re.compile(r"campaign (\d+) batch: BatchReport\(claimed=\d+, sent=(\d+),")


def _progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def sent_by_campaign(log: str, campaign_id: int) -> int:
    """Messages of ``campaign_id`` a worker's log says it sent (the sum of its batch reports)."""
    return sum(int(sent) for campaign, sent in _BATCH_LINE.findall(log) if int(campaign) == campaign_id)


def per_second_counts(moments: list[float]) -> list[int]:
    """How many moments fall in each whole second (of the clock they were read on), first to last."""
    if not moments:
        return []
    first = int(min(moments))
    counts = [0] * (int(max(moments)) - first + 1)
    for moment in moments:
        counts[int(moment) - first] += 1
    return counts


def duplicates_and_lost(message_ids: list[int], accepted_callbacks: list[str]) -> tuple[int, int]:
    """(sends accepted more than once, messages never accepted) of one campaign, from the sandbox's log."""
    ours = {f"msg:{message_id}" for message_id in message_ids}
    mine = [callback for callback in accepted_callbacks if callback in ours]
    return len(mine) - len(set(mine)), len(ours - set(mine))


class GrantLog:
    """Reads the limiter's window (a sorted set of the last second's grants, scored by Redis's clock in
    ms) often enough that no grant leaves it unseen: every grant stays in it for at least a second."""

    def __init__(self, redis_url: str, phone_number_id: str, *, interval: float = 0.2) -> None:
        import redis

        self.client = redis.Redis.from_url(redis_url)
        self.key = f"retarget:send-window:{phone_number_id}"  # campaigns/sending/throttle.py _keys
        self.interval = interval
        self.grants: dict[bytes, float] = {}
        self.longest_gap = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _read(self) -> None:
        window = cast(list[tuple[bytes, float]], self.client.zrange(self.key, 0, -1, withscores=True))
        for member, score in window:
            self.grants[member] = score / 1000

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.interval):
            self._read()
            now = time.monotonic()
            self.longest_gap, last = max(self.longest_gap, now - last), now

    def __enter__(self) -> GrantLog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._read()

    def moments(self, *, since: float) -> list[float]:
        return [moment for moment in self.grants.values() if moment >= since]


def _groups_start(stack, groups: int) -> None:
    """Stop every worker, then start ``groups`` fresh ones with as many dispatchers (one per group)."""
    for index in range(max(GROUPS)):
        if stack.worker_running(index):
            stack.kill_worker(index, signal.SIGTERM)
    stack.env["CAMPAIGN_DISPATCHERS"] = str(groups)
    for index in range(groups):
        stack.restart_worker(index)


def one_round(stack, groups: int, *, segment, template, marketer, approver) -> dict:
    from bench.cpu import CpuMeter, named_pids, postgres_pids, process_tree
    from campaigns.services import campaign_approve, campaign_create, campaign_submit
    from core.audit import Actor

    _groups_start(stack, groups)
    campaign = campaign_create(
        actor=Actor(user=marketer), name=f"bench: scale-out, {groups} group(s)", template=template, segment=segment,
        parameters=[{"field": "name", "fallback": "there"}, {"value": "20%"}], tracked_url="https://shop.example/spring",
    )  # fmt: skip
    campaign_submit(campaign=campaign, actor=Actor(user=marketer))
    workers = {f"group-{i}": (lambda pid: lambda: process_tree(pid))(stack.processes[stack.worker_name(i)].popen.pid)
               for i in range(groups)}  # fmt: skip
    meter_groups = {**workers, "postgres": lambda: postgres_pids(stack.database_name), "redis": lambda: named_pids("redis-server"),
                    "sandbox": lambda: process_tree(stack.processes["sandbox"].popen.pid)}  # fmt: skip
    with GrantLog(stack.redis_url, stack.env["WHATSAPP_PHONE_NUMBER_ID"]) as grants, CpuMeter(meter_groups) as meter:
        launched = time.time()
        campaign_approve(campaign=campaign, actor=Actor(user=approver))  # launches it (after commit)
        state = stack.wait_for_campaign(campaign.pk, timeout=1800)
    (recipients, sent, last_accept) = stack.sql(
        "SELECT count(*), count(*) FILTER (WHERE accepted_at IS NOT NULL), extract(epoch FROM max(accepted_at)) "
        "FROM campaigns_message WHERE campaign_id = %s",
        [campaign.pk],
    )[0]
    message_ids = [row[0] for row in stack.sql("SELECT id FROM campaigns_message WHERE campaign_id = %s", [campaign.pk])]
    accepted = [send for send in stack.sandbox_sends() if send["outcome"] == "accepted" and send["accepted_at"] >= launched]
    duplicates, lost = duplicates_and_lost(message_ids, [send["callback_data"] for send in accepted])
    seconds = float(last_accept) - launched
    accepted_moments = [send["accepted_at"] for send in accepted]
    sending_seconds = max(accepted_moments) - min(accepted_moments) if accepted_moments else 0.0
    granted = grants.moments(since=launched)
    cpu = meter.seconds()
    per_group = {}
    for index in range(groups):
        name = f"group-{index}"
        group_sent = sent_by_campaign(stack.processes[stack.worker_name(index)].log_since_start(), campaign.pk)
        per_group[name] = {"sent": group_sent, "per_second": group_sent / seconds,
                           "sending_per_second": group_sent / sending_seconds if sending_seconds else None,
                           "cpu_ms_per_message": 1000 * cpu[name] / group_sent if group_sent else None}  # fmt: skip
    return {
        "groups": groups,
        "campaign": campaign.pk,
        "state": state,
        "recipients": recipients,
        "sent": sent,
        "seconds": seconds,
        "per_second": sent / seconds,
        "sending_seconds": sending_seconds,
        "sending_per_second": sent / sending_seconds if sending_seconds else None,
        "per_group": per_group,
        "limiter_rate": SEND_RATE,
        "limiter_grants_read": len(granted),
        "limiter_read_longest_gap_s": grants.longest_gap,
        "busiest_1s_limiter_clock": busiest_window(granted),
        "busiest_1s_sandbox_clock": busiest_window(accepted_moments),
        "grants_per_second": per_second_counts(granted),
        "duplicates": duplicates,
        "lost": lost,
        "cpu_seconds": cpu,
        "cpu_ms_per_message_workers": 1000 * sum(cpu[name] for name in workers) / max(sent, 1),
        "cpu_ms_per_message_all": 1000 * sum(cpu.values()) / max(sent, 1),
    }


def main() -> dict:
    from bench.stack import Stack

    sizes = Sizes.from_env()
    database_url = bench_database_url().rstrip("/") + "_scaleout"
    with Stack(database_url, bench_redis_url(), workers=1, worker_concurrency=1, sandbox_latency_ms=SANDBOX_LATENCY_MS,
               env_overrides={**SENDER_ENV, "CAMPAIGN_DISPATCHERS": "1"}) as stack:  # fmt: skip
        os.environ.update(stack.env)
        import django

        django.setup()
        from django.contrib.auth.models import User
        from django.db import connection

        from bench import datagen
        from whatsapp.models import MessageTemplate

        stack.sandbox_config(webhook_url="")  # only the sends count here
        datagen.quiet_hours_off(max_per_day=len(GROUPS), max_per_week=len(GROUPS))  # one campaign per round, same people
        datagen.opted_in_contacts(count=sizes.scaleout_recipients)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE consent_contact, consent_consentstate, consent_consentevent")
        datagen.staff_token("bench-marketer", "Marketer")
        datagen.staff_token("bench-approver", "Approver")
        people = {
            "segment": datagen.segment_everyone(),
            "template": MessageTemplate.objects.get(name="spring_sale", language="en_US"),
            "marketer": User.objects.get(username="bench-marketer"),
            "approver": User.objects.get(username="bench-approver"),
        }
        results: dict = {"settings": {"groups": list(GROUPS), "worker_concurrency": 1, "sandbox_latency_ms": SANDBOX_LATENCY_MS,
                                      "recipients": sizes.scaleout_recipients, **SENDER_ENV}, "rounds": []}  # fmt: skip
        for groups in GROUPS:
            outcome = one_round(stack, groups, **people)
            _progress(f"scale-out, {groups} group(s): {outcome}")
            results["rounds"].append(outcome)
    return results


if __name__ == "__main__":
    print(json.dumps({"scaleout": main()}, default=str))
