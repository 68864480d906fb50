"""Benchmark 5: signed status webhooks into the real endpoint under gunicorn, then applied by the workers.

Bodies are built beforehand (one status per delivery, as Meta usually sends them: sent, delivered
and read for messages the campaign really sent) and signed with the app secret; ``processes``
processes of ``threads`` threads POST them with keep-alive connections as fast as they are answered.
Reported: deliveries answered 200 per second and the p50/p99 time to answer; then deliveries
applied per second by the workers (first received to last processed).

Benchmark 7 posts signed "STOP" texts (``stop_body``) one by one (``post_timed``) while a campaign sends.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.loadgen import run_children, run_threads


def status_bodies(
    messages: list[tuple[str, str, str]], *, statuses: tuple[str, ...], app_secret: str, waba_id: str, phone_number_id: str
) -> list[tuple[str, str]]:
    """(body, X-Hub-Signature-256) for each status of each (wamid, wa_id, callback data)."""
    bodies = []
    now = int(time.time())
    for status in statuses:
        for wamid, wa_id, callback in messages:
            value = {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
                "statuses": [{
                    "id": wamid, "status": status, "timestamp": str(now), "recipient_id": wa_id,
                    "biz_opaque_callback_data": callback,
                    **({"pricing": {"billable": True, "pricing_model": "PMP", "category": "marketing"}} if status != "read" else {}),
                }],
            }  # fmt: skip
            bodies.append(_signed_delivery(value, app_secret=app_secret, waba_id=waba_id))
    return bodies


def post_all(*, url: str, bodies: list[tuple[str, str]], processes: int, threads: int) -> dict:
    """POST every body; answered-200 per second and answer times."""
    with tempfile.TemporaryDirectory() as folder:
        slices = []
        for index in range(processes):
            path = Path(folder) / f"bodies-{index}.json"
            path.write_text(json.dumps(bodies[index::processes]))
            slices.append(path)
        begin = time.time() + 1.0
        answers = run_children([["bench.webhooks", url, str(path), str(threads), str(begin)] for path in slices])
    latencies = sorted(latency for answer in answers for latency in answer["latencies"])
    ok = sum(answer["ok"] for answer in answers)
    seconds = max(answer["finished"] for answer in answers) - begin
    return {
        "generator_cpu_s": sum(answer["cpu"] for answer in answers),
        "posted": len(bodies),
        "accepted": ok,
        "seconds": seconds,
        "accepted_per_s": ok / seconds,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "processes": processes,
        "threads": threads,
    }


def _child(url: str, path: str, threads: int, begin: float) -> None:
    # Raw keep-alive sockets and requests serialised beforehand: Meta's CPU is not ours, and a lean
    # generator leaves more of the machine's two cores to the server under test. http.client cost
    # about 0.4 ms of CPU per post (header building, the email-parser read of each answer).
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    host = f"{address[0]}:{address[1]}"
    requests = iter([_request_bytes(parts.path, host, body, signature) for body, signature in json.loads(Path(path).read_text())])
    lock = threading.Lock()
    latencies: list[float] = []
    ok = 0

    def push() -> None:
        nonlocal ok
        connection: socket.socket | None = None
        buffer = b""
        while True:
            with lock:
                request = next(requests, None)
            if request is None:
                break
            started = time.perf_counter()
            for _ in range(3):  # the server may close an idle keep-alive connection: open a new one and resend
                if connection is None:
                    connection, buffer = socket.create_connection(address, timeout=30), b""
                    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    connection.sendall(request)
                    status, buffer, keep = _answer_read(connection, buffer)
                except ConnectionError:
                    connection.close()
                    connection, status = None, 0
                    continue
                if not keep:
                    connection.close()
                    connection = None
                break
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                ok += status == 200
        if connection is not None:
            connection.close()

    run_threads(threads, push, begin=begin)
    cpu = time.process_time()  # the posting (and loading the bodies): Meta's CPU, on our cores here
    sys.stdout.write(json.dumps({"ok": ok, "latencies": latencies, "finished": time.time(), "cpu": cpu}))


def _request_bytes(path: str, host: str, body: str, signature: str) -> bytes:
    data = body.encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"X-Hub-Signature-256: {signature}\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def _answer_read(connection: socket.socket, buffer: bytes) -> tuple[int, bytes, bool]:
    """Read one HTTP/1.1 answer (Content-Length framed): its status, what followed it, whether the connection stays open."""
    while b"\r\n\r\n" not in buffer:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionResetError("closed before an answer")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = next((int(line.split(b":", 1)[1]) for line in lines[1:] if line[:15].lower() == b"content-length:"), 0)
    while len(rest) < length:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionResetError("closed inside an answer")
        rest += chunk
    keep = not any(line.lower() == b"connection: close" for line in lines[1:])
    return status, rest[length:], keep


def _post_signed(connection: http.client.HTTPConnection, path: str, body: str, signature: str) -> int:
    """POST one signed delivery on an open connection; the answer's status."""
    connection.request(
        "POST", path, body=body.encode(), headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature}
    )
    response = connection.getresponse()
    response.read()
    return response.status


def stop_body(wa_id: str, *, sequence: int, app_secret: str, waba_id: str, phone_number_id: str) -> tuple[str, str]:
    """(body, X-Hub-Signature-256) of a person's "STOP" text, as the sandbox delivers an inbound message."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Bench"}, "wa_id": wa_id}],
        "messages": [{"from": wa_id, "id": f"wamid.bench-stop-{sequence}-{wa_id}", "timestamp": str(int(time.time())),
                      "type": "text", "text": {"body": "STOP"}}],
    }  # fmt: skip
    return _signed_delivery(value, app_secret=app_secret, waba_id=waba_id)


def _signed_delivery(value: dict, *, app_secret: str, waba_id: str) -> tuple[str, str]:
    """(body, X-Hub-Signature-256) of one ``messages`` change of the business account."""
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": waba_id, "changes": [{"field": "messages", "value": value}]}]})
    return body, "sha256=" + hmac.new(app_secret.encode(), body.encode(), hashlib.sha256).hexdigest()


def post_timed(url: str, body: str, signature: str) -> tuple[float, float, int]:
    """POST one signed body on a fresh connection: (posted at, answered at) as Unix times, and the status."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        posted = time.time()
        status = _post_signed(connection, parts.path, body, signature)
        return posted, time.time(), status
    finally:
        connection.close()


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
