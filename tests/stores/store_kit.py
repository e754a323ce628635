"""Helpers for the store tests: stores with their time control, a TCP proxy, a private Redis,
and worker processes serving real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hookreceiver import Delivery, Receiver, Response, providers
from hookreceiver.stores import MemoryStore, Store
from support.payloads import faxplus_delivery, faxplus_payload
from support.servers import free_port

WORKER = Path(__file__).with_name("store_worker.py")


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Kit:
    """A store under test, how to make more instances on the same backend, and its time.

    ``make()`` is a second worker's view of the same backend (for memory: the same object).
    ``advance(s)`` lets ``s`` seconds pass: a fake clock where the store takes one, a real
    sleep where expiry is the server's (Redis, PostgreSQL).
    """

    name: str
    make: Callable[[], Store]
    advance: Callable[[float], None]
    spec: dict[str, Any]
    stores: list[Store] = field(default_factory=list)

    def new(self) -> Store:
        store = self.make()
        self.stores.append(store)
        return store

    def close(self) -> None:
        for store in self.stores:
            store.close()


def memory_kit() -> Kit:
    clock = FakeClock()
    shared = MemoryStore(clock=clock)
    return Kit("memory", lambda: shared, clock.advance, {"kind": "memory"})


def sqlite_kit(path: Path, **options: Any) -> Kit:
    from hookreceiver.stores import SQLiteStore

    clock = FakeClock(time.time())
    return Kit(
        "sqlite",
        lambda: SQLiteStore(path, clock=clock, **options),
        clock.advance,
        {"kind": "sqlite", "path": str(path)},
    )


def redis_kit(url: str, prefix: str, **options: Any) -> Kit:
    from hookreceiver.stores import RedisStore

    return Kit(
        "redis",
        lambda: RedisStore(url, prefix=prefix, **options),
        time.sleep,
        {"kind": "redis", "url": url, "prefix": prefix},
    )


def postgres_kit(dsn: str, table: str, **options: Any) -> Kit:
    from hookreceiver.stores import PostgresStore

    return Kit(
        "postgres",
        lambda: PostgresStore(dsn, table=table, **options),
        time.sleep,
        {"kind": "postgres", "dsn": dsn, "table": table},
    )


def store_from_spec(spec: dict[str, Any]) -> Store:
    """The store a worker process uses, from the JSON spec the test hands it."""
    kind = spec["kind"]
    if kind == "sqlite":
        from hookreceiver.stores import SQLiteStore

        return SQLiteStore(spec["path"])
    if kind == "redis":
        from hookreceiver.stores import RedisStore

        return RedisStore(spec["url"], prefix=spec["prefix"])
    if kind == "postgres":
        from hookreceiver.stores import PostgresStore

        return PostgresStore(spec["dsn"], table=spec["table"])
    raise ValueError(kind)


def drop_backend(spec: dict[str, Any]) -> None:
    """Remove what a test run left in Redis or PostgreSQL (keys under its prefix, its table)."""
    if spec["kind"] == "redis":
        import redis

        client = redis.Redis.from_url(spec["url"])
        try:
            keys = list(client.scan_iter(match=spec["prefix"] + "*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
        finally:
            client.close()
    elif spec["kind"] == "postgres":
        import psycopg
        from psycopg import sql

        with psycopg.connect(spec["dsn"], autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(spec["table"])))


def faxplus_body(hook_id: str, event: str = "fax_received") -> bytes:
    """A Fax.Plus delivery body; its idempotency key is ``faxplus:<event>:<hook_id>``."""
    return json.dumps(faxplus_payload(event, hook_id=hook_id)).encode()


class Driver:
    """Hands deliveries to the receiver the WSGI way (``handle``) or the ASGI way (``ahandle``)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.loop = asyncio.new_event_loop() if mode == "async" else None
        self.stores: list[Store] = []

    def receiver(self, store: Store, **options: Any) -> Receiver:
        self.stores.append(store)
        hooks = Receiver(store=store, **options)
        hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
        return hooks

    def send(self, hooks: Receiver, delivery: Delivery) -> Response:
        if self.loop is None:
            return hooks.handle(delivery)
        return self.loop.run_until_complete(hooks.ahandle(delivery))

    def close(self) -> None:
        for store in dict.fromkeys(self.stores):
            if self.loop is None:
                store.close()
            else:
                self.loop.run_until_complete(store.aclose())
        if self.loop is not None:
            self.loop.close()


def status_of(response: Response) -> tuple[int, str]:
    return response.status, json.loads(response.body)["status"]


def fax(hook_id: str) -> tuple[Delivery, str]:
    """A Fax.Plus delivery and its idempotency key."""
    payload = faxplus_payload(hook_id=hook_id)
    return faxplus_delivery(payload), f"faxplus:fax_received:{hook_id}"


# Worker processes ------------------------------------------------------------------------------


@dataclass
class Worker:
    """One worker process serving the receiver over HTTP on a loopback port."""

    process: subprocess.Popen[bytes]
    port: int
    kind: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/faxplus"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._close_pipe()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_workers(
    kinds: list[str], spec: dict[str, Any], workdir: Path, *, lease: float, delay: float = 0.0
) -> list[Worker]:
    """Start one worker per kind (``asgi`` or ``wsgi``); each says which port it listens on."""
    workers = []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        for kind in kinds:
            args = [sys.executable, str(WORKER), "--kind", kind, "--store", json.dumps(spec)]
            args += ["--dir", str(workdir), "--lease", str(lease), "--delay", str(delay)]
            process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE)
            workers.append(Worker(process, 0, kind))
        for worker in workers:
            assert worker.process.stdout is not None
            line = worker.process.stdout.readline()  # b"" if it died first
            if not line.strip().isdigit():
                raise RuntimeError(f"{worker.kind} worker did not start: {line!r}")
            worker.port = int(line)
            wait_for_port(worker.port, worker.process)
    except BaseException:
        for worker in workers:
            worker.kill()
        raise
    return workers


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on port {port} after {timeout} s")
        time.sleep(0.05)


def handled_keys(workdir: Path) -> list[str]:
    """The keys the workers' handlers recorded, one line per run (written with O_APPEND)."""
    path = workdir / "handled.log"
    return path.read_text().split() if path.exists() else []


# Outages ---------------------------------------------------------------------------------------


class PrivateRedis:
    """A throw-away ``redis-server`` on a free port, stopped and started at will."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        wait_for_port(self.port, self.process)
        time.sleep(0.05)
        if self.process.poll() is not None:  # the port was taken meanwhile by someone else
            raise RuntimeError(f"redis-server exited with {self.process.returncode}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


class PrivateRabbitMQ:
    """A throw-away RabbitMQ node of the test's own (Debian's ``rabbitmq-server``, started
    directly with its own node name, ports and data folder), stopped and started at will; the
    shared broker is never touched. Its data folder is kept across a stop, as a restarted
    server's would be."""

    SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"

    def __init__(self, folder: Path) -> None:
        if not os.access(self.SERVER, os.X_OK):
            raise RuntimeError("rabbitmq-server is not installed")
        self.folder = folder
        self.port = free_port()
        self.name = f"hookreceiver-test-{self.port}@localhost"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "plugins").write_text("[].\n")
        self.env = {
            **os.environ,
            "HOME": str(folder),  # its Erlang cookie
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "plugins"),
            "RABBITMQ_CONFIG_FILE": str(folder / "none"),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.SERVER],
            env=self.env,
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port, self.process, timeout=60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the port is free again before a restart
            with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                time.sleep(0.1)
                continue
            return


class TcpProxy:
    """Forwards a loopback port to a server; ``stop`` cuts every connection, as an outage does."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0  # chosen by the first start, kept by later ones
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        self.port = listener.getsockname()[1]
        listener.settimeout(0.05)
        self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(2)
        self._threads = []

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextmanager
def running(proxy: TcpProxy) -> Iterator[TcpProxy]:
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


def through(postgres_dsn: str, port: int) -> str:
    """``postgres_dsn`` pointed at a local proxy's ``port``."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(postgres_dsn)
    params.update(host="127.0.0.1", port=str(port))
    return make_conninfo("", **params)
