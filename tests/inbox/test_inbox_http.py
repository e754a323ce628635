"""The inbox over real HTTP and real databases: uvicorn and wsgiref on loopback, SQLite files,
PostgreSQL, worker processes, and a server killed with SIGKILL."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from inbox_support import KAZOO, KAZOO_HEADERS, kazoo_body, kazoo_receiver, wait_for
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from hookreceiver import DeliveryContext
from hookreceiver.inbox import Inbox, InboxState, PostgresInbox, Retry, SQLiteInbox, replay_many
from hookreceiver.providers import wirecloud
from support.servers import free_port, serve_asgi, serve_wsgi

pytestmark = pytest.mark.slow

FAST_RETRY = Retry(max_attempts=5, first_delay=0.05, factor=1.0)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgres"])
def real_inbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Inbox]:
    """An inbox on the real clock with fast retries, on each backend."""
    box: Inbox
    if request.param == "sqlite":
        box = SQLiteInbox(tmp_path / "inbox.db", retry=FAST_RETRY, synchronous="NORMAL")
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        table = f"hr_inbox_http_{secrets.token_hex(4)}"
        box = PostgresInbox(dsn, table=table, retry=FAST_RETRY)
    yield box
    if isinstance(box, PostgresInbox):
        box.drop()
    box.close()


def post_kazoo(base: str, body: bytes) -> httpx.Response:
    return httpx.post(base + KAZOO, content=body, headers=dict(KAZOO_HEADERS), timeout=10)


def test_kazoo_handlers_failing_three_times_are_handled_on_the_fourth_local_attempt(
    real_inbox: Inbox,
) -> None:
    hooks = kazoo_receiver(real_inbox, worker={"poll_interval": 0.05, "concurrency": 2})
    attempts: dict[str, list[int]] = {}

    @hooks.on("wirecloud.channel_destroy")
    def flaky(event: Any, ctx: DeliveryContext) -> None:
        attempts.setdefault(event.call_id, []).append(ctx.attempt)
        if ctx.attempt < 4:
            raise ConnectionError("CRM unreachable")

    lifespan: list[str] = []

    @contextlib.asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[None]:
        lifespan.append("app started")
        yield
        lifespan.append("app stopped")

    app = Starlette(
        routes=[Route("/", lambda request: PlainTextResponse("home"))], lifespan=app_lifespan
    )
    with serve_asgi(hooks.asgi_middleware(app)) as base:
        assert hooks.worker_lifecycle.worker is not None  # started by the lifespan, not a delivery
        responses = [post_kazoo(base, kazoo_body()) for _ in range(3)]
        assert [(r.status_code, r.json()) for r in responses] == [(200, {"status": "accepted"})] * 3
        assert httpx.get(base + "/").text == "home"
        wait_for(
            lambda: len(real_inbox.list(states=["done"])) == 3, what="three handled deliveries"
        )
    assert lifespan == ["app started", "app stopped"]
    assert hooks.worker_lifecycle.worker is None  # stopped with the app
    assert sorted(attempts.values()) == [[1, 2, 3, 4]] * 3
    assert all(e.attempts == 4 for e in real_inbox.list())


def test_an_app_without_lifespan_starts_the_worker_with_the_first_delivery(
    tmp_path: Path,
) -> None:
    hooks = kazoo_receiver(
        SQLiteInbox(tmp_path / "inbox.db", retry=FAST_RETRY), worker={"poll_interval": 0.05}
    )
    handled: list[str] = []
    hooks.on("*")(lambda event, ctx: handled.append(event.call_id))

    async def no_lifespan(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http", "this app does not do lifespan"
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with serve_asgi(hooks.asgi_middleware(no_lifespan)) as base:
        assert hooks.worker_lifecycle.worker is None
        assert httpx.get(base + "/other").status_code == 204
        assert post_kazoo(base, kazoo_body(call_id="lazy-1")).status_code == 200
        wait_for(lambda: handled == ["lazy-1"], what="the delivery handled")
        assert hooks.worker_lifecycle.worker is not None


def test_wsgi_apps_run_the_worker_in_a_background_thread(tmp_path: Path) -> None:
    hooks = kazoo_receiver(
        SQLiteInbox(tmp_path / "inbox.db", retry=FAST_RETRY), worker={"poll_interval": 0.05}
    )
    handled: list[str] = []
    hooks.on("*")(lambda event, ctx: handled.append(event.call_id))
    try:
        with serve_wsgi(hooks.wsgi_app) as base:
            assert post_kazoo(base, kazoo_body(call_id="wsgi-1")).status_code == 200
            wait_for(lambda: handled == ["wsgi-1"], what="the WSGI delivery handled")
    finally:
        hooks.stop_worker()
    assert hooks.worker_lifecycle.worker is None


def test_schema_drift_is_quarantined_over_http_and_replayed_once_the_model_accepts_it(
    real_inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = kazoo_receiver(real_inbox, worker={"poll_interval": 0.05})
    handled: list[Any] = []
    hooks.on("wirecloud.channel_destroy")(lambda event, ctx: handled.append(event.ringing_seconds))
    with serve_asgi(hooks.asgi_app) as base:
        response = post_kazoo(base, kazoo_body(ringing_seconds="0.5"))
        assert (response.status_code, response.json()) == (200, {"status": "quarantined"})
        (entry,) = real_inbox.list(states=["quarantined"])

        class Tomorrow(wirecloud.ChannelDestroy):
            ringing_seconds: float | None = None  # type: ignore[assignment]

        monkeypatch.setitem(wirecloud._MODELS, "channel_destroy", Tomorrow)
        assert post_kazoo(base, kazoo_body(ringing_seconds="1.5")).status_code == 200
        wait_for(lambda: handled == [1.5], what="the new delivery handled")
        assert [(r.id, r.state) for r in replay_many(hooks)] == [(entry.id, InboxState.DONE)]
    assert handled == [1.5, 0.5]


# Processes --------------------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    paths = [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **extra}


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise AssertionError("server did not start")


@contextlib.contextmanager
def _server(app_dir: Path, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "kill_app:app", "--app-dir", str(app_dir),
        "--port", str(port), "--log-level", "warning", "--lifespan", "on",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    try:
        _wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        assert process.stderr is not None
        process.stderr.close()


KILL_APP = """
import os, time
from hookreceiver import Receiver, providers
from hookreceiver.inbox import SQLiteInbox
from hookreceiver.stores import SQLiteStore

DB, LOG, PHASE = os.environ["INBOX_DB"], os.environ["HANDLED_LOG"], os.environ["PHASE"]
# Leases are renewed while handlers run, so a healthy worker keeps its delivery however loaded
# the machine; the killed one stops renewing. The claim's lease ends before the inbox's, so the
# delivery taken over finds its key free.
hooks = Receiver(
    store=SQLiteStore(DB),
    lease=1.0,
    inbox=SQLiteInbox(DB, lease=2.0),
    worker={"poll_interval": 0.05},
)
hooks.endpoint("/hooks/kazoo", providers.Wirecloud(allow_ips=["127.0.0.1"]))

@hooks.on("wirecloud.channel_destroy")
def handle(event, ctx):
    if PHASE == "stuck":
        with open(LOG + ".stuck", "a") as out:
            out.write(event.call_id + "\\n")
        time.sleep(60)  # the process is killed while this handler runs
    with open(LOG, "a") as out:
        out.write(f"{event.call_id} {ctx.attempt}\\n")

app = hooks.asgi_app
"""


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_killed_server_handles_what_sat_in_its_inbox_after_restart(tmp_path: Path) -> None:
    (tmp_path / "kill_app.py").write_text(textwrap.dedent(KILL_APP))
    db, log = tmp_path / "hooks.db", tmp_path / "handled.log"
    env = _env(INBOX_DB=str(db), HANDLED_LOG=str(log))
    calls = [f"call-{n}" for n in range(5)]

    with _server(tmp_path, {**env, "PHASE": "stuck"}) as (base, process):
        for call_id in calls:
            response = post_kazoo(base, kazoo_body(call_id=call_id))
            assert (response.status_code, response.json()) == (200, {"status": "accepted"})
        stuck = Path(str(log) + ".stuck")
        wait_for(lambda: len(_lines(stuck)) == 1, what="a handler stuck mid-delivery")
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    states = sorted(e.state.value for e in SQLiteInbox(db).list())
    assert states == ["pending"] * 4 + ["processing"]
    assert _lines(log) == []

    inbox = SQLiteInbox(db)
    with _server(tmp_path, {**env, "PHASE": "healthy"}):
        wait_for(lambda: len(_lines(log)) == 5, timeout=20, what="all five handled")
        # A handler's line is written before its delivery is marked done: wait for both
        # before the server stops, however loaded the machine.
        wait_for(
            lambda: {e.state for e in inbox.list()} == {InboxState.DONE},
            timeout=20,
            what="all five marked done",
        )
    inbox.close()
    handled = dict(line.split() for line in _lines(log))
    assert sorted(handled) == calls
    assert handled[_lines(stuck)[0]] == "2"  # taken again once the dead worker's lease expired
    assert {e.state for e in SQLiteInbox(db).list()} == {InboxState.DONE}


WORKER_APP = """
import os, time
from pathlib import Path
from hookreceiver import Receiver, providers
from hookreceiver.inbox import PostgresInbox

LOG, BARRIER = os.environ["WORK_LOG"], Path(os.environ["BARRIER"])
# Each process has its own (memory) dedup store: only the inbox keeps them from sharing work.
hooks = Receiver(inbox=PostgresInbox(os.environ["DSN"], table=os.environ["TABLE"]), worker=False)
hooks.endpoint("/hooks/kazoo", providers.Wirecloud(allow_ips=["127.0.0.1"]))

@hooks.on("wirecloud.channel_destroy")
def handle(event, ctx):
    with open(LOG, "a") as out:
        out.write(f"start {ctx.delivery_id} {os.getpid()} {time.time()!r}\\n")
    time.sleep(0.02)
    with open(LOG, "a") as out:
        out.write(f"end {ctx.delivery_id} {os.getpid()} {time.time()!r}\\n")

(BARRIER / f"ready-{os.getpid()}").touch()
while not (BARRIER / "go").exists():  # start both workers at the same moment
    time.sleep(0.01)
"""


def _intervals(log: Path) -> dict[str, list[tuple[str, float, float]]]:
    starts: dict[tuple[str, str], float] = {}
    runs: dict[str, list[tuple[str, float, float]]] = {}
    for line in _lines(log):
        kind, record_id, pid, moment = line.split()
        if kind == "start":
            starts[record_id, pid] = float(moment)
        else:
            begun = starts.pop((record_id, pid))
            runs.setdefault(record_id, []).append((pid, begun, float(moment)))
    assert not starts, "a handler started and never ended"
    return runs


def test_two_postgres_worker_processes_never_process_the_same_delivery_at_once(
    tmp_path: Path, postgres_dsn: str
) -> None:
    table = f"hr_inbox_workers_{secrets.token_hex(4)}"
    box = PostgresInbox(postgres_dsn, table=table)
    hooks = kazoo_receiver(box)
    try:
        with serve_asgi(hooks.asgi_app) as base, httpx.Client() as client:
            for _ in range(40):
                response = client.post(
                    base + KAZOO, content=kazoo_body(), headers=dict(KAZOO_HEADERS)
                )
                assert response.status_code == 200
        assert len(box.list(states=["pending"])) == 40

        (tmp_path / "worker_app.py").write_text(textwrap.dedent(WORKER_APP))
        log, barrier = tmp_path / "work.log", tmp_path / "barrier"
        barrier.mkdir()
        env = _env(DSN=postgres_dsn, TABLE=table, WORK_LOG=str(log), BARRIER=str(barrier))
        env["PYTHONPATH"] += os.pathsep + str(tmp_path)
        command = [
            sys.executable, "-c", "from hookreceiver.inbox.cli import worker; worker()",
            "--app", "worker_app:hooks", "--concurrency", "2", "--poll-interval", "0.05",
        ]  # fmt: skip
        workers = [subprocess.Popen(command, env=env, stderr=subprocess.PIPE) for _ in range(2)]
        try:
            wait_for(lambda: len(list(barrier.glob("ready-*"))) == 2, timeout=20, what="ready")
            (barrier / "go").touch()
            wait_for(lambda: len(box.list(states=["done"])) == 40, timeout=20, what="all done")
        finally:
            for process in workers:
                process.send_signal(signal.SIGTERM)
            codes = [process.wait(10) for process in workers]
            for process in workers:
                assert process.stderr is not None
                process.stderr.close()
        assert codes == [0, 0]  # SIGTERM stops them gracefully
        entries = box.list()
    finally:
        box.drop()
        box.close()

    runs = _intervals(log)
    assert len(runs) == 40
    assert all(len(each) == 1 for each in runs.values()), "a delivery was processed twice"
    assert len({pid for each in runs.values() for pid, _, _ in each}) == 2  # both took work
    assert [e.attempts for e in entries] == [1] * 40
