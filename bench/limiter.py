"""Benchmark 4: the Redis send-rate bucket under several competing processes.

``processes`` processes of ``threads`` threads each take tokens of one phone number as fast as the
limiter gives them, for ``seconds`` seconds. Every grant is recorded twice: on the limiter's clock
(Redis's, the clock the limit is kept on) and on the taker's wall clock right after the call
returned (the moment a send would start; it adds the scheduling delay of 32 threads on the
machine). Reported: the busiest 1-second window (sliding) on each clock, and the average rate.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid

from bench.env import bench_environment
from bench.loadgen import run_children, run_threads


def busiest_window(moments: list[float], *, width: float = 1.0) -> int:
    """The largest number of moments inside any half-open window [t, t + width)."""
    ordered = sorted(moments)
    best = start = 0
    for end, moment in enumerate(ordered):
        while ordered[start] <= moment - width:
            start += 1
        best = max(best, end - start + 1)
    return best


def measure(*, rate: float, seconds: float, processes: int = 4, threads: int = 8) -> dict:
    number = f"bench-{uuid.uuid4().hex[:12]}"
    begin = time.time() + 2.0  # every process starts taking at the same moment
    env = {**bench_environment(), "CAMPAIGN_SEND_RATE": str(rate)}
    answers = run_children(
        [["bench.limiter", number, str(begin), str(seconds), str(threads)]] * processes, env=env, timeout=seconds + 60
    )
    limiter_clock: list[float] = []
    taker_clock: list[float] = []
    for answer in answers:
        for granted_at, seen_at in answer:
            limiter_clock.append(granted_at)
            taker_clock.append(seen_at)
    return {
        "rate": rate,
        "seconds": seconds,
        "processes": processes,
        "threads": threads,
        "granted": len(limiter_clock),
        "busiest_1s": busiest_window(limiter_clock),
        "busiest_1s_taker_clock": busiest_window(taker_clock),
        "average_per_s": len(limiter_clock) / seconds,
    }


def _child(number: str, begin: float, seconds: float, threads: int) -> None:
    from bench.env import django_setup

    django_setup()
    from campaigns.sending.throttle import bucket_take_at

    end = begin + seconds
    moments: list[tuple[float, float]] = []
    lock = threading.Lock()

    def take() -> None:
        while time.time() < end:
            granted_at = bucket_take_at(number, timeout=max(0.0, end - time.time()))
            seen_at = time.time()
            if granted_at is not None and granted_at < end:
                with lock:
                    moments.append((granted_at, seen_at))

    run_threads(threads, take, begin=begin)
    sys.stdout.write(json.dumps(moments))


if __name__ == "__main__":
    os.environ.setdefault("CAMPAIGN_SEND_RATE", "80")
    _child(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
