"""CPU seconds of groups of processes over a stretch of time, read from /proc/<pid>/stat.

Processes come and go (Celery pool children, PostgreSQL backends), so a sampling thread reads
every matching process twice a second and keeps, per process, the first and the last reading; a
process born during the measurement counts from zero. Time spent in the last half second of a
process that exits before the end is lost (connections are pooled, so few do).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Self

TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float | None:
    """user + system CPU seconds of one process (not its children), or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(raw[raw.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def postgres_pids(database: str) -> list[int]:
    """The server's background processes and the backends connected to ``database``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        command = _cmdline(int(entry.name))
        if not command.startswith("postgres"):
            continue
        is_backend = "(" in command  # "postgres: 15/main: user db 127.0.0.1(5432) idle"
        if not is_backend or f" {database} " in command:
            pids.append(int(entry.name))
    return pids


def postgres_backend_pids(database: str) -> list[int]:
    """The backends connected to ``database`` only (not the server's background processes)."""
    return [pid for pid in postgres_pids(database) if "(" in _cmdline(pid)]


def named_pids(prefix: str) -> list[int]:
    return [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit() and _cmdline(int(e.name)).startswith(prefix)]


class CpuMeter:
    """``with CpuMeter({"workers": lambda: [...], ...}) as meter: ...`` then ``meter.seconds()``."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]], *, interval: float = 0.5) -> None:
        self.groups = groups
        self.interval = interval
        self.first: dict[str, dict[int, float]] = {name: {} for name in groups}
        self.last: dict[str, dict[int, float]] = {name: {} for name in groups}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = False

    def _sample(self) -> None:
        for name, pids in self.groups.items():
            for pid in pids():
                value = process_cpu_seconds(pid)
                if value is None:
                    continue
                self.first[name].setdefault(pid, value if not self._started else 0.0)
                self.last[name][pid] = value

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> Self:
        self._sample()
        self._started = True
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def seconds(self) -> dict[str, float]:
        return {
            name: sum(self.last[name][pid] - self.first[name][pid] for pid in self.last[name]) for name in self.groups
        }
