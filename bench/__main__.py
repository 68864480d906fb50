"""``python -m bench`` (``make bench``): run every benchmark, print one table, write the JSON.

BENCH_SCALE scales the sizes (default 1: the issue's); BENCH_ONLY=offline, online or scaleout runs one part.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.env import RESULTS_DIR, ROOT, bench_environment
from bench.machine import Disturbance, describe, other_test_runs
from bench.report import table
from bench.scale import Sizes


def _phase(module: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", module], cwd=ROOT, env=bench_environment(), stdout=subprocess.PIPE, text=True, check=False
    )
    if completed.returncode != 0:
        raise SystemExit(f"{module} failed with exit code {completed.returncode} (its output is above)")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    only = os.environ.get("BENCH_ONLY", "")
    started = time.time()
    results: dict = {"started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)), "machine": describe()}
    with Disturbance() as disturbance:
        if only in ("", "offline"):
            results.update(_phase("bench.offline"))
        if only in ("", "online"):
            results.update(_phase("bench.online"))
        if only in ("", "scaleout"):
            results.update(_phase("bench.scaleout"))
    results["disturbance"] = disturbance.summary()
    results.setdefault("sizes", Sizes.from_env().__dict__)
    results["other_pytest_processes_at_end"] = other_test_runs()
    results["load_average_at_end"] = list(os.getloadavg())
    results["total_seconds"] = time.time() - started
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"bench-{time.strftime('%Y%m%d-%H%M%S', time.localtime(started))}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(table(results))
    if results["disturbance"]["disturbed"]:
        print(f"\nDisturbed: other test runs were active during the benchmark ({results['disturbance']})")
    print(f"\nFigures: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
