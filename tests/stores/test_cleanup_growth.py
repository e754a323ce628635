"""Expired keys do not pile up: clean-up outpaces arrivals, bounded per claim, and the
operator's ``cleanup_all`` / ``hookreceiver store cleanup`` empties a backlog (SQLite and a
real PostgreSQL)."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from store_kit import FakeClock

from hookreceiver.cli import main
from hookreceiver.stores import ClaimState, MemoryStore, SQLiteStore, open_store

KEYS = 20_000


def _sqlite_rows(path: Path, expired_before: float | None = None) -> int:
    with sqlite3.connect(path) as conn:
        sql = "SELECT count(*) FROM hookreceiver_claims"
        if expired_before is not None:
            sql += f" WHERE expires_at <= {expired_before!r}"
        count: int = conn.execute(sql).fetchone()[0]
    return count


def _seed_expired(path: Path, count: int, at: float) -> None:
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO hookreceiver_claims (key, token, done, expires_at) VALUES (?, 't', 1, ?)",
            ((f"old{i}", at) for i in range(count)),
        )


def test_sqlite_short_lived_keys_leave_almost_no_expired_rows(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "claims.db"
    store = SQLiteStore(path, clock=clock, synchronous="OFF")
    for i in range(KEYS):
        claim = store.claim(f"k{i}", 60)
        assert claim.state is ClaimState.NEW and claim.token is not None
        assert store.complete(f"k{i}", claim.token, 1.0)  # kept one second
        clock.advance(1.0)
    # At most the keys that expired since the last clean-up (every 100 claims) are left:
    # the old code, deleting 0.5 rows a claim, left 10,001 of them.
    assert _sqlite_rows(path, expired_before=clock()) <= store.cleanup_every
    assert store.cleanup_all() <= store.cleanup_every
    assert _sqlite_rows(path) == 0
    store.close()


def test_sqlite_claims_shrink_a_backlog_in_bounded_steps(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "claims.db"
    store = SQLiteStore(path, clock=clock, synchronous="OFF")
    store.claim("opens-the-file", 60)
    _seed_expired(path, 30_000, clock() - 1)
    # One claim's clean-up deletes at most cleanup_rounds full batches: no claim waits long.
    bound = store.cleanup_rounds * store.cleanup_batch
    assert store.cleanup() == bound
    for i in range(1_000):
        store.claim(f"new{i}", 60)
    # 1,000 new keys arrived; ten clean-ups deleted up to ten times as many expired ones.
    assert _sqlite_rows(path, expired_before=clock()) == 30_000 - bound - 10 * bound
    assert store.cleanup_all() == 30_000 - 11 * bound
    assert _sqlite_rows(path) == 1_001
    store.close()


def test_store_cleanup_command_empties_a_sqlite_backlog(tmp_path: Path) -> None:
    path = tmp_path / "claims.db"
    store = SQLiteStore(path)
    store.claim("live", 3600)
    store.close()
    _seed_expired(path, 5_000, time.time() - 10)
    result = CliRunner().invoke(main, ["store", "cleanup", "--store", f"sqlite:///{path}"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "deleted 5000 expired keys"
    assert _sqlite_rows(path) == 1  # the live key stays
    again = CliRunner().invoke(main, ["store", "cleanup"], env={"HOOKRECEIVER_STORE": str(path)})
    assert (again.exit_code, again.output.strip()) == (0, "deleted 0 expired keys")


def test_store_cleanup_command_refuses_a_bad_url_and_explains_redis(redis_url: str) -> None:
    bad = CliRunner().invoke(main, ["store", "cleanup", "--store", "ftp://x/y"])
    assert bad.exit_code == 2 and "unknown store URL scheme 'ftp'" in bad.output
    redis = CliRunner().invoke(main, ["store", "cleanup", "--store", f"{redis_url}?prefix=t:"])
    assert redis.exit_code == 0
    assert "RedisStore: nothing to clean up" in redis.output


@pytest.fixture
def pg_table(postgres_dsn: str, namespace: str) -> Iterator[str]:
    yield namespace
    import psycopg

    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {namespace}")


def _pg_rows(dsn: str, table: str, expired: bool = False) -> int:
    import psycopg

    with psycopg.connect(dsn) as conn:
        where = " WHERE expires_at <= now()" if expired else ""
        row = conn.execute(f"SELECT count(*) FROM {table}{where}").fetchone()
        assert row is not None
        return int(row[0])


def test_postgres_short_lived_keys_leave_almost_no_expired_rows(
    postgres_dsn: str, pg_table: str
) -> None:
    # Commits that do not wait for the disk: the test is of the clean-up, not of durability.
    fast = {"options": "-c synchronous_commit=off"}
    store = open_store(f"{postgres_dsn}?table={pg_table}", connect_options=fast)
    for i in range(KEYS):
        claim = store.claim(f"k{i}", 60)
        assert claim.token is not None
        store.complete(f"k{i}", claim.token, 0.001)  # gone a millisecond later
    time.sleep(0.01)
    assert _pg_rows(postgres_dsn, pg_table, expired=True) <= 100
    result = CliRunner().invoke(
        main, ["store", "cleanup", "--store", f"{postgres_dsn}?table={pg_table}"]
    )
    assert result.exit_code == 0 and result.output.startswith("deleted ")
    assert _pg_rows(postgres_dsn, pg_table) == 0
    store.close()


def test_postgres_cleanup_is_bounded_per_call_and_cleanup_all_finishes(
    postgres_dsn: str, pg_table: str
) -> None:
    import psycopg

    from hookreceiver.stores import PostgresStore

    store = PostgresStore(postgres_dsn, table=pg_table)
    store.claim("live", 3600)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {pg_table} (key, token, done, expires_at)"
            " SELECT 'old' || i, 't', true, now() - interval '1 minute'"
            " FROM generate_series(1, 12000) AS i"
        )
    assert store.cleanup() == store.cleanup_rounds * store.cleanup_batch
    assert store.cleanup_all() == 12_000 - 1_000
    assert _pg_rows(postgres_dsn, pg_table) == 1
    store.close()


# Memory ----------------------------------------------------------------------------------------


def test_memory_store_warns_once_when_it_forgets_keys_before_retain_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    store = MemoryStore(max_keys=1_000, clock=clock)
    with caplog.at_level(logging.WARNING, logger="hookreceiver"):
        for i in range(1_000):  # expired keys make room silently
            claim = store.claim(f"short{i}", 60)
            assert claim.token is not None
            store.complete(f"short{i}", claim.token, 1.0)
        clock.advance(2)
        for i in range(3_000):
            claim = store.claim(f"long{i}", 60)
            assert claim.token is not None
            store.complete(f"long{i}", claim.token, 7 * 86400)
    warnings = [r for r in caplog.records if "MemoryStore is full" in r.getMessage()]
    assert len(warnings) == 1
    assert "max_keys=1000" in warnings[0].getMessage()
    # The limit it warns of: the first long-lived key is forgotten, so its duplicate is new.
    assert store.claim("long0", 60).state is ClaimState.NEW
    assert store.claim("long2999", 60).state is ClaimState.DONE
    assert len(store) <= 1_000


def test_memory_store_makes_room_a_hundredth_at_a_time() -> None:
    clock = FakeClock()
    store = MemoryStore(max_keys=10_000, clock=clock)
    for i in range(10_000):
        claim = store.claim(f"k{i}", 60)
        assert claim.token is not None
        store.complete(f"k{i}", claim.token, 1.0)
    clock.advance(2)
    store.claim("one-more", 60)
    # One claim dropped 100 keys, not 1,000: the eviction a claim pays for is small.
    assert len(store) == 10_000 - 100 + 1


# Store URLs --------------------------------------------------------------------------------------

_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,40}", fullmatch=True)


@given(_NAMES)
def test_open_store_reads_the_postgres_table_from_the_url(table: str) -> None:
    pytest.importorskip("psycopg")
    store = open_store(f"postgresql://u@db.example/hooks?table={table}&sslmode=disable")
    assert (type(store).__name__, store.table) == ("PostgresStore", table)  # type: ignore[attr-defined]
    assert "table=" not in store._dsn  # type: ignore[attr-defined]


@given(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,30}", fullmatch=True))
def test_open_store_reads_sqlite_paths_as_sqlalchemy_writes_them(path: str) -> None:
    assert isinstance(open_store(f"sqlite:///{path}"), SQLiteStore)
    assert open_store(f"sqlite:///{path}").path == path  # type: ignore[attr-defined]
    assert open_store(f"sqlite:////abs/{path}").path == f"/abs/{path}"  # type: ignore[attr-defined]
    if "://" not in path:
        assert open_store(path).path == path  # type: ignore[attr-defined]


def test_open_store_names_memory_and_refuses_nonsense() -> None:
    assert isinstance(open_store("memory"), MemoryStore)
    for bad in ("", "sqlite://host/x", "sqlite:///", "mongodb://x"):
        with pytest.raises(ValueError):
            open_store(bad)
