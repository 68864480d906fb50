"""Benchmark 2: count a behavioural segment ("viewed X in 7 days and did not buy") with one query."""

from __future__ import annotations

import statistics
import time

VIEWED_NOT_BOUGHT = {
    "all": [
        {"event": "product_viewed", "where": {"sku": "SKU-7"}, "within_days": 7},
        {"not": {"event": "purchase", "within_days": 7}},
    ]
}


def measure(*, runs: int = 3) -> dict:
    from campaigns.models import Segment
    from campaigns.selectors import segment_count

    segment, _ = Segment.objects.get_or_create(name="bench: viewed SKU-7, did not buy", defaults={"rules": VIEWED_NOT_BOUGHT})
    timings = []
    count = 0
    for _ in range(runs):
        started = time.perf_counter()
        count = segment_count(segment)
        timings.append(time.perf_counter() - started)
    return {"seconds": statistics.median(timings), "first_seconds": timings[0], "runs": timings, "matched": count}


def explain() -> str:
    """EXPLAIN ANALYZE of the count query (for profiling)."""
    from django.db import connection

    from campaigns.segments import segment_contacts

    query = segment_contacts(VIEWED_NOT_BOUGHT).order_by().values("pk")
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM ({sql}) AS matched", params)
        return "\n".join(row[0] for row in cursor.fetchall())
