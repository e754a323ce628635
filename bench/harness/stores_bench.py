"""Section 4: one claim plus one complete per key, through each store and through its raw client.

The raw baseline is the least a dedup store can do with that backend: two commands, one to take
the key and one to mark it done (a dict under a lock; SQLite INSERT + UPDATE on the same schema
and pragmas; Redis SET NX PX + SET XX PX; PostgreSQL INSERT ... ON CONFLICT DO NOTHING + UPDATE).
Each implementation runs for a fixed time per round, rounds interleaved; medians are reported.
"""

from __future__ import annotations

import os
import secrets
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from .config import Config
from .load import percentile

__all__ = ["run_stores"]

LEASE = 30.0
RETAIN = 600.0  # short: the benchmark's keys must not linger in the shared Redis for a week

Pair = Callable[[str], None]


def _store_pair(store: Any) -> Pair:
    def pair(key: str) -> None:
        claim = store.claim(key, LEASE)
        if claim.token is None:
            raise RuntimeError(f"{type(store).__name__} did not give a fresh key as new")
        store.complete(key, claim.token, RETAIN)

    return pair


# Backends: each yields (ours, raw) and cleans up after itself ----------------------------------


@contextmanager
def _memory(run: str) -> Iterator[tuple[Pair, Pair]]:
    from hookreceiver.stores.memory import MemoryStore

    entries: dict[str, tuple[str, str, float]] = {}
    lock = threading.Lock()

    def raw(key: str) -> None:
        token = secrets.token_hex(8)
        with lock:
            if key not in entries:
                entries[key] = ("in_flight", token, time.monotonic() + LEASE)
        with lock:
            entries[key] = ("done", token, time.monotonic() + RETAIN)

    yield _store_pair(MemoryStore()), raw


@contextmanager
def _sqlite(run: str) -> Iterator[tuple[Pair, Pair]]:
    import sqlite3

    from hookreceiver.stores.sqlite import SQLiteStore

    with tempfile.TemporaryDirectory(prefix="hookreceiver-bench-") as folder:
        store = SQLiteStore(os.path.join(folder, "store.db"))
        conn = sqlite3.connect(os.path.join(folder, "raw.db"), isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(
            "CREATE TABLE claims (key TEXT PRIMARY KEY, token TEXT NOT NULL,"
            " done INTEGER NOT NULL, expires_at REAL NOT NULL) WITHOUT ROWID"
        )
        conn.execute("CREATE INDEX claims_expires ON claims (expires_at)")

        def raw(key: str) -> None:
            token = secrets.token_hex(16)
            conn.execute(
                "INSERT INTO claims VALUES (?, ?, 0, ?)", (key, token, time.time() + LEASE)
            )
            conn.execute(
                "UPDATE claims SET done = 1, expires_at = ? WHERE key = ? AND token = ?",
                (time.time() + RETAIN, key, token),
            )

        try:
            yield _store_pair(store), raw
        finally:
            store.close()
            conn.close()


@contextmanager
def _redis(run: str) -> Iterator[tuple[Pair, Pair]]:
    import redis

    from hookreceiver.stores.redis import RedisStore

    url = os.environ.get("HOOKRECEIVER_REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"hookreceiver-bench:{run}:"
    client = redis.Redis.from_url(url, socket_timeout=2)
    client.ping()
    store = RedisStore(url, prefix=prefix + "store:")
    lease_ms, retain_ms = int(LEASE * 1000), int(RETAIN * 1000)

    def raw(key: str) -> None:
        token = secrets.token_hex(16)
        client.set(prefix + "raw:" + key, "i" + token, nx=True, px=lease_ms)
        client.set(prefix + "raw:" + key, "d" + token, xx=True, px=retain_ms)

    try:
        yield _store_pair(store), raw
    finally:
        store.close()
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        client.close()


@contextmanager
def _postgres(run: str) -> Iterator[tuple[Pair, Pair]]:
    import psycopg

    from hookreceiver.stores.postgres import PostgresStore

    dsn = os.environ.get("HOOKRECEIVER_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    table, raw_table = f"hr_bench_{run}", f"hr_bench_raw_{run}"
    conn = psycopg.connect(dsn, autocommit=True, connect_timeout=2)
    store = PostgresStore(dsn, table=table)
    conn.execute(
        f"CREATE TABLE {raw_table} (key text PRIMARY KEY, token text NOT NULL,"
        " done boolean NOT NULL, expires_at timestamptz NOT NULL)"
    )
    conn.execute(f"CREATE INDEX {raw_table}_expires ON {raw_table} (expires_at)")
    take = (
        f"INSERT INTO {raw_table} VALUES (%s, %s, false, now() + make_interval(secs => %s))"
        " ON CONFLICT (key) DO NOTHING"
    )
    done = (
        f"UPDATE {raw_table} SET done = true, expires_at = now() + make_interval(secs => %s)"
        " WHERE key = %s AND token = %s"
    )

    def raw(key: str) -> None:
        token = secrets.token_hex(16)
        conn.execute(take, (key, token, LEASE))
        conn.execute(done, (RETAIN, key, token))

    try:
        yield _store_pair(store), raw
    finally:
        store.close()
        conn.execute(f"DROP TABLE IF EXISTS {raw_table}")
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()


BACKENDS = {"memory": _memory, "sqlite": _sqlite, "redis": _redis, "postgres": _postgres}


def _measure(pair: Pair, prefix: str, duration: float) -> dict[str, float]:
    samples: list[float] = []
    count = 0
    started = time.perf_counter()
    deadline = started + duration
    now = started
    while now < deadline or count < 20:
        count += 1
        pair(f"{prefix}{count}")
        after = time.perf_counter()
        samples.append((after - now) * 1e6)
        now = after
    elapsed = now - started
    return {"pairs_per_s": count / elapsed, "p99_us": percentile(samples, 0.99), "pairs": count}


def _summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    return {
        "pairs_per_s": statistics.median(r["pairs_per_s"] for r in runs),
        "p99_us": statistics.median(r["p99_us"] for r in runs),
        "runs": runs,
    }


def run_stores(config: Config, only: list[str] | None = None) -> dict[str, Any]:
    """Measure each available backend; one that cannot be reached is reported as skipped."""
    run = uuid.uuid4().hex[:10]
    results: dict[str, Any] = {}
    with ExitStack() as stack:
        pairs: dict[str, tuple[Pair, Pair]] = {}
        for name, backend in BACKENDS.items():
            if only is not None and name not in only:
                continue
            try:
                pairs[name] = stack.enter_context(backend(run))
            except Exception as exc:  # a missing module or an unreachable server
                results[name] = {"skipped": f"{type(exc).__name__}: {exc}"[:200]}
        for name, (ours, raw) in pairs.items():  # warm-up: connections, prepared statements
            _measure(ours, f"warm-ours-{name}-", min(0.2, config.store_duration))
            _measure(raw, f"warm-raw-{name}-", min(0.2, config.store_duration))
        runs: dict[str, dict[str, list[dict[str, float]]]] = {
            name: {"hookreceiver": [], "raw": []} for name in pairs
        }
        for round_ in range(max(1, config.rounds)):
            for name, (ours, raw) in pairs.items():
                runs[name]["hookreceiver"].append(
                    _measure(ours, f"o{round_}-", config.store_duration)
                )
                runs[name]["raw"].append(_measure(raw, f"r{round_}-", config.store_duration))
        for name, by_impl in runs.items():
            ours_summary, raw_summary = _summary(by_impl["hookreceiver"]), _summary(by_impl["raw"])
            results[name] = {
                "hookreceiver": ours_summary,
                "raw": raw_summary,
                "cost_ratio": raw_summary["pairs_per_s"] / ours_summary["pairs_per_s"],
            }
    return {"lease_s": LEASE, "retain_s": RETAIN, "backends": results}
