"""Sizes of the benchmarks: the issue's by default, scaled by BENCH_SCALE (e.g. 0.01 for a quick run)."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _scale() -> float:
    raw = os.environ.get("BENCH_SCALE", "1")
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"BENCH_SCALE: expected a number such as 0.1, got {raw!r}") from None
    if not 0 < value <= 10:
        raise SystemExit(f"BENCH_SCALE: expected a number above 0 and at most 10, got {raw!r}")
    return value


@dataclass(frozen=True)
class Sizes:
    scale: float
    contacts: int  # audience and segment benchmarks
    events: int
    campaign_recipients: int  # end-to-end sending
    limiter_seconds: float
    limiter_rate: float
    webhook_statuses: int
    scaleout_recipients: int  # per round of the scale-out benchmark

    @classmethod
    def from_env(cls) -> Sizes:
        scale = _scale()
        return cls(
            scale=scale,
            contacts=max(1000, int(1_000_000 * scale)),
            events=max(5000, int(5_000_000 * scale)),
            campaign_recipients=max(500, int(100_000 * scale)),
            limiter_seconds=float(os.environ.get("BENCH_LIMITER_SECONDS") or max(5.0, min(60.0, 60 * scale))),
            limiter_rate=80.0,
            webhook_statuses=max(1000, int(60_000 * scale)),
            scaleout_recipients=max(1000, int(15_000 * scale)),
        )
