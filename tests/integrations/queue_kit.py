"""Receivers and workers of one task-queue tool in processes of their own, over real brokers.

Each test gets a PostgreSQL schema of its own (the inbox and the dedup table in it, named by
``?options=-csearch_path%3D...`` URLs passed to psycopg untouched), a broker queue of its own
(deleted afterwards), and its processes' stdout in files it reads the handlers' JSON lines from.
The queue benchmark (``bench/queues_bench.py``) drives the same fleet.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
TOOLS = ("celery", "dramatiq", "arq")


def _bin(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else name


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    """Poll ``check`` until it is true or ``timeout`` seconds passed; whether it became true."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


# PostgreSQL: a schema per test ------------------------------------------------------------------


class Schema:
    """A schema of its own in the shared database; :attr:`url` sets it as the search path."""

    def __init__(self, dsn: str) -> None:
        import psycopg

        self.dsn = dsn
        self.name = f"hrq_{secrets.token_hex(5)}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {self.name}")
        sep = "&" if "?" in dsn else "?"
        self.url = f"{dsn}{sep}options={quote(f'-csearch_path={self.name}')}"

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return list(conn.execute(sql).fetchall())

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")


# Brokers ----------------------------------------------------------------------------------------


def pika_url(amqp_url: str) -> str:
    """Kombu's ``amqp://host//`` (the vhost ``/``) as pika spells it (``amqp://host/%2F``)."""
    return amqp_url[:-2] + "/%2F" if amqp_url.endswith("//") else amqp_url


def delete_rabbitmq_queues(amqp_url: str, names: Iterable[str]) -> None:
    """Delete the test's own queues and exchanges (never another's) on the shared RabbitMQ."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(pika_url(amqp_url)))
    try:
        for name in names:
            channel = connection.channel()
            channel.queue_delete(name)
            channel = connection.channel() if channel.is_closed else channel
            try:
                channel.exchange_delete(name)
            except Exception:
                pass
            if channel.is_open:
                channel.close()
    finally:
        connection.close()


def delete_arq_queue(redis_url: str, queue: str) -> None:
    """Delete the test's own arq queue and the jobs still in it (a killed worker's job keeps
    its keys for a day), never another queue's."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        for raw in client.zrange(queue, 0, -1):
            job = raw.decode()
            client.delete(
                *(f"arq:{kind}:{job}" for kind in ("job", "in-progress", "retry", "result"))
            )
        client.delete(queue, f"{queue}:health-check")
    finally:
        client.close()


def rabbitmq_names(tool: str, queue: str) -> list[str]:
    if tool == "dramatiq":
        return [queue, f"{queue}.DQ", f"{queue}.XQ"]
    return [queue]


# Deliveries -------------------------------------------------------------------------------------


def faxplus_body(hook_id: str, orders: str = "") -> bytes:
    """A Fax.Plus ``fax_received`` delivery; ``orders`` go to the handler (``queue_app``)."""
    return json.dumps(
        {
            "hook": {"id": hook_id, "event": "fax_received", "event_time": "2026-12-01 10:00:00"},
            "data": {
                "id": hook_id,
                "uid": "u1",
                "pages": 1,
                "from": "+1 334-555-0001",
                "to": "+1 334-304-0000",
                "start_time": "2026-12-01 10:00:00",
                "file": "f.tiff",
                "file_name": orders,
                "status": "success",
                "cost": 1,
            },
        }
    ).encode()


def send_all(
    bodies: Sequence[tuple[str, bytes]], *, threads: int = 8, timeout: float = 30.0
) -> list[int]:
    """POST each ``(base_url, body)`` to ``/hooks/faxplus`` on keep-alive connections from
    ``threads`` threads; the statuses, in order (0: no answer)."""
    statuses = [0] * len(bodies)
    counter = iter(range(len(bodies)))
    lock = threading.Lock()

    def run() -> None:
        connections: dict[str, http.client.HTTPConnection] = {}
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            base, body = bodies[index]
            for _ in range(2):  # once more on a fresh connection if a kept one was closed
                conn = connections.get(base)
                if conn is None:
                    host, port = base.removeprefix("http://").split(":")
                    conn = connections[base] = http.client.HTTPConnection(
                        host, int(port), timeout=timeout
                    )
                try:
                    conn.request(
                        "POST",
                        "/hooks/faxplus",
                        body,
                        {"content-type": "application/json"},
                    )
                    response = conn.getresponse()
                    response.read()
                    statuses[index] = response.status
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    connections.pop(base, None)
        for conn in connections.values():
            conn.close()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return statuses


# Processes --------------------------------------------------------------------------------------


@dataclass
class Proc:
    """One process (and its process group) with its output in a file."""

    name: str
    command: list[str]
    env: dict[str, str]
    out: Path
    process: subprocess.Popen[bytes] | None = None
    cwd: Path = HERE

    def start(self) -> None:
        with open(self.out, "ab") as sink:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: a SIGKILL takes its children too
            )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive:
            assert self.process is not None
            try:
                os.killpg(self.process.pid, signum)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """SIGKILL the process and its children: a machine that died."""
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def lines(self) -> list[dict[str, Any]]:
        """The handlers' JSON lines this process wrote."""
        found = []
        for raw in self.out.read_bytes().splitlines():
            if raw.startswith(b'{"phase"'):
                found.append(json.loads(raw))
        return found


@dataclass
class Fleet:
    """N receivers (uvicorn) and M workers of one tool, sharing an inbox, a store and a queue."""

    tool: str
    workdir: Path
    env: dict[str, str]
    receivers: list[Proc] = field(default_factory=list)
    workers: list[Proc] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        tool: str,
        workdir: Path,
        *,
        inbox: str,
        store: str,
        broker: str,
        queue: str,
        lease: float = 30.0,
        retry_delay: float = 0.5,
        sweep_every: int = 1,
        grace: float = 30.0,
        in_process: bool = False,
    ) -> Fleet:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
            "PYTHONUNBUFFERED": "1",
            "HRQ_TOOL": tool,
            "HOOKRECEIVER_INBOX": inbox,
            "HOOKRECEIVER_STORE": store,
            "HOOKRECEIVER_BROKER_URL": pika_url(broker) if tool == "dramatiq" else broker,
            "HOOKRECEIVER_QUEUE": queue,
            "HRQ_LEASE": str(lease),
            "HRQ_RETRY_DELAY": str(retry_delay),
            "HRQ_SWEEP_EVERY": str(sweep_every),
            "HRQ_SWEEP_GRACE": str(grace),
            "HRQ_WORKER": "1" if in_process else "0",
        }
        return cls(tool, workdir, env)

    # Receivers ---------------------------------------------------------------------------------

    def start_receivers(self, count: int = 2) -> None:
        for n in range(count):
            port = free_port()
            command = [_bin("uvicorn"), "queue_app:app", "--port", str(port)]
            command += ["--no-access-log", "--log-level", "warning", "--no-proxy-headers"]
            proc = Proc(f"receiver-{n}", command, self.env, self.workdir / f"receiver-{n}.out")
            proc.start()
            self.receivers.append(proc)
            self.ports.append(port)
        for proc, port in zip(self.receivers, self.ports, strict=True):
            ok = wait_until(lambda p=proc, n=port: self._answers(n) or not p.alive, 60)
            assert ok and proc.alive, proc.out.read_text()[-3000:]

    @staticmethod
    def _answers(port: int) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/")
            conn.getresponse().read()
            conn.close()
            return True
        except OSError:
            return False

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    # Workers -----------------------------------------------------------------------------------

    def worker_command(self, n: int) -> list[str]:
        queue = self.env["HOOKRECEIVER_QUEUE"]
        if self.tool == "celery":
            return [
                _bin("celery"),
                "-A",
                "queue_app:celery_app",
                "worker",
                "-P",
                "threads",
                "-c",
                "4",
                "-Q",
                queue,
                "-n",
                f"w{n}-{queue}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "WARNING",
                "-B",
                "-s",
                str(self.workdir / f"beat-{n}"),
            ]
        if self.tool == "dramatiq":
            return [_bin("dramatiq"), "queue_app", "-p", "1", "-t", "4", "-Q", queue]
        return [_bin("arq"), "queue_app.WorkerSettings"]

    def start_workers(self, count: int = 2) -> None:
        for _ in range(count):
            n = len(self.workers)
            proc = Proc(f"worker-{n}", self.worker_command(n), self.env, self.workdir / f"w{n}.out")
            proc.start()
            self.workers.append(proc)

    def restart_dead_workers(self) -> int:
        """Start again the workers whose process ended (what a supervisor does)."""
        restarted = 0
        for proc in self.workers:
            if not proc.alive:
                proc.start()
                restarted += 1
        return restarted

    def worker_of(self, pid: int) -> Proc:
        """The worker whose output holds lines of process ``pid`` (a child, for Dramatiq)."""
        for proc in self.workers:
            if any(line["pid"] == pid for line in proc.lines()):
                return proc
        raise LookupError(pid)

    # Output ------------------------------------------------------------------------------------

    def lines(self, phase: str | None = None) -> list[dict[str, Any]]:
        found = [line for proc in self.workers + self.receivers for line in proc.lines()]
        found.sort(key=lambda line: float(line["t"]))
        return [line for line in found if phase is None or line["phase"] == phase]

    def wait_done(self, keys: set[str], timeout: float, *, supervise: bool = False) -> bool:
        """Wait until every key's handler is done; ``supervise``: meanwhile start again the
        workers that exit (arq's does when Redis goes away)."""

        def done() -> bool:
            if supervise:
                self.restart_dead_workers()
            return keys <= {x["idempotency_key"] for x in self.lines("done")}

        return wait_until(done, timeout, 0.25)

    def logs(self, tail: int = 4000) -> str:
        return "\n".join(
            f"--- {proc.name}\n{proc.out.read_text(errors='replace')[-tail:]}"
            for proc in self.receivers + self.workers
        )

    def stop(self) -> None:
        # The test has its answers: no need for a warm shutdown (Celery's takes seconds).
        for proc in self.workers:
            proc.kill()
        for proc in self.receivers:
            proc.signal(signal.SIGTERM)
        for proc in self.receivers:
            proc.stop(5)
