"""The shared parts of the benchmark's load processes: a start line, threads, a pooled session."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from bench.env import ROOT


def pooled_session(size: int):
    """A ``requests`` session with ``size`` keep-alive connections and no retries (like whatsapp.client)."""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.trust_env = False  # as whatsapp.client: no environment lookups per call
    session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=size, max_retries=0))
    return session


def run_threads(count: int, target: Callable[[], None], *, begin: float) -> None:
    """Wait for the common start moment ``begin`` (Unix time), then run ``target`` in ``count`` threads."""
    time.sleep(max(0.0, begin - time.time()))
    workers = [threading.Thread(target=target) for _ in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def run_children(commands: list[list[str]], *, env: dict[str, str] | None = None, timeout: float = 3600) -> list:
    """Run ``python -m <command>`` processes at once; the JSON each printed, in order."""
    children = [
        subprocess.Popen([sys.executable, "-m", *command], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for command in commands
    ]
    answers = []
    for command, child in zip(commands, children, strict=True):
        out, _ = child.communicate(timeout=timeout)
        if child.returncode != 0:
            raise RuntimeError(f"{command[0]} exited with {child.returncode}")
        answers.append(json.loads(out))
    return answers
