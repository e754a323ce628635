"""The fallback journal: a Kazoo delivery the inbox cannot take is appended to a local fsynced
file, answered 200, and drained into the inbox once it is back, each event handled once."""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from inbox_support import (
    KAZOO,
    KAZOO_HEADERS,
    kazoo_body,
    kazoo_delivery,
    kazoo_receiver,
    wait_for,
)

from hookreceiver import Delivery, DeliveryContext, Headers, Receiver, StoreUnavailable, providers
from hookreceiver.inbox import InboxState, InboxWorker, Journal, PostgresInbox, Retry, SQLiteInbox
from hookreceiver.inbox import journal as journal_module
from hookreceiver.inbox.keeping import REDACTED
from hookreceiver.security import URLSigner
from hookreceiver.stores import SQLiteStore
from support.servers import serve_asgi, serve_wsgi

AUTH = ("authorization", "Bearer not-for-the-journal")
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def away(tmp_path: Path) -> Path:
    """Where the inbox's file will be: its directory does not exist yet (the inbox is down)."""
    return tmp_path / "inbox-volume" / "inbox.db"


def journal_files(directory: Path) -> list[str]:
    """The files that still wait to be drained."""
    names = [p.name for p in directory.glob("*.journal")] if directory.exists() else []
    return sorted(n for n in names if not n.startswith("damaged-"))


def runs_of(hooks: Receiver) -> list[str]:
    runs: list[str] = []
    hooks.on("wirecloud.channel_destroy")(lambda event, ctx: runs.append(ctx.delivery_id))
    return runs


def test_inbox_down_kazoo_is_journaled_fsynced_answered_200_and_drained_once(
    tmp_path: Path, away: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    journal_dir = tmp_path / "journal"
    hooks = kazoo_receiver(SQLiteInbox(away), journal_dir=journal_dir)
    runs = runs_of(hooks)
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    with caplog.at_level(logging.WARNING, "hookreceiver"):
        response = hooks.handle(kazoo_delivery(extra=(AUTH,)))
    assert (response.status, json.loads(response.body)) == (200, {"status": "accepted"})
    assert runs == []  # not handled at once: it waits in the journal for the inbox
    current = journal_dir / "current.journal"
    assert str(current) in synced and str(journal_dir) in synced  # the record and its name
    (record,) = Journal(journal_dir).records()
    assert record.state is InboxState.PENDING and record.event_name == "wirecloud.channel_destroy"
    assert record.id in caplog.text and "kept in the journal" in caplog.text
    assert b"not-for-the-journal" not in current.read_bytes()  # as the inbox, no credential
    assert "authorization" not in dict(record.headers)

    away.parent.mkdir()  # the inbox is back
    worker = InboxWorker(hooks)
    assert worker.run_until_idle() == 1
    assert runs == [record.id]
    (entry,) = hooks.inbox.list()  # type: ignore[union-attr]
    assert (entry.id, entry.state) == (record.id, InboxState.DONE)
    assert journal_files(journal_dir) == [] and not Journal(journal_dir).pending()
    assert worker.run_until_idle() == 0 and runs == [record.id]


def test_a_crash_between_drain_and_delete_never_handles_twice(
    tmp_path: Path, away: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_dir = tmp_path / "journal"
    # keep_done=0: the handled row is deleted at once, so only the dedup store can tell.
    inbox = SQLiteInbox(away, keep_done=0)
    hooks = kazoo_receiver(inbox, journal_dir=journal_dir, store=SQLiteStore(tmp_path / "d.db"))
    runs = runs_of(hooks)
    body = kazoo_body()
    assert hooks.handle(kazoo_delivery(body)).status == 200
    away.parent.mkdir()

    def crash(path: str) -> None:
        raise KeyboardInterrupt("killed between the inbox write and the delete")

    monkeypatch.setattr(journal_module, "_remove", crash)
    worker = InboxWorker(hooks)
    with pytest.raises(KeyboardInterrupt):
        worker.drain_journal()
    assert len(journal_files(journal_dir)) == 1  # the draining file survived the "crash"
    (entry,) = inbox.list()
    assert entry.state is InboxState.PENDING
    # Drained again (and "killed" again): the inbox already holds that id, nothing is added.
    with pytest.raises(KeyboardInterrupt):
        worker.drain_journal()
    assert [e.id for e in inbox.list()] == [entry.id]
    monkeypatch.undo()
    assert worker.run_until_idle() == 1
    assert journal_files(journal_dir) == []
    assert runs == [entry.id] and inbox.list() == []  # handled and deleted (keep_done=0)

    # The file comes back (a crash after the handling, before the delete): drained again, the
    # row is new to the inbox, and the dedup store says the event is done.
    Journal(tmp_path / "copy").put(_record_of(hooks, body, entry.id))
    os.replace(tmp_path / "copy" / "current.journal", journal_dir / "current.journal")
    assert worker.run_until_idle() == 1
    assert runs == [entry.id]


def _record_of(hooks: Receiver, body: bytes, delivery_id: str) -> Any:
    from hookreceiver.core.routing import Route
    from hookreceiver.inbox.keeping import capture
    from hookreceiver.parsing.body import Body
    from hookreceiver.security.base import GuardRequest

    route = hooks.match(KAZOO)
    assert isinstance(route, Route)
    delivery = kazoo_delivery(body)
    event = route.endpoint.provider.parse(delivery, {}, Body(raw=body, content_type=FORM))
    request = GuardRequest(delivery, KAZOO, {}, "127.0.0.1")
    raw = Body(raw=body, content_type=FORM)
    return capture(request, route.endpoint, raw, delivery_id, 0.0, event=event)


def test_journal_unwritable_logs_the_dropped_delivery_at_error(
    tmp_path: Path, away: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the journal's directory should be")
    hooks = kazoo_receiver(SQLiteInbox(away), journal_dir=blocker / "journal")
    seen: list[str] = []

    @hooks.on("*")
    def down(event: Any, ctx: DeliveryContext) -> None:
        seen.append(ctx.delivery_id)
        raise ConnectionError("CRM down too")

    with caplog.at_level(logging.ERROR, "hookreceiver"):
        response = hooks.handle(kazoo_delivery())
    assert response.status == 200  # Kazoo: exactly 200, whatever happened
    (delivery_id,) = seen
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(f"journal unwritable for delivery {delivery_id}" in m for m in errors), errors
    assert any(f"delivery {delivery_id}" in m and "dropped" in m for m in errors), errors

    # An invalid payload nothing could keep: refused with its 4xx, and said dropped.
    caplog.clear()
    with caplog.at_level(logging.ERROR, "hookreceiver"):
        bad = hooks.handle(kazoo_delivery(kazoo_body(ringing_seconds="soon")))
    assert bad.status == 400
    assert "dropped: could not quarantine it" in caplog.text


def test_quarantine_without_an_inbox_goes_to_the_journal_and_later_into_an_inbox(
    tmp_path: Path,
) -> None:
    journal_dir = tmp_path / "journal"
    hooks = kazoo_receiver(None, journal_dir=journal_dir)
    response = hooks.handle(kazoo_delivery(kazoo_body(ringing_seconds="soon")))
    assert (response.status, json.loads(response.body)) == (200, {"status": "quarantined"})
    (record,) = Journal(journal_dir).records()
    assert record.state is InboxState.QUARANTINED and "ringing_seconds" in (record.last_error or "")
    # Without a journal either, nothing keeps it: the refusal's own 400.
    bare = kazoo_receiver(None)
    assert bare.handle(kazoo_delivery(kazoo_body(ringing_seconds="no"))).status == 400
    # Other providers never use the journal: their sender retries (and a 4xx is their answer).
    other = Receiver(journal_dir=journal_dir)
    other.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    invalid = b'{"hook": {"id": "1", "event": "fax_sent", "event_time": "x"}, "data": {}}'
    fax = Delivery(
        "POST",
        "/hooks/faxplus",
        headers=Headers([("content-type", "application/json")]),
        peer="127.0.0.1",
        body=invalid,
    )
    assert other.handle(fax).status == 400
    assert len(Journal(journal_dir).records()) == 1
    # Once an inbox is configured, the worker moves it there.
    later = kazoo_receiver(SQLiteInbox(tmp_path / "inbox.db"), journal_dir=journal_dir)
    assert InboxWorker(later).run_until_idle() == 0
    (entry,) = later.inbox.list()  # type: ignore[union-attr]
    assert (entry.id, entry.state) == (record.id, InboxState.QUARANTINED)


def test_a_signed_url_token_never_reaches_the_journal(tmp_path: Path, away: Path) -> None:
    signer = URLSigner(["k" * 32])
    hooks = Receiver(
        inbox=SQLiteInbox(away),
        worker=False,
        journal_dir=tmp_path / "j",
        public_base_url="https://hooks.example.com",
    )
    template = "/hooks/kazoo/{event}/{token}"
    hooks.endpoint(template, providers.Wirecloud(signed_urls=signer))
    url = hooks.callback_url(template, event="channel_destroy")
    path = url.removeprefix("https://hooks.example.com")
    token = path.rsplit("/", 1)[1]
    delivery = Delivery(
        "POST", path, headers=Headers(KAZOO_HEADERS), peer="127.0.0.1", body=kazoo_body()
    )
    assert hooks.handle(delivery).status == 200
    (record,) = Journal(tmp_path / "j").records()
    assert token not in (tmp_path / "j" / "current.journal").read_bytes().decode("latin-1")
    assert record.params["token"] == REDACTED and record.path.endswith("/" + REDACTED)


def test_concurrent_appends_and_a_torn_tail(tmp_path: Path, away: Path) -> None:
    hooks = kazoo_receiver(SQLiteInbox(away), journal_dir=tmp_path / "j")

    def send(n: int) -> None:
        for i in range(15):
            assert hooks.handle(kazoo_delivery(kazoo_body(call_id=f"t{n}-{i}"))).status == 200

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    journal = Journal(tmp_path / "j")
    assert len(journal.records()) == 90
    # A crash in the middle of an append leaves a torn frame: it is skipped, the rest is kept.
    current = tmp_path / "j" / "current.journal"
    whole = current.read_bytes()
    current.write_bytes(whole + whole[:500])
    assert len(journal.records()) == 90
    journal.put(journal.records()[0].__class__(**{**_fields(journal.records()[0]), "id": "x"}))
    assert [r.id for r in journal.records()][-1] == "x"
    # Drained: every readable record moves; the file is kept aside, not deleted.
    away.parent.mkdir()
    assert InboxWorker(hooks).drain_journal() == 91
    assert journal_files(tmp_path / "j") == []
    (aside,) = (tmp_path / "j").glob("damaged-draining-*.journal")
    assert aside.stat().st_size > 0 and not journal.pending()


def test_records_see_every_record_while_a_drain_rotates_the_current_file(
    tmp_path: Path, away: Path
) -> None:
    hooks = kazoo_receiver(SQLiteInbox(away), journal_dir=tmp_path / "j")
    for i in range(3):
        assert hooks.handle(kazoo_delivery(kazoo_body(call_id=f"r{i}"))).status == 200
    journal = Journal(tmp_path / "j")
    journal._rotate()  # one record set aside as a drain would, then two more in the current
    for i in range(3, 5):
        assert hooks.handle(kazoo_delivery(kazoo_body(call_id=f"r{i}"))).status == 200
    listed = journal._draining_files
    rotated = threading.Event()

    def listing_then_a_rotation() -> list[str]:
        # A drain in another thread rotates the current file right after the listing.
        found = listed()
        rotating = threading.Thread(target=lambda: (journal._rotate(), rotated.set()))
        rotating.start()
        rotated.wait(0.3)  # with the journal's lock held, the rotation waits for records()
        return found

    journal._draining_files = listing_then_a_rotation  # type: ignore[method-assign]
    assert len(journal.records()) == 5
    journal._draining_files = listed  # type: ignore[method-assign]
    assert rotated.wait(5) and len(journal.records()) == 5


def _fields(record: Any) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def test_start_up_warns_when_a_never_retrying_sender_has_an_inbox_but_no_journal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "hookreceiver"):
        kazoo_receiver(SQLiteInbox(tmp_path / "a.db"))
    assert "pass Receiver(journal_dir=...)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, "hookreceiver"):
        kazoo_receiver(SQLiteInbox(tmp_path / "b.db"), journal_dir=tmp_path / "j")
        Receiver(inbox=SQLiteInbox(tmp_path / "c.db")).endpoint(
            "/fp", providers.FaxPlus(allow_ips=["127.0.0.1"])
        )
    assert "journal" not in caplog.text


# Over HTTP, with the in-process worker ------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("server", ["asgi", "wsgi"])
def test_over_http_an_inbox_outage_loses_nothing(tmp_path: Path, away: Path, server: str) -> None:
    fast = Retry(first_delay=0.05, factor=1.0)
    hooks = kazoo_receiver(
        SQLiteInbox(away, retry=fast, synchronous="NORMAL"),
        journal_dir=tmp_path / "journal",
        worker={"poll_interval": 0.05},
    )
    runs = runs_of(hooks)
    serve = serve_asgi(hooks.asgi_app) if server == "asgi" else serve_wsgi(hooks.wsgi_app)
    try:
        with serve as base:
            for n in range(3):
                response = httpx.post(
                    base + KAZOO,
                    content=kazoo_body(call_id=f"h{n}"),
                    headers=dict(KAZOO_HEADERS),
                    timeout=10,
                )
                assert (response.status_code, response.json()) == (200, {"status": "accepted"})
            assert runs == [] and len(Journal(tmp_path / "journal").records()) == 3
            away.parent.mkdir()  # the inbox comes back: the worker's loop drains the journal
            wait_for(lambda: len(runs) == 3, timeout=20, what="the journaled deliveries handled")
    finally:
        hooks.stop_worker()
    assert len(set(runs)) == 3
    assert journal_files(tmp_path / "journal") == []


@pytest.fixture
def pg_proxy(postgres_dsn: str) -> Iterator[Any]:
    from psycopg.conninfo import conninfo_to_dict

    from stores.store_kit import TcpProxy

    params = conninfo_to_dict(postgres_dsn)
    proxy = TcpProxy((str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)))
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.mark.slow
def test_postgres_inbox_cut_then_back_drains_the_journal(
    postgres_dsn: str, pg_proxy: Any, tmp_path: Path
) -> None:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(postgres_dsn)
    params.update(host="127.0.0.1", port=str(pg_proxy.port))
    table = f"hr_journal_{secrets.token_hex(4)}"
    inbox = PostgresInbox(make_conninfo("", **params), table=table, connect_timeout=1)
    hooks = kazoo_receiver(inbox, journal_dir=tmp_path / "journal")
    runs = runs_of(hooks)
    try:
        assert hooks.handle(kazoo_delivery()).status == 200  # the table exists, the inbox works
        pg_proxy.stop()
        inbox.close()
        body = kazoo_body(call_id="during-outage")
        assert hooks.handle(kazoo_delivery(body)).status == 200
        assert len(Journal(tmp_path / "journal").records()) == 1 and len(runs) == 0
        worker = InboxWorker(hooks)
        with pytest.raises(StoreUnavailable):  # still down
            worker.run_until_idle()
        pg_proxy.start()
        assert worker.run_until_idle() == 2
        assert len(runs) == 2 and journal_files(tmp_path / "journal") == []
        assert sorted(e.state.value for e in inbox.list()) == ["done", "done"]
    finally:
        if pg_proxy._listener is None:
            pg_proxy.start()
        inbox.drop()
        inbox.close()


def test_task_queue_sweep_drains_the_journal_and_sends_what_it_moved(
    tmp_path: Path, away: Path
) -> None:
    from hookreceiver.inbox import TaskQueue

    hooks = kazoo_receiver(SQLiteInbox(away), journal_dir=tmp_path / "j")
    runs = runs_of(hooks)
    sent: list[str] = []
    queue = TaskQueue(hooks, lambda record_id, delay: sent.append(record_id))
    assert hooks.handle(kazoo_delivery()).status == 200
    assert sent == [] and runs == []
    away.parent.mkdir()
    queue.sweep()
    (record_id,) = sent
    assert queue.process_one(record_id) is InboxState.DONE
    assert runs == [record_id]


APP = """
from hookreceiver import Receiver, providers
from hookreceiver.inbox import SQLiteInbox

HANDLED = []
hooks = Receiver(inbox=SQLiteInbox(DB), worker=False, journal_dir=JOURNAL)
hooks.endpoint("/hooks/kazoo", providers.Wirecloud(allow_ips=["127.0.0.1"]))

@hooks.on("wirecloud.channel_destroy")
def handle(event, ctx):
    HANDLED.append(ctx.delivery_id)
"""


def test_hookreceiver_worker_drains_the_journal(
    tmp_path: Path, away: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib
    import sys

    from click.testing import CliRunner

    from hookreceiver.inbox.cli import worker

    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.chdir(tmp_path)
    name = f"journal_app_{secrets.token_hex(4)}"
    header = f"DB = {str(away)!r}\nJOURNAL = {str(tmp_path / 'j')!r}\n"
    (tmp_path / f"{name}.py").write_text(header + APP)
    module = importlib.import_module(name)
    assert module.hooks.handle(kazoo_delivery()).status == 200
    assert module.HANDLED == []
    away.parent.mkdir()
    result = CliRunner().invoke(worker, ["--app", f"{name}:hooks", "--once"])
    assert result.exit_code == 0, result.output
    assert "processed 1" in result.output
    (delivery_id,) = module.HANDLED
    assert [e.id for e in module.hooks.inbox.list()] == [delivery_id]


WRITER = """
import sys
from hookreceiver.inbox import Journal
from hookreceiver.inbox.records import InboxRecord, InboxState

journal = Journal(sys.argv[1])
for i in range(int(sys.argv[3])):
    journal.put(InboxRecord(
        id=f"{sys.argv[2]}-{i}", state=InboxState.QUARANTINED, endpoint="/hooks/kazoo",
        provider="wirecloud", event_name=None, key=None, received_at=0.0, updated_at=0.0,
        attempts=0, next_attempt_at=0.0, last_error="x", size=3, body=b"a=1",
    ))
"""


@pytest.mark.slow
def test_processes_append_while_another_drains_and_nothing_is_lost_or_doubled(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    directory = tmp_path / "j"
    writers = [
        subprocess.Popen([sys.executable, str(script), str(directory), f"p{n}", "60"])
        for n in range(4)
    ]
    inbox = SQLiteInbox(tmp_path / "inbox.db", synchronous="NORMAL")
    journal = Journal(directory)
    while any(w.poll() is None for w in writers):
        journal.drain(inbox)
    assert [w.returncode for w in writers] == [0, 0, 0, 0]
    journal.drain(inbox)
    ids = [e.id for e in inbox.list(limit=None)]
    assert len(ids) == len(set(ids)) == 240
    assert journal_files(directory) == [] and not list(directory.glob("damaged-*"))
    inbox.close()


def test_a_journal_that_cannot_be_drained_never_stops_the_inbox_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hooks = kazoo_receiver(SQLiteInbox(tmp_path / "inbox.db"), journal_dir=tmp_path / "j")
    runs = runs_of(hooks)
    assert hooks.handle(kazoo_delivery()).status == 200  # the inbox is up: stored there

    def broken(self: Journal, inbox: Any) -> int:
        raise PermissionError("journal directory unreadable")

    monkeypatch.setattr(Journal, "drain", broken)
    with caplog.at_level(logging.ERROR, "hookreceiver"):
        assert InboxWorker(hooks).run_until_idle() == 1
    assert len(runs) == 1
    assert "could not drain the journal" in caplog.text


def test_after_an_inbox_failure_deliveries_go_straight_to_the_journal_until_it_is_back(
    tmp_path: Path, away: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = SQLiteInbox(away)
    hooks = kazoo_receiver(inbox, journal_dir=tmp_path / "j")
    tries: list[str] = []
    real_keep = SQLiteInbox.keep

    def counted(self: SQLiteInbox, *args: Any, **kwargs: Any) -> Any:
        tries.append(args[3])
        return real_keep(self, *args, **kwargs)

    monkeypatch.setattr(SQLiteInbox, "keep", counted)
    for n in range(4):  # a database that hangs would cost its timeout on each of these
        assert hooks.handle(kazoo_delivery(kazoo_body(call_id=f"b{n}"))).status == 200
    assert len(tries) == 1 and len(Journal(tmp_path / "j").records()) == 4
    away.parent.mkdir()
    assert InboxWorker(hooks).run_until_idle() == 4  # drained: the inbox is known to be back
    assert hooks.handle(kazoo_delivery(kazoo_body(call_id="b-after"))).status == 200
    assert len(tries) == 2 and Journal(tmp_path / "j").records() == []
    assert [e.state.value for e in inbox.list()].count("pending") == 1
