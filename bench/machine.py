"""What the benchmark ran on: cores, memory, CPU model, server versions, and how busy the machine was."""

from __future__ import annotations

import os
import platform
import subprocess
import threading
from pathlib import Path


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def other_test_runs() -> int:
    """Test suites and fault drills of other people running on this machine right now."""
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=False).stdout
    return sum(1 for line in out.splitlines() if ("pytest" in line or "-m chaos" in line) and "bench" not in line)


class Disturbance:
    """Samples, every few seconds while the benchmark runs, other test runs and the load average."""

    def __init__(self, interval: float = 3.0) -> None:
        self.interval = interval
        self.max_other_runs = 0
        self.samples_with_other_runs = 0
        self.samples = 0
        self.max_load = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            others = other_test_runs()
            self.samples += 1
            self.samples_with_other_runs += others > 0
            self.max_other_runs = max(self.max_other_runs, others)
            self.max_load = max(self.max_load, os.getloadavg()[0])

    def __enter__(self) -> Disturbance:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        share = self.samples_with_other_runs / self.samples if self.samples else 0.0
        return {"max_other_test_processes": self.max_other_runs, "share_of_time_with_other_tests": round(share, 2),
                "max_load_average_1min": round(self.max_load, 2), "disturbed": share > 0}  # fmt: skip


def describe() -> dict:
    from urllib.parse import urlsplit

    import psycopg2
    import redis

    from bench.env import bench_database_url, bench_redis_url

    parts = urlsplit(bench_database_url())
    server = psycopg2.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres",
                              password=parts.password, dbname="postgres")  # fmt: skip
    with server, server.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    server.close()
    redis_version = redis.Redis.from_url(bench_redis_url()).info("server").get("redis_version", "?")
    return {
        "nproc": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "cpu": _cpu_model(),
        "postgresql": postgres,
        "redis": redis_version,
        "python": platform.python_version(),
        "load_average_at_start": list(os.getloadavg()),
        "other_pytest_processes_at_start": other_test_runs(),
    }
