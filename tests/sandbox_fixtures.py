"""Pytest fixtures for the WhatsApp sandbox: a real server process on a free port.

``sandbox`` starts ``python -m whatsapp.sandbox`` once per test session, resets it before each
test and points ``settings.WHATSAPP_GRAPH_URL`` at it. Use ``sandbox.configure(...)`` to change its
behaviour, ``sandbox.sends()`` to read its log of accepted sends, and ``sandbox.configure(
webhook_url=live_server.url + "/webhooks/whatsapp")`` to have it deliver signed webhooks.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SandboxServer:
    def __init__(self, process: subprocess.Popen, url: str):
        self.process = process
        self.url = url

    def control(self, method: str, path: str, payload: dict | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else (b"" if method == "POST" else None)
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def configure(self, **changes: Any) -> dict:
        return self.control("POST", "/_sandbox/config", changes)

    def reset(self) -> None:
        self.control("POST", "/_sandbox/reset")

    def sends(self) -> list[dict]:
        return self.control("GET", "/_sandbox/sends")["sends"]

    def refused(self) -> dict[str, int]:
        return self.control("GET", "/_sandbox/sends")["refused"]

    def webhooks(self, *, log: bool = False) -> dict:
        return self.control("GET", "/_sandbox/webhooks" + ("?log=1" if log else ""))

    def inbound(self, **spec: Any) -> dict:
        return self.control("POST", "/_sandbox/inbound", spec)

    def wait_for_webhooks(self, *, delivered: int, timeout: float = 20.0) -> dict:
        """Wait until at least ``delivered`` webhook events were answered 200 and none is pending."""
        deadline = time.monotonic() + timeout
        state = self.webhooks()
        while time.monotonic() < deadline:
            state = self.webhooks()
            if state["delivered"] + state["failed"] >= delivered and state["pending"] == 0:
                return self.webhooks(log=True)
            time.sleep(0.05)
        raise AssertionError(f"sandbox webhooks did not arrive in time: {state}")


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory) -> SandboxServer:
    port = free_port()
    command = [
        sys.executable, "-m", "whatsapp.sandbox", "--port", str(port),
        "--access-token", settings.WHATSAPP_ACCESS_TOKEN, "--app-secret", settings.WHATSAPP_APP_SECRET,
        "--phone-number-id", settings.WHATSAPP_PHONE_NUMBER_ID, "--waba-id", settings.WHATSAPP_BUSINESS_ACCOUNT_ID,
        "--app-id", settings.WHATSAPP_APP_ID,
        "--seed", "7",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # A file, not a pipe: a pipe nobody reads would block the sandbox once it fills up.
    log_path = tmp_path_factory.mktemp("sandbox") / "sandbox.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = SandboxServer(process, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 15
    while True:
        try:
            server.control("GET", "/_sandbox/health")
            break
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                output = log_path.read_text(errors="replace")
                process.kill()
                raise RuntimeError(f"the WhatsApp sandbox did not start:\n{output}") from None
            time.sleep(0.05)
    yield server
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def sandbox(sandbox_server: SandboxServer, settings) -> SandboxServer:
    """The running sandbox, reset, with the app's client pointed at it."""
    sandbox_server.reset()
    settings.WHATSAPP_GRAPH_URL = sandbox_server.url
    yield sandbox_server
    sandbox_server.reset()


class WebhookReceiver:
    """A real HTTP server on a free port that records the webhooks the sandbox posts to it.

    ``answers`` is the list of HTTP statuses given to the next deliveries, in order (then 200), so a test
    can refuse deliveries and watch the sandbox redeliver them.
    """

    def __init__(self) -> None:
        self.deliveries: list[tuple[bytes, dict[str, str]]] = []
        self.arrived: list[float] = []  # time.monotonic() of each delivery
        self.answers: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.deliveries.append((body, dict(self.headers)))
                    receiver.arrived.append(time.monotonic())
                    status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[dict]:
        with self.lock:
            return [json.loads(body) for body, _ in self.deliveries]

    def changes(self) -> list[dict]:
        """Every change of every delivery, in arrival order: ``{"field", "value"}``."""
        return [change for body in self.bodies() for entry in body["entry"] for change in entry["changes"]]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        """Wait until ``count`` deliveries arrived; return their parsed bodies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.deliveries) >= count:
                return self.bodies()
            time.sleep(0.02)
        raise AssertionError(f"expected {count} webhook deliveries, got {len(self.deliveries)}: {self.bodies()}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver() -> WebhookReceiver:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
