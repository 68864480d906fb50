"""The production-like stack on this machine, as a context manager: for fault drills and benchmarks.

``Stack`` runs the real processes against PostgreSQL and Redis: the WhatsApp sandbox (as Meta),
gunicorn serving ``retarget.wsgi`` (receiving the sandbox's signed webhooks), N Celery workers
(each its own process group and hostname, so one can be killed alone) and Celery beat::

    with Stack("postgres://postgres@127.0.0.1:5432/retarget_chaos_x", "redis://127.0.0.1:6379/10",
               workers=2, sandbox_latency_ms=20) as stack:
        stack.run_manage("sync_templates")
        ...
        stack.kill_worker(0)
        stack.restart_worker(0)
        sends = stack.sandbox_sends()

The database named in ``database_url`` is dropped and created again (``fresh_database=True``) and
migrated; the Redis database of ``redis_url`` is flushed, so give each run its own. Everything the
stack started is stopped on exit, also after an error: each process runs in its own process group
(its children die with it) and, when started from the main thread, gets SIGTERM if this process dies.

The harness itself does not import Django: it reads the database with psycopg2 and drives the
sandbox over HTTP. Code that wants the ORM in the calling process sets ``os.environ.update(stack.env)``
before ``django.setup()``.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

import psycopg2
import redis

from bench.autovacuum import AutovacuumStandIn, autovacuum_is_off

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")

# Settings of the campaign sender used unless the caller overrides them (fast recovery for drills).
DEFAULT_CAMPAIGN_ENV = {
    "CAMPAIGN_SEND_RATE": "1000",
    "CAMPAIGN_BATCH_SIZE": "100",
    "CAMPAIGN_SEND_CONCURRENCY": "16",
    "CAMPAIGN_DISPATCHERS": "4",
    "CAMPAIGN_DISPATCH_SECONDS": "20",
    "CAMPAIGN_LEASE_SECONDS": "15",
    "CAMPAIGN_TICK_SECONDS": "1",
    "CAMPAIGN_RETRY_BASE_SECONDS": "1",
    "CAMPAIGN_THROTTLE_BACKOFF_SECONDS": "1",
    "WHATSAPP_MESSAGING_LIMIT": "10000000",
}

# Campaign states in which nothing more will be sent without someone acting.
FINISHED_CAMPAIGN_STATES = ("completed", "paused", "cancelled")


class StackError(RuntimeError):
    """A process of the stack did not start or stopped; the message carries the end of its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], T], *, timeout: float, what: str, interval: float = 0.2) -> T:
    """Call ``predicate`` until it returns something true; TimeoutError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: a new session (own process group) and SIGTERM when the parent dies."""
    os.setsid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: the context manager still stops everything on a normal exit
        pass


def _own_session() -> None:
    os.setsid()


class ManagedProcess:
    """One process of the stack, its log file and how to tell it is ready."""

    def __init__(
        self, name: str, command: list[str], log_path: Path, ready: Callable[[ManagedProcess], bool], env: dict[str, str]
    ) -> None:
        self.name = name
        self.command = command
        self.log_path = log_path
        self.ready = ready
        self.env = env  # on top of the stack's environment
        self.popen: subprocess.Popen | None = None
        self.log_offset = 0  # where this start's output begins in the (appended) log

    def start(self, stack_env: dict[str, str]) -> None:
        env = {**stack_env, **self.env}
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        # PDEATHSIG fires when the *thread* that forked dies: only safe from the main thread.
        preexec = _die_with_parent if threading.current_thread() is threading.main_thread() else _own_session
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=preexec
            )

    def log_since_start(self) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self.log_offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait_ready(self, timeout: float) -> None:
        def ready_or_dead() -> bool:
            return not self.running or self.ready(self)

        wait_until(ready_or_dead, timeout=timeout, what=f"{self.name} to start", interval=0.1)
        if not self.running:
            raise StackError(f"{self.name} exited during start-up:\n{self.log_since_start()[-4000:]}")

    def send_signal(self, sig: int) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, *, timeout: float = 15.0) -> None:
        """SIGTERM the process group, SIGKILL it if it is still there after ``timeout`` seconds."""
        if self.popen is None:
            return
        self.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole group at once (a worker and its pool children, as when a machine dies)."""
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass
        if sig in (signal.SIGKILL, signal.SIGTERM):
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()


def _log_contains(text: str) -> Callable[[ManagedProcess], bool]:
    return lambda process: text in process.log_since_start()


def _http_answers(url: str) -> Callable[[ManagedProcess], bool]:
    def check(process: ManagedProcess) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status < 500
        except urllib.error.HTTPError as error:
            return error.code < 500
        except (urllib.error.URLError, OSError):
            return False

    return check


class Stack:
    """Sandbox, gunicorn, Celery workers and beat on one database and one Redis db (see module docs)."""

    def __init__(
        self,
        database_url: str,
        redis_url: str,
        *,
        workers: int = 2,
        worker_concurrency: int = 4,
        sandbox_latency_ms: float = 0,
        sandbox_config: dict[str, Any] | None = None,
        sandbox_seed: int | None = 7,
        web: bool = True,
        web_workers: int = 2,
        web_threads: int = 8,
        beat: bool = True,
        env_overrides: dict[str, str] | None = None,
        fresh_database: bool = True,
        drop_database_on_exit: bool = False,
        log_dir: Path | str | None = None,
        start_timeout: float = 120.0,
        autovacuum_stand_in: bool = True,
    ) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.worker_count = workers
        self.worker_concurrency = worker_concurrency
        self.sandbox_latency_ms = sandbox_latency_ms
        self.initial_sandbox_config = dict(sandbox_config or {})
        self.sandbox_seed = sandbox_seed
        self.with_web = web
        self.web_workers = web_workers
        self.web_threads = web_threads
        self.with_beat = beat
        self.fresh_database = fresh_database
        self.drop_database_on_exit = drop_database_on_exit
        self.start_timeout = start_timeout
        self.with_autovacuum_stand_in = autovacuum_stand_in
        self.autovacuum: AutovacuumStandIn | None = None  # on a server running without autovacuum

        parsed = urllib.parse.urlparse(database_url)
        self.database_name = parsed.path.lstrip("/")
        if not self.database_name or parsed.scheme not in ("postgres", "postgresql"):
            raise ValueError(f"database_url must name a PostgreSQL database, got {database_url!r}")
        self._server_dsn = parsed._replace(path="/postgres").geturl()
        run_label = time.strftime("%Y%m%d-%H%M%S")
        self.log_dir = Path(log_dir) if log_dir else ROOT / "var" / "stack" / f"{self.database_name}-{run_label}"
        self.log_dir.mkdir(parents=True, exist_ok=True)

        self.sandbox_port = free_port()
        self.web_port = free_port() if web else 0
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.web_url = f"http://127.0.0.1:{self.web_port}" if web else ""
        self.webhook_url = f"{self.web_url}/webhooks/whatsapp" if web else ""

        self.app_secret = "stack-app-secret"
        self.verify_token = "stack-verify-token"
        self.access_token = "stack-access-token"
        self.env: dict[str, str] = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "retarget.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "stack-secret-key-for-local-runs-only-0123456789abcdefghijklmnop",
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_HSTS_SECONDS": "0",
            "PUBLIC_BASE_URL": self.web_url or "http://127.0.0.1:8000",
            "RETARGET_VAR_DIR": str(self.log_dir / "var"),
            # The key of the process that starts the stack (a test, a drill, the benchmark) when it has one, so
            # that the suppression hashes it writes match the stack's.
            "SUPPRESSION_HASH_KEY": os.environ.get("SUPPRESSION_HASH_KEY") or "stack-suppression-hash-key-local-runs-only",
            "WHATSAPP_SANDBOX": "1",  # production settings against the sandbox this stack starts on 127.0.0.1
            "WHATSAPP_GRAPH_URL": self.sandbox_url,
            "WHATSAPP_ACCESS_TOKEN": self.access_token,
            "WHATSAPP_APP_SECRET": self.app_secret,
            "WHATSAPP_VERIFY_TOKEN": self.verify_token,
            "WHATSAPP_PHONE_NUMBER_ID": "100000000000001",
            "WHATSAPP_BUSINESS_ACCOUNT_ID": "200000000000002",
            "PHONE_DEFAULT_REGION": "",
            "LOG_LEVEL": "INFO",
            **DEFAULT_CAMPAIGN_ENV,
            **(env_overrides or {}),
        }
        self.processes: dict[str, ManagedProcess] = {}
        self._sends_cache: list[dict] = []
        self._previous_sigterm: Any = None

    # --- life cycle -----------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self._sigterm_raises()
        self.database_prepare()
        if self.with_autovacuum_stand_in and autovacuum_is_off(self.database_url):
            self.autovacuum = AutovacuumStandIn(self.database_url)
            self.autovacuum.start()
        redis.Redis.from_url(self.redis_url).flushdb()  # no tasks, buckets or heartbeats of earlier runs
        self._sandbox_start()
        if self.with_web:
            self._web_start()
        for index in range(self.worker_count):
            self._worker_start(index)
        if self.with_beat:
            self._beat_start()
        self.run_manage("sync_templates")

    def stop(self) -> None:
        """Stop every process (beat first, so nothing new is scheduled); safe to call twice."""
        order = ["beat"] + sorted(n for n in self.processes if n.startswith("worker-")) + ["web", "sandbox"]
        for name in order:
            process = self.processes.get(name)
            if process is not None:
                process.stop()
        if self.autovacuum is not None:
            self.autovacuum.stop()
            self.autovacuum = None
        if self.drop_database_on_exit:
            self.database_drop()
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    def _sigterm_raises(self) -> None:
        """A SIGTERM to this process unwinds through ``__exit__`` (stopping the stack) instead of orphaning it."""
        if threading.current_thread() is not threading.main_thread():
            return

        def raise_exit(signum: int, frame: object) -> None:
            raise SystemExit(128 + signum)

        self._previous_sigterm = signal.signal(signal.SIGTERM, raise_exit)

    def _start(
        self, name: str, command: list[str], ready: Callable[[ManagedProcess], bool], *, application_name: str = ""
    ) -> ManagedProcess:
        # The PostgreSQL application name tells the processes' connections apart (terminate_db_connections).
        env = {"PGAPPNAME": application_name or f"retarget-{name}"}
        process = self.processes.get(name) or ManagedProcess(name, command, self.log_dir / f"{name}.log", ready, env)
        self.processes[name] = process
        process.start(self.env)
        process.wait_ready(self.start_timeout)
        return process

    # --- the database ---------------------------------------------------------------------------

    def _server(self) -> Any:
        connection = psycopg2.connect(self._server_dsn)
        connection.autocommit = True
        return connection

    def database_prepare(self) -> None:
        """Drop and create the database (``fresh_database``), then migrate it."""
        if self.fresh_database:
            self.database_drop()
            with closing(self._server()) as connection, connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{self.database_name}"')
        else:
            with closing(self._server()) as connection, connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.database_name])
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{self.database_name}"')
        self.run_manage("migrate", "--no-input", timeout=600)

    def database_drop(self) -> None:
        with closing(self._server()) as connection, connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')

    def sql(self, query: str, params: Iterable[Any] | dict[str, Any] | None = None) -> list[tuple]:
        """Run one statement on this run's database (own short connection); returns the rows, if any."""
        connection = psycopg2.connect(self.database_url)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(query, params)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()

    def terminate_db_connections(self, *, application_prefix: str = "retarget-worker") -> int:
        """``pg_terminate_backend`` every connection of the workers to this run's database; returns how many."""
        rows = self.sql(
            """
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = %s AND application_name LIKE %s AND pid <> pg_backend_pid()
            """,
            [self.database_name, application_prefix + "%"],
        )
        return sum(1 for (terminated,) in rows if terminated)

    # --- the sandbox ----------------------------------------------------------------------------

    def _sandbox_start(self) -> None:
        command = [
            sys.executable, "manage.py", "whatsapp_sandbox", "--port", str(self.sandbox_port),
            "--webhook-url", self.webhook_url, "--latency", str(self.sandbox_latency_ms / 1000),
        ]  # fmt: skip
        if self.sandbox_seed is not None:
            command += ["--seed", str(self.sandbox_seed)]
        if self.initial_sandbox_config:
            command += ["--config", json.dumps(self.initial_sandbox_config)]
        self._start("sandbox", command, _http_answers(f"{self.sandbox_url}/_sandbox/health"))

    def sandbox_request(self, method: str, path: str, payload: dict | None = None, *, timeout: float = 60) -> Any:
        data = json.dumps(payload).encode() if payload is not None else (b"" if method == "POST" else None)
        request = urllib.request.Request(f"{self.sandbox_url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def sandbox_config(self, **changes: Any) -> dict:
        """Change the sandbox's behaviour at run time (see whatsapp/sandbox/server.py SandboxConfig)."""
        return self.sandbox_request("POST", "/_sandbox/config", changes)

    def sandbox_sends(self) -> list[dict]:
        """The sandbox's log of every send it accepted, in order: the ground truth of what left."""
        answer = self.sandbox_request("GET", f"/_sandbox/sends?offset={len(self._sends_cache)}")
        self._sends_cache.extend(answer["sends"])
        return list(self._sends_cache)

    def sandbox_refused(self) -> dict[str, int]:
        """Sends the sandbox refused, by error code."""
        return self.sandbox_request("GET", "/_sandbox/sends?offset=999999999")["refused"]

    def sandbox_webhooks(self) -> dict:
        """Webhook delivery counters: pending, delivered (answered 200), failed."""
        return self.sandbox_request("GET", "/_sandbox/webhooks")

    def sandbox_inbound(self, **spec: Any) -> dict:
        """Make a person write to us (``from`` and ``text``/``button``/``user_preference``)."""
        return self.sandbox_request("POST", "/_sandbox/inbound", spec)

    def sandbox_reset(self) -> None:
        """Forget sends and webhooks and restore the start-up configuration."""
        self.sandbox_request("POST", "/_sandbox/reset")
        self._sends_cache = []

    # --- web ------------------------------------------------------------------------------------

    def _web_start(self) -> None:
        command = [
            sys.executable, "-m", "gunicorn", "-c", "python:retarget.gunicorn_conf", "retarget.wsgi:application",
            "--bind", f"127.0.0.1:{self.web_port}", "--workers", str(self.web_workers),
            "--worker-class", "gthread", "--threads", str(self.web_threads), "--timeout", "60",
            "--graceful-timeout", "10", "--error-logfile", "-",
        ]  # fmt: skip
        query = urllib.parse.urlencode({"hub.mode": "subscribe", "hub.verify_token": self.verify_token, "hub.challenge": "up"})
        self._start("web", command, _http_answers(f"{self.webhook_url}?{query}"))

    # --- workers and beat -----------------------------------------------------------------------

    def worker_name(self, index: int) -> str:
        return f"worker-{index}"

    def _worker_start(self, index: int) -> None:
        name = self.worker_name(index)
        command = [
            sys.executable, "-m", "celery", "-A", "retarget", "worker", "-n", f"{name}-{self.database_name}@%h",
            "--concurrency", str(self.worker_concurrency), "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        self._start(name, command, _log_contains(" ready."))

    def _beat_start(self) -> None:
        command = [
            sys.executable, "-m", "celery", "-A", "retarget", "beat", "--loglevel", "INFO",
            "-s", str(self.log_dir / "beat-schedule"),
        ]  # fmt: skip
        self._start("beat", command, _log_contains("beat: Starting"))

    def kill_worker(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to worker ``index`` and its pool processes at once (SIGKILL: as when a machine dies)."""
        self.processes[self.worker_name(index)].kill(sig)

    def restart_worker(self, index: int) -> None:
        """Start worker ``index`` again (stopping it first if it still runs) and wait until it is ready."""
        process = self.processes.get(self.worker_name(index))
        if process is not None and process.running:
            process.stop()
        self._worker_start(index)

    def worker_running(self, index: int) -> bool:
        process = self.processes.get(self.worker_name(index))
        return process is not None and process.running

    # --- Redis ----------------------------------------------------------------------------------

    def restart_redis(self, server: OwnRedis, *, down_seconds: float = 0.0) -> float:
        """Shut ``server`` (a Redis of the drill's own, never the machine's) down without saving, so
        queued tasks are lost, and start it again on the same port. Returns the seconds it did not answer."""
        started = time.monotonic()
        server.stop()
        time.sleep(down_seconds)
        server.start()
        return time.monotonic() - started

    # --- manage.py and campaigns ----------------------------------------------------------------

    def run_manage(self, *args: str, timeout: float = 300) -> str:
        """Run ``manage.py <args>`` with the stack's environment; returns its output, StackError if it fails."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise StackError(f"manage.py {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-4000:]}")
        return result.stdout

    def campaign_status(self, campaign_id: int) -> str:
        rows = self.sql("SELECT status FROM campaigns_campaign WHERE id = %s", [campaign_id])
        if not rows:
            raise StackError(f"campaign {campaign_id} does not exist")
        return rows[0][0]

    def message_counts(self, campaign_id: int) -> dict[str, int]:
        """Messages of the campaign by status."""
        return dict(self.sql("SELECT status, count(*) FROM campaigns_message WHERE campaign_id = %s GROUP BY status", [campaign_id]))

    def wait_for_campaign(self, campaign_id: int, *, timeout: float = 600, states: Iterable[str] = FINISHED_CAMPAIGN_STATES) -> str:
        """Wait until the campaign is completed, paused or cancelled (or one of ``states``); returns the state."""
        wanted = tuple(states)
        self._check_alive()
        return wait_until(
            lambda: self._check_alive() or (status if (status := self.campaign_status(campaign_id)) in wanted else ""),
            timeout=timeout,
            what=f"campaign {campaign_id} to reach {' or '.join(wanted)}",
            interval=0.5,
        )

    def wait_for_messages_settled(self, campaign_ids: Iterable[int], *, timeout: float = 600) -> None:
        """Wait until no message of the campaigns is queued and due, or being sent."""
        ids = list(campaign_ids)
        wait_until(
            lambda: not self._check_alive()
            and not self.sql(
                """SELECT 1 FROM campaigns_message WHERE campaign_id = ANY(%s)
                   AND (status = 'sending' OR (status = 'queued' AND (send_after IS NULL OR send_after <= now())))
                   LIMIT 1""",
                [ids],
            ),
            timeout=timeout,
            what=f"the messages of campaign(s) {ids} to be sent",
            interval=0.5,
        )

    def wait_for_webhooks(self, *, timeout: float = 300) -> None:
        """Wait until the sandbox has no webhook pending and the workers processed every stored delivery."""
        wait_until(
            lambda: self.sandbox_webhooks()["pending"] == 0
            and not self.sql("SELECT 1 FROM whatsapp_webhookdelivery WHERE processed_at IS NULL LIMIT 1"),
            timeout=timeout,
            what="the status webhooks to arrive and be processed",
            interval=0.5,
        )

    def _check_alive(self) -> None:
        """StackError when a process that should run (anything but a deliberately killed worker) died."""
        for name, process in self.processes.items():
            if name.startswith("worker-"):
                continue
            if process.popen is not None and not process.running:
                raise StackError(f"{name} stopped (exit {process.popen.returncode}):\n{process.log_since_start()[-3000:]}")
        return None


def _redis_answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


class OwnRedis:
    """A Redis server of a drill's own, on a free port and in a directory of its own: restarting it
    touches nobody else's data (the machine's Redis is never restarted by a drill or a test)."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="retarget-own-redis-"))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)
        wait_until(lambda: _redis_answers(client), timeout=30, what="the drill's Redis to answer", interval=0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM without "save": nothing is written, queued tasks are lost
            self.process.wait(timeout=30)
            self.process = None

    def __enter__(self) -> OwnRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
