"""The storage contract, on SQLite and on a real PostgreSQL: writes, leases, listing, upkeep."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from inbox_support import FakeClock

from hookreceiver import StoreUnavailable
from hookreceiver.inbox import Inbox, InboxRecord, InboxState, SQLiteInbox, StoredFile


def record(
    record_id: str,
    *,
    at: float,
    provider: str = "wirecloud",
    event: str | None = "wirecloud.channel_destroy",
    state: InboxState = InboxState.PENDING,
) -> InboxRecord:
    body = b"hook_event=channel_destroy&call_id=" + record_id.encode()
    return InboxRecord(
        id=record_id,
        state=state,
        endpoint="/hooks/kazoo",
        provider=provider,
        event_name=event,
        key=None if event is None else f"{event}:{record_id}",
        received_at=at,
        updated_at=at,
        attempts=0,
        next_attempt_at=at,
        last_error=None if state is InboxState.PENDING else "invalid_payload: field 'x'",
        size=len(body),
        path="/hooks/kazoo",
        headers=(("content-type", "application/x-www-form-urlencoded"), ("x-hook-id", "h")),
        client="127.0.0.1",
        content_type="application/x-www-form-urlencoded",
        body=body,
    )


def test_a_record_comes_back_whole_files_and_all(inbox: Inbox, clock: FakeClock) -> None:
    original = record("r1", at=clock())
    original.body = b""
    original.content_type = "multipart/form-data"
    original.fields = {"data": '{"messageId": "m1"}'}
    original.files = (
        StoredFile("attachment", "fax.pdf", "application/pdf", b"%PDF-1.4\x00\xff" * 1000),
        StoredFile("extra", None, "application/octet-stream", b""),
    )
    original.signed = {"fax_job": 42}
    original.query = "a=1&b=%20"
    inbox.put(original)

    back = inbox.get("r1")
    assert back == original
    body = back.to_body()
    try:
        assert [a.read() for a in body.files] == [f.data for f in original.files]
        assert body.fields == {"data": '{"messageId": "m1"}'}
    finally:
        body.close()
    assert inbox.get("missing") is None


def test_take_leases_the_due_delivery_first_to_one_worker(inbox: Inbox, clock: FakeClock) -> None:
    inbox.put(record("late", at=clock() + 5))
    inbox.put(record("early", at=clock()))
    taken = inbox.take("worker-a")
    assert taken is not None and taken.id == "early"
    assert (taken.state, taken.attempts, taken.lock_token) == (InboxState.PROCESSING, 1, "worker-a")
    assert inbox.take("worker-b") is None  # "late" is not due, "early" is leased

    clock.advance(5)
    assert inbox.take("worker-b").id == "late"  # type: ignore[union-attr]


def test_a_dead_workers_lease_expires_and_its_finish_is_refused(
    inbox: Inbox, clock: FakeClock
) -> None:
    inbox.put(record("r1", at=clock()))
    assert inbox.take("dead") is not None
    clock.advance(inbox.lease - 1)
    assert inbox.take("other") is None
    clock.advance(2)
    again = inbox.take("other")
    assert again is not None and again.attempts == 2
    assert not inbox.finish("r1", "dead", InboxState.DONE)  # the dead worker lost it
    assert inbox.finish("r1", "other", InboxState.DONE)
    assert inbox.get("r1").state is InboxState.DONE  # type: ignore[union-attr]


def test_finish_pending_schedules_the_retry(inbox: Inbox, clock: FakeClock) -> None:
    inbox.put(record("r1", at=clock()))
    inbox.take("w")
    assert inbox.finish("r1", "w", InboxState.PENDING, error="RuntimeError: boom", retry_in=8)
    entry = inbox.list()[0]
    assert (entry.state, entry.last_error, entry.attempts) == (
        InboxState.PENDING,
        "RuntimeError: boom",
        1,
    )
    assert entry.next_attempt_at == clock() + 8
    clock.advance(7.9)
    assert inbox.take("w") is None
    clock.advance(0.1)
    assert inbox.take("w") is not None


def test_take_id_replays_any_state_but_never_a_live_lease(inbox: Inbox, clock: FakeClock) -> None:
    inbox.put(record("q", at=clock(), state=InboxState.QUARANTINED))
    inbox.put(record("p", at=clock() + 100))
    assert inbox.take_id("w", "q") is None  # not due: a queue task would skip it
    replayed = inbox.take_id("w", "q", replay=True)
    assert replayed is not None and replayed.attempts == 1
    assert inbox.take_id("x", "q", replay=True) is None  # leased to w
    assert inbox.take_id("x", "p") is None  # pending but not due yet
    assert inbox.take_id("x", "nope", replay=True) is None


def test_list_filters_by_state_provider_and_event(inbox: Inbox, clock: FakeClock) -> None:
    inbox.put(record("a", at=clock()))
    inbox.put(record("b", at=clock() + 1, event="wirecloud.channel_create"))
    inbox.put(record("c", at=clock() + 2, provider="documo", event="documo.fax.inbound"))
    inbox.put(record("d", at=clock() + 3, event=None, state=InboxState.QUARANTINED))

    def ids(**filters: object) -> list[str]:
        return [e.id for e in inbox.list(**filters)]  # type: ignore[arg-type]

    assert ids() == ["a", "b", "c", "d"]
    assert ids(states=["quarantined"]) == ["d"]
    assert ids(states=[InboxState.PENDING], provider="wirecloud") == ["a", "b"]
    assert ids(event="wirecloud.channel_*") == ["a", "b"]
    assert ids(event="documo.fax.inbound") == ["c"]
    assert ids(limit=2) == ["a", "b"]
    assert ids(states=[]) == []
    entry = inbox.list(states=["quarantined"])[0]
    assert entry.last_error == "invalid_payload: field 'x'" and entry.size > 0


def test_requeue_resets_attempts_and_spares_live_leases(inbox: Inbox, clock: FakeClock) -> None:
    inbox.put(record("f", at=clock(), state=InboxState.FAILED))
    inbox.put(record("held", at=clock()))
    inbox.take_id("w", "held")
    assert inbox.requeue(["f", "held", "missing"]) == 1
    entry = {e.id: e for e in inbox.list()}["f"]
    assert (entry.state, entry.attempts) == (InboxState.PENDING, 0)
    assert inbox.take("w2").id == "f"  # type: ignore[union-attr]


def test_purge_deletes_old_handled_deliveries_only(inbox: Inbox, clock: FakeClock) -> None:
    for name in ("old", "new"):
        inbox.put(record(name, at=clock()))
        inbox.take_id("w", name)
        inbox.finish(name, "w", InboxState.DONE)
        clock.advance(100)
    inbox.put(record("stuck", at=clock(), state=InboxState.FAILED))
    clock.advance(100)
    assert inbox.purge(older_than=250) == 1  # "old" was handled 300 s ago, "new" 200 s
    assert sorted(e.id for e in inbox.list()) == ["new", "stuck"]


def test_keep_done_zero_deletes_a_handled_delivery(tmp_path: Path, clock: FakeClock) -> None:
    box = SQLiteInbox(tmp_path / "i.db", keep_done=0, clock=clock)
    box.put(record("r", at=clock()))
    box.take("w")
    assert box.finish("r", "w", InboxState.DONE)
    assert box.get("r") is None


def test_concurrent_takers_never_get_the_same_delivery(inbox: Inbox, clock: FakeClock) -> None:
    for n in range(40):
        inbox.put(record(f"r{n:02d}", at=clock()))
    taken: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def take_all(name: str) -> None:
        start.wait()
        while (got := inbox.take(name)) is not None:
            with lock:
                taken.append(got.id)

    threads = [threading.Thread(target=take_all, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(taken) == [f"r{n:02d}" for n in range(40)]


def test_subscribers_hear_of_pending_deliveries_only(inbox: Inbox, clock: FakeClock) -> None:
    heard: list[str] = []
    stop = inbox.subscribe(heard.append)
    inbox.subscribe(lambda _id: 1 / 0)  # a broken listener is logged, never fatal
    inbox.put(record("p", at=clock()))
    inbox.put(record("q", at=clock(), state=InboxState.QUARANTINED))
    stop()
    inbox.put(record("later", at=clock()))
    assert heard == ["p"]


def test_an_unreachable_inbox_is_unavailable(tmp_path: Path, clock: FakeClock) -> None:
    box = SQLiteInbox(tmp_path / "no-such-dir" / "inbox.db", clock=clock)
    with pytest.raises(StoreUnavailable):
        box.put(record("r", at=clock()))


def test_an_unreachable_postgres_is_unavailable(clock: FakeClock) -> None:
    from hookreceiver.inbox import PostgresInbox
    from support.servers import free_port

    box = PostgresInbox(f"postgresql://postgres@127.0.0.1:{free_port()}/x", connect_timeout=1)
    with pytest.raises(StoreUnavailable):
        box.list()


def test_bad_table_names_and_memory_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SQLiteInbox(tmp_path / "i.db", table="x; DROP TABLE y")
    with pytest.raises(ValueError):
        SQLiteInbox(":memory:")
