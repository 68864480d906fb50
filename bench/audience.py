"""Benchmark 1: materialise a campaign for the whole opted-in audience, in a process of its own.

The materialisation runs in a fresh Python process (``python -m bench.audience <campaign id>``) so
that its peak resident memory (the kernel's high-water mark, ``ru_maxrss``) is that of the work
alone, not of the data generation before it.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from urllib.parse import urlsplit

from bench.cpu import CpuMeter, postgres_backend_pids
from bench.env import ROOT, bench_database_url, bench_environment


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def campaign_for_audience(*, name: str, rules: dict) -> int:
    """A sending-ready (scheduled, approved) campaign on the marketing template over ``rules``."""
    from campaigns.models import Campaign, Segment
    from whatsapp.models import MessageTemplate

    segment = Segment.objects.create(name=name, rules=rules)
    template = MessageTemplate.objects.get(name="spring_sale", language="en_US")
    campaign = Campaign.objects.create(
        name=name,
        template=template,
        segment=segment,
        parameters=[{"field": "name", "fallback": "there"}, {"value": "20%"}],
        tracked_url="https://shop.example/spring",
        status=Campaign.Status.SCHEDULED,
    )
    return campaign.pk


def measure(*, campaign_id: int) -> dict:
    """Run the materialisation in a child process; its seconds, rows and peak RSS, and the CPU of the
    PostgreSQL backends that did the work: in all, and of the busiest one (a big launch writes on
    several connections side by side, so the busiest is the work's critical path on enough cores)."""
    database = urlsplit(bench_database_url()).path.lstrip("/")
    with CpuMeter({"backends": lambda: postgres_backend_pids(database)}, interval=0.2) as meter:
        completed = subprocess.run(
            [sys.executable, "-m", "bench.audience", str(campaign_id)],
            cwd=ROOT, env=bench_environment(), capture_output=True, text=True, check=False,
        )  # fmt: skip
    if completed.returncode != 0:
        raise RuntimeError(f"materialisation failed:\n{completed.stderr[-3000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    per_backend = [meter.last["backends"][pid] - meter.first["backends"][pid] for pid in meter.last["backends"]]
    result["postgres_cpu_s"] = round(sum(per_backend), 2)
    result["postgres_busiest_backend_cpu_s"] = round(max(per_backend, default=0.0), 2)
    return result


def _child(campaign_id: int) -> None:
    from bench.env import django_setup

    django_setup()
    from django.db import transaction
    from django.utils import timezone

    from campaigns.models import Campaign
    from campaigns.sending.materialise import messages_materialise

    campaign = Campaign.objects.select_related("template", "segment").get(pk=campaign_id)
    before = _peak_rss_mb()
    started = time.perf_counter()
    with transaction.atomic():  # as campaign_launch runs it
        created = messages_materialise(campaign=campaign, start=timezone.now())
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": created, "peak_rss_mb": _peak_rss_mb(), "rss_before_mb": before}))


if __name__ == "__main__":
    _child(int(sys.argv[1]))
