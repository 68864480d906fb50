"""Benchmarks without the running stack: audience (1), segment (2) and the rate limiter (4).

``python -m bench.offline`` prints one JSON object. Runs on its own database (``<name>_bench``),
dropped and created again, filled set-based with the issue's sizes (scaled by BENCH_SCALE).
"""

from __future__ import annotations

import json
import sys
import time

from bench.env import bench_database_url, django_setup
from bench.scale import Sizes


def main() -> dict:
    from bench.database import database_drop, database_recreate

    sizes = Sizes.from_env()
    database_recreate(bench_database_url())
    django_setup()
    import redis
    from django.conf import settings

    from bench import audience, datagen, limiter, segment
    from whatsapp.sandbox.catalog import default_templates
    from whatsapp.template_sync import templates_store

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    results: dict = {"sizes": sizes.__dict__}
    templates_store(remote_templates=default_templates())

    started = time.perf_counter()
    first, last = datagen.opted_in_contacts_bulk(count=sizes.contacts)
    contacts_seconds = time.perf_counter() - started
    started = time.perf_counter()
    datagen.events_bulk(count=sizes.events, first_contact=first, last_contact=last)
    results["datagen"] = {"contacts_seconds": contacts_seconds, "events_seconds": time.perf_counter() - started}
    _progress(f"data: {sizes.contacts} contacts, {sizes.events} events in {sum(results['datagen'].values()):.1f} s")

    campaign_id = audience.campaign_for_audience(name="bench: everyone", rules={"all": []})
    results["audience"] = audience.measure(campaign_id=campaign_id)
    _progress(f"audience: {results['audience']}")
    results["segment"] = segment.measure()
    _progress(f"segment: {results['segment']}")
    results["limiter"] = limiter.measure(rate=sizes.limiter_rate, seconds=sizes.limiter_seconds)
    _progress(f"limiter: {results['limiter']}")
    # Gigabytes of fresh rows would keep autovacuum busy during the stack benchmarks: drop them.
    from django.db import connection

    connection.close()
    database_drop(bench_database_url())
    return results


def _progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    print(json.dumps(main()))
