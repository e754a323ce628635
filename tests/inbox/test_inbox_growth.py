"""The inbox's costs stay flat as it grows: take is one index step, purge goes in short
batches that never hold up a put, and attachments are stored a chunk at a time (SQLite and a
real PostgreSQL)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from inbox_support import FakeClock
from test_inbox_storage import record

from hookreceiver.inbox import Inbox, InboxState, PostgresInbox, SQLiteInbox, StoredFile
from hookreceiver.inbox._sql import insert_params
from hookreceiver.inbox.cli import inbox as inbox_cli
from hookreceiver.inbox.cli import parse_duration

PENDING = 10_000
MiB = 1024 * 1024


def _bulk_insert(box: Inbox, rows: list[tuple[Any, ...]]) -> None:
    """Rows straight into the table (10,000 puts would each wait for an fsync)."""
    sql = box._sql  # type: ignore[attr-defined]
    box.list(limit=1)  # creates the table
    if isinstance(box, SQLiteInbox):
        with sqlite3.connect(box.path) as conn:
            conn.executemany(sql.insert, rows)
        return
    import psycopg

    assert isinstance(box, PostgresInbox)
    with psycopg.connect(box.dsn, autocommit=True) as conn:
        with conn.cursor() as cursor:
            cursor.executemany(sql.insert, rows)


def _pending_rows(count: int, at: float, prefix: str = "p") -> list[tuple[Any, ...]]:
    rows = []
    for i in range(count):
        item = record(f"{prefix}{i:06d}", at=at - count + i)  # the oldest first
        rows.append(insert_params(item))
    return rows


def _plan(box: Inbox, sql: str, params: tuple[Any, ...]) -> str:
    if isinstance(box, SQLiteInbox):
        with sqlite3.connect(box.path) as conn:
            rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
        return "\n".join(str(row[-1]) for row in rows)
    import psycopg

    assert isinstance(box, PostgresInbox)
    with psycopg.connect(box.dsn, autocommit=True) as conn:
        found = conn.execute(f"EXPLAIN {sql}", params).fetchall()
    return "\n".join(row[0] for row in found)


def test_take_is_one_index_step_at_10k_pending(inbox: Inbox, clock: FakeClock) -> None:
    _bulk_insert(inbox, _pending_rows(PENDING, clock()))
    sql, params = inbox._sql.take(clock(), "w", 60, None, False)  # type: ignore[attr-defined]
    plan = _plan(inbox, sql, params)
    table = inbox._sql.table  # type: ignore[attr-defined]
    # The partial index in next_attempt_at order, read up to the first row: no sort.
    assert f"{table}_due_at" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
    assert "Seq Scan" not in plan and "SCAN " + table not in plan, plan
    taken = inbox.take("w")
    assert taken is not None and taken.id == "p000000"  # still the one due first


def _indexes(box: Inbox) -> set[str]:
    table = box._sql.table  # type: ignore[attr-defined]
    if isinstance(box, SQLiteInbox):
        with sqlite3.connect(box.path) as conn:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,)
            ).fetchall()
        return {row[0] for row in rows}
    import psycopg

    assert isinstance(box, PostgresInbox)
    with psycopg.connect(box.dsn) as conn:
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (table,))
        return {row[0] for row in rows.fetchall()}


def test_an_existing_inbox_gets_the_new_indexes_on_open(inbox: Inbox, clock: FakeClock) -> None:
    table = inbox._sql.table  # type: ignore[attr-defined]
    inbox.put(record("before", at=clock()))
    # The layout of before: the (state, next_attempt_at) index, and no chunks table.
    if isinstance(inbox, SQLiteInbox):
        with sqlite3.connect(inbox.path) as conn:
            conn.execute(f"DROP INDEX {table}_due_at")
            conn.execute(f"DROP INDEX {table}_state_updated")
            conn.execute(f"DROP TABLE {table}_parts")
            conn.execute(f"CREATE INDEX {table}_due ON {table} (state, next_attempt_at)")
        inbox.close()
        reopened: Inbox = SQLiteInbox(inbox.path, table=table, clock=clock)
    else:
        import psycopg

        assert isinstance(inbox, PostgresInbox)
        with psycopg.connect(inbox.dsn, autocommit=True) as conn:
            conn.execute(f"DROP INDEX {table}_due_at, {table}_state_updated")
            conn.execute(f"DROP TABLE {table}_parts")
            conn.execute(f"CREATE INDEX {table}_due ON {table} (state, next_attempt_at)")
        inbox.close()
        reopened = PostgresInbox(inbox.dsn, table=table, clock=clock)
    try:
        assert reopened.get("before") is not None
        found = _indexes(reopened)
        assert {f"{table}_due_at", f"{table}_state_updated"} <= found
        assert f"{table}_due" not in found
        with_file = record("after", at=clock())
        with_file.files = (StoredFile("attachment", "a.pdf", "application/pdf", b"%PDF" * 9),)
        reopened.put(with_file)  # the chunks table is there
        assert reopened.get("after") == with_file
    finally:
        reopened.close()


def _parts(box: Inbox) -> int:
    table = box._sql.table  # type: ignore[attr-defined]
    if isinstance(box, SQLiteInbox):
        with sqlite3.connect(box.path) as conn:
            count: int = conn.execute(f"SELECT count(*) FROM {table}_parts").fetchone()[0]
        return count
    import psycopg

    assert isinstance(box, PostgresInbox)
    with psycopg.connect(box.dsn) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}_parts").fetchone()
        assert row is not None
        return int(row[0])


def _fax(record_id: str, at: float, size: int) -> Any:
    item = record(record_id, at=at)
    item.body = b""
    item.content_type = "multipart/form-data"
    pattern = bytes(range(256)) * (size // 256 + 1)
    item.files = (StoredFile("attachment", "fax.pdf", "application/pdf", pattern[:size]),)
    item.size = size
    return item


def test_an_attachment_is_stored_in_chunks_and_read_back_whole(
    inbox: Inbox, clock: FakeClock
) -> None:
    fax = _fax("fax", clock(), 2 * MiB + 5)
    inbox.put(fax)
    assert _parts(inbox) == 3  # 1 MiB, 1 MiB, 5 bytes
    back = inbox.get("fax")
    assert back is not None and back.files[0].size == 2 * MiB + 5
    assert max(len(chunk) for chunk in back.files[0].chunks()) == MiB
    body = back.to_body()
    try:
        (attachment,) = body.files
        assert not attachment.in_memory  # spooled to disk on its way to the handlers
        assert attachment.read() == fax.files[0].data
    finally:
        body.close()
    assert inbox.put_new(_fax("fax", clock(), 10)) is False  # its chunks are left alone
    assert _parts(inbox) == 3


def test_purge_and_a_handled_delete_take_the_chunks_along(
    tmp_path: Path, inbox: Inbox, clock: FakeClock
) -> None:
    for name in ("a", "b", "pending"):
        inbox.put(_fax(name, clock(), MiB + 1))
    for name in ("a", "b"):
        taken = inbox.take_id("w", name)
        assert taken is not None and inbox.finish(name, "w", InboxState.DONE)
    assert _parts(inbox) == 6
    clock.advance(100)
    assert inbox.purge(older_than=50) == 2
    assert _parts(inbox) == 2 and inbox.get("pending") is not None
    inbox.keep_done = 0  # a handled delivery goes at once, with its chunks
    assert inbox.take_id("w", "pending") is not None
    assert inbox.finish("pending", "w", InboxState.DONE)
    assert _parts(inbox) == 0 and inbox.get("pending") is None


def test_purge_goes_in_batches_of_a_thousand(inbox: Inbox, clock: FakeClock) -> None:
    rows = []
    for i in range(2_500):
        item = record(f"d{i:05d}", at=clock() - 1000, state=InboxState.DONE)
        rows.append(insert_params(item))
    _bulk_insert(inbox, rows)
    _bulk_insert(inbox, _pending_rows(10, clock() - 1000))
    batches: list[float] = []
    inbox._between_batches = batches.append  # type: ignore[attr-defined]
    assert inbox.purge(older_than=10) == 2_500
    assert len(batches) == 2  # 1,000 + 1,000, then 500: the last batch ends it
    assert len(inbox.list(limit=None)) == 10  # pending deliveries are never purged


def test_a_put_is_never_held_up_by_a_large_sqlite_purge(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    purger = SQLiteInbox(path, synchronous="NORMAL")
    old = time.time() - 86400 * 60
    rows = [
        insert_params(record(f"old{i:06d}", at=old, state=InboxState.DONE)) for i in range(200_000)
    ]
    _bulk_insert(purger, rows)
    del rows
    writer = SQLiteInbox(path, synchronous="NORMAL")  # another connection, as another process
    waits: list[float] = []
    result: list[int] = []
    purge = threading.Thread(target=lambda: result.append(purger.purge(older_than=86400 * 30)))
    purge.start()
    count = 0
    while purge.is_alive():
        started = time.perf_counter()
        writer.put(record(f"new{count}", at=time.time()))
        waits.append(time.perf_counter() - started)
        count += 1
    purge.join()
    assert result == [200_000]
    assert count >= 5, "the purge ended before the puts could meet it"
    # One unbatched DELETE held SQLite's write lock (and every put) for the whole purge.
    print(f"{count} puts, slowest {max(waits):.3f} s, median {sorted(waits)[count // 2]:.4f} s")
    assert max(waits) < 0.5, sorted(waits)[-5:]
    assert len(writer.list(limit=None)) == count
    purger.close()
    writer.close()


def test_inbox_purge_command(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    box = SQLiteInbox(path)
    now = time.time()
    for name, age, state in [
        ("done-old", 40, InboxState.DONE),
        ("done-new", 10, InboxState.DONE),
        ("failed-old", 40, InboxState.FAILED),
        ("pending-old", 40, InboxState.PENDING),
    ]:
        box.put(record(name, at=now - age * 86400, state=state))
    url = f"sqlite:///{path}"
    purged = CliRunner().invoke(inbox_cli, ["--inbox", url, "purge", "--older-than", "30d"])
    assert (purged.exit_code, purged.output.strip()) == (0, "purged 1 delivery")
    failed = CliRunner().invoke(
        inbox_cli, ["--inbox", url, "purge", "--older-than", "720h", "--state", "failed"]
    )
    assert failed.output.strip() == "purged 1 delivery"
    assert {e.id for e in box.list(limit=None)} == {"done-new", "pending-old"}
    bad = CliRunner().invoke(inbox_cli, ["--inbox", url, "purge", "--older-than", "soon"])
    assert bad.exit_code == 2 and "not a duration" in bad.output
    pending = CliRunner().invoke(
        inbox_cli, ["--inbox", url, "purge", "--older-than", "1d", "--state", "pending"]
    )
    assert pending.exit_code == 2  # pending deliveries are never purged
    box.close()


_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "": 1}


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(sorted(_UNIT)))
def test_parse_duration_reads_a_number_and_a_unit(number: int, unit: str) -> None:
    assert parse_duration(f"{number}{unit}") == number * _UNIT[unit]
    assert parse_duration(f" {number}{unit.upper()} ") == number * _UNIT[unit]


@given(st.text(max_size=12))
def test_parse_duration_refuses_what_is_no_duration(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        assert "not a duration" in str(exc)
    else:
        assert seconds >= 0 and seconds != float("inf")
        json.dumps(seconds)
