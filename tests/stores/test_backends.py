"""What each store does beyond the shared contract: bounds, clean-up, schema, expiry, errors."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from store_kit import FakeClock, drop_backend

from hookreceiver import StoreUnavailable
from hookreceiver.stores import ClaimState, MemoryStore, SQLiteStore

# Memory ----------------------------------------------------------------------------------------


def test_memory_store_is_bounded_and_drops_oldest_done_keys_first() -> None:
    clock = FakeClock()
    store = MemoryStore(max_keys=3, clock=clock)
    held = store.claim("held", 60)
    for key in ("a", "b"):
        claim = store.claim(key, 60)
        assert claim.token is not None
        store.complete(key, claim.token, 3600)
    assert store.claim("c", 60).state is ClaimState.NEW
    assert len(store) == 3
    assert store.claim("a", 60).state is ClaimState.NEW  # the oldest done key made room
    assert store.claim("held", 60).state is ClaimState.IN_FLIGHT  # a live claim never goes
    assert held.token is not None and store.complete("held", held.token, 60)


def test_memory_store_sweeps_expired_keys_before_dropping_live_ones() -> None:
    clock = FakeClock()
    store = MemoryStore(max_keys=2, clock=clock)
    store.claim("short", 1)
    done = store.claim("kept", 60)
    assert done.token is not None
    store.complete("kept", done.token, 3600)
    clock.advance(2)
    assert store.claim("new", 60).state is ClaimState.NEW
    assert store.claim("kept", 60).state is ClaimState.DONE


# SQLite ----------------------------------------------------------------------------------------


def _rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        count: int = conn.execute("SELECT count(*) FROM hookreceiver_claims").fetchone()[0]
    return count


def test_sqlite_store_uses_wal_and_refuses_memory_databases(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.db")
    store.claim("k", 1)
    store.close()
    with sqlite3.connect(tmp_path / "c.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(ValueError, match="MemoryStore"):
        SQLiteStore(":memory:")


def test_sqlite_store_cleans_expired_keys_as_it_claims(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "c.db"
    store = SQLiteStore(path, clock=clock, cleanup_every=10, cleanup_batch=100)
    for i in range(5):
        claim = store.claim(f"done{i}", 60)
        assert claim.token is not None
        store.complete(f"done{i}", claim.token, 100)
    for i in range(4):
        store.claim(f"dead{i}", 1)
    assert _rows(path) == 9
    clock.advance(50)  # the dead workers' leases are over; the retention is not
    store.claim("trigger", 60)  # the tenth claim cleans up
    assert _rows(path) == 6
    clock.advance(100)
    assert store.cleanup() == 6
    assert _rows(path) == 0
    store.close()


def test_sqlite_store_key_released_between_its_upsert_and_its_read_is_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hookreceiver.stores.sqlite as sqlite_module

    theirs = SQLiteStore(tmp_path / "c.db")
    held = theirs.claim("k", 60)  # another process is handling "k"
    assert held.token is not None
    real_connect = sqlite_module.connect

    class ReleasesBeforeTheRead:
        """A connection on which the other process gives "k" up just before we read it."""

        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def execute(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Cursor:
            if sql == sqlite_module._READ:
                assert held.token is not None
                assert theirs.release("k", held.token)
            return self.conn.execute(sql, params)

        def close(self) -> None:
            self.conn.close()

    monkeypatch.setattr(
        sqlite_module, "connect", lambda *a, **k: ReleasesBeforeTheRead(real_connect(*a, **k))
    )
    mine = SQLiteStore(tmp_path / "c.db")
    # The upsert found a live row; the read then finds none: "in flight" makes the sender retry.
    assert mine.claim("k", 60).state is ClaimState.IN_FLIGHT
    monkeypatch.setattr(sqlite_module, "connect", real_connect)
    mine.close()
    assert SQLiteStore(tmp_path / "c.db").claim("k", 60).state is ClaimState.NEW  # the retry
    theirs.close()


def test_sqlite_store_unreachable_file_is_unavailable(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "missing-dir" / "c.db")
    with pytest.raises(StoreUnavailable, match="SQLite"):
        store.claim("k", 1)
    with pytest.raises(StoreUnavailable):
        asyncio.run(store.aclaim("k", 1))


def test_sqlite_store_locked_beyond_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    store = SQLiteStore(path, busy_timeout=0.2)
    store.claim("warm", 1)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(StoreUnavailable, match="locked"):
            store.claim("k", 1)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.claim("k", 1).state is ClaimState.NEW
    store.close()


# Redis -----------------------------------------------------------------------------------------


def test_redis_store_keys_carry_server_side_expiry(redis_url: str, namespace: str) -> None:
    import redis

    from hookreceiver.stores import RedisStore

    prefix = f"{namespace}:"
    store = RedisStore(redis_url, prefix=prefix)
    raw = redis.Redis.from_url(redis_url)
    try:
        claim = store.claim("fax:1", 30)
        assert claim.token is not None
        assert 0 < raw.pttl(prefix + "fax:1") <= 30_000
        store.complete("fax:1", claim.token, 3600)
        assert 30_000 < raw.pttl(prefix + "fax:1") <= 3_600_000
        assert raw.get(prefix + "fax:1") == f"d{claim.token}".encode()
    finally:
        store.close()
        raw.close()
        drop_backend({"kind": "redis", "url": redis_url, "prefix": prefix})


def test_redis_store_uses_given_clients_and_leaves_them_open(
    redis_url: str, namespace: str
) -> None:
    import redis
    import redis.asyncio

    from hookreceiver.stores import RedisStore

    with pytest.raises(ValueError):
        RedisStore()
    client = redis.Redis.from_url(redis_url)
    store = RedisStore(client=client, prefix=f"{namespace}:")
    assert store.claim("k", 5).state is ClaimState.NEW
    store.close()
    assert client.ping()

    async def run() -> ClaimState:
        aclient = redis.asyncio.Redis.from_url(redis_url)
        astore = RedisStore(async_client=aclient, prefix=f"{namespace}:")
        state = (await astore.aclaim("k", 5)).state
        await astore.aclose()
        assert await aclient.ping()
        await aclient.aclose()
        return state

    assert asyncio.run(run()) is ClaimState.IN_FLIGHT
    client.close()
    drop_backend({"kind": "redis", "url": redis_url, "prefix": f"{namespace}:"})


# PostgreSQL ------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["bad-name", "a;drop table x", "1abc", "a.b.c", "x" * 60, ""])
def test_postgres_store_refuses_unsafe_table_names(table: str) -> None:
    from hookreceiver.stores import PostgresStore

    with pytest.raises(ValueError, match="table"):
        PostgresStore("postgresql://nowhere/db", table=table)


def test_postgres_store_creates_its_table_and_cleans_expired_keys(
    postgres_dsn: str, namespace: str
) -> None:
    import time

    import psycopg

    from hookreceiver.stores import PostgresStore

    store = PostgresStore(postgres_dsn, table=namespace, cleanup_every=5, cleanup_batch=100)

    def rows() -> int:
        with psycopg.connect(postgres_dsn) as conn:
            row = conn.execute(f"SELECT count(*) FROM {namespace}").fetchone()
            assert row is not None
            return int(row[0])

    try:
        claim = store.claim("kept", 60)  # creates the table
        assert claim.token is not None
        store.complete("kept", claim.token, 3600)
        for i in range(3):
            store.claim(f"dead{i}", 0.2)
        assert rows() == 4
        time.sleep(0.3)
        store.claim("trigger", 60)  # the fifth claim cleans up
        assert rows() == 2
        assert store.cleanup() == 0
        # Dropped behind its back: the next call creates the table again.
        store.drop_table()
        assert store.claim("again", 60).state is ClaimState.NEW
    finally:
        store.close()
        drop_backend({"kind": "postgres", "dsn": postgres_dsn, "table": namespace})


def test_memory_store_entries_are_not_tracked_by_the_garbage_collector() -> None:
    import gc

    from hookreceiver.stores import MemoryStore

    store = MemoryStore()
    for n in range(50):
        claim = store.claim(f"k{n}", 60)
        assert claim.token is not None
        if n % 2:
            store.complete(f"k{n}", claim.token, 600)
    gc.collect()
    # 100 000 held keys must not make every full collection walk 100 000 tuples.
    assert not any(gc.is_tracked(entry) for entry in store._entries.values())
    assert store.claim("k1", 60).state.value == "done"
    assert store.claim("k0", 60).state.value == "in_flight"
