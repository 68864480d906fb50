"""The raw client ceiling: a bare pooled HTTP client pushing template sends at the sandbox.

No database, no checks, no Celery: ``processes`` processes of ``threads`` threads, each process
with one pooled ``requests`` session (like whatsapp.client), POST the same template message the
campaign sends, with the same concurrency, as fast as the sandbox answers. What the send path
reaches end to end is compared with this.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from bench.loadgen import pooled_session, run_children, run_threads

PHONE_NUMBER_ID = "100000000000001"


def template_body(n: int) -> dict:
    """The body whatsapp.client.send_template builds for the benchmark campaign (spring_sale)."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": f"49151{20000000 + n * 10 + 1:08d}",
        "type": "template",
        "template": {
            "name": "spring_sale",
            "language": {"code": "en_US"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": f"Person {n}"}, {"type": "text", "text": "20%"}]},
                {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": f"{n:032x}"}]},
            ],
        },
        "biz_opaque_callback_data": f"msg:{n:032x}",
    }


def measure(*, sandbox_url: str, access_token: str, sends: int, processes: int, threads: int) -> dict:
    begin = time.time() + 1.5
    per_process = [sends // processes + (1 if i < sends % processes else 0) for i in range(processes)]
    offsets = [sum(per_process[:i]) for i in range(processes)]
    results = run_children(
        [["bench.ceiling", sandbox_url, access_token, str(offset), str(count), str(threads), str(begin)]
         for offset, count in zip(offsets, per_process, strict=True)]
    )  # fmt: skip
    seconds = max(r["finished"] for r in results) - begin
    ok = sum(r["ok"] for r in results)
    return {
        "sends": sends,
        "accepted": ok,
        "processes": processes,
        "threads": threads,
        "seconds": seconds,
        "per_second": ok / seconds,
    }


def _child(url: str, token: str, offset: int, count: int, threads: int, begin: float) -> None:
    session = pooled_session(threads)
    endpoint = f"{url.rstrip('/')}/v26.0/{PHONE_NUMBER_ID}/messages"
    headers = {"Authorization": f"Bearer {token}"}
    numbers = iter(range(offset, offset + count))
    lock = threading.Lock()
    ok = 0

    def push() -> None:
        nonlocal ok
        while True:
            with lock:
                n = next(numbers, None)
            if n is None:
                return
            response = session.post(endpoint, json=template_body(n), headers=headers, timeout=(3.05, 15))
            if response.status_code == 200 and response.json()["messages"][0]["id"]:
                with lock:
                    ok += 1

    run_threads(threads, push, begin=begin)
    sys.stdout.write(json.dumps({"ok": ok, "finished": time.time()}))


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
