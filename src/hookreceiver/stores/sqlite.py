"""The embedded default: a dedup store in one SQLite file, shared by every process on one host.

The database runs in WAL mode (readers never wait for the writer) with a busy timeout (writers
from other processes wait their turn instead of failing). A claim is one atomic upsert that only
overwrites an expired row, so two processes can never both get ``NEW``; only when it changes
nothing (the key is live) does a second statement read whether it is done or in flight. New
keys, the common case, thus cost one statement to claim and one to complete.

Expired keys are deleted by the claims themselves: every ``cleanup_every`` claims a process
deletes expired rows a batch (``cleanup_batch``) at a time, again while a batch comes back full,
up to ``cleanup_rounds`` batches, so deletions outpace arrivals (up to
``cleanup_rounds * cleanup_batch / cleanup_every`` rows a claim, 10 by default, against one new
row a claim) while no claim waits for more than a few batches. No separate job is needed;
:meth:`SQLiteStore.cleanup_all` (``hookreceiver store cleanup``) empties a backlog at once.

Times are wall-clock seconds (``time.time``): the file outlives processes and reboots, and
every process must read the same clock.
"""

from __future__ import annotations

import itertools
import os
import secrets
import sqlite3
import time
from collections.abc import Callable

from ..errors import StoreUnavailable
from ._pool import SyncPool
from ._sqlite import connect
from .base import Claim, ClaimState, Store

__all__ = ["SQLiteStore"]

_TABLE = "hookreceiver_claims"
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {_TABLE} ("
    " key TEXT PRIMARY KEY, token TEXT NOT NULL, done INTEGER NOT NULL,"
    " expires_at REAL NOT NULL) WITHOUT ROWID",
    f"CREATE INDEX IF NOT EXISTS {_TABLE}_expires ON {_TABLE} (expires_at)",
)
_READ = f"SELECT done, expires_at FROM {_TABLE} WHERE key = ?"
# Only an expired row is taken over; a live one leaves the upsert with no change (rowcount 0).
_TAKE = (
    f"INSERT INTO {_TABLE} (key, token, done, expires_at) VALUES (?, ?, 0, ?)"
    " ON CONFLICT (key) DO UPDATE SET token = excluded.token, done = 0,"
    f" expires_at = excluded.expires_at WHERE {_TABLE}.expires_at <= ?"
)
# The owner's claim, live or expired, becomes done; so does a free key (a claim that expired and
# was cleaned up): the handlers ran. A key another token took over, or done, is left alone.
_COMPLETE = (
    f"INSERT INTO {_TABLE} (key, token, done, expires_at) VALUES (?, ?, 1, ?)"
    " ON CONFLICT (key) DO UPDATE SET done = 1, expires_at = excluded.expires_at"
    f" WHERE {_TABLE}.token = excluded.token AND {_TABLE}.done = 0"
)
_RENEW = f"UPDATE {_TABLE} SET expires_at = ? WHERE key = ? AND token = ? AND done = 0"
_RELEASE = f"DELETE FROM {_TABLE} WHERE key = ? AND token = ? AND done = 0"
_CLEANUP = (
    f"DELETE FROM {_TABLE} WHERE key IN (SELECT key FROM {_TABLE} WHERE expires_at <= ? LIMIT ?)"
)


class SQLiteStore(Store):
    """Dedup in a SQLite file: safe for several worker processes (and threads) on one host.

    Not for a database on a network file system (NFS, SMB): SQLite's locking is unreliable
    there; use Redis or PostgreSQL when workers run on several hosts.

    Args:
        path: the database file (created if missing). ``":memory:"`` is refused: it cannot be
            shared, use :class:`~hookreceiver.stores.MemoryStore`.
        busy_timeout: seconds a write waits for another process's write before the store
            reports itself unavailable (the delivery is then answered with a retry status).
        synchronous: SQLite's ``synchronous`` pragma. ``NORMAL`` (the default) survives any
            process crash; ``FULL`` also survives power loss, at the cost of an fsync per write.
        cleanup_every: every this many claims (per process), expired rows are deleted.
        cleanup_batch: how many expired rows one statement deletes at most.
        cleanup_rounds: how many full batches one claim's clean-up deletes at most.
        max_connections: connections open at most in this process.
        clock: wall-clock seconds; pass a fake clock in tests.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        synchronous: str = "NORMAL",
        cleanup_every: int = 100,
        cleanup_batch: int = 500,
        cleanup_rounds: int = 2,
        max_connections: int = 16,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = os.fspath(path)
        if self.path == ":memory:" or not self.path:
            raise ValueError("SQLiteStore needs a file; use MemoryStore for one process")
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"unknown synchronous mode {synchronous!r}")
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous.upper()
        self.cleanup_every = max(1, cleanup_every)
        self.cleanup_batch = max(1, cleanup_batch)
        self.cleanup_rounds = max(1, cleanup_rounds)
        self._clock = clock
        self._claims = itertools.count(1)
        self._pool: SyncPool[sqlite3.Connection] = SyncPool(
            self._connect, _close, max_size=max_connections, timeout=busy_timeout
        )

    def _connect(self) -> sqlite3.Connection:
        return connect(
            self.path,
            busy_timeout=self.busy_timeout,
            synchronous=self.synchronous,
            schema=_SCHEMA,
        )

    def claim(self, key: str, lease: float) -> Claim:
        """Claim ``key``: new, done or in flight."""
        try:
            with self._pool.connection() as conn:
                now = self._clock()
                token = secrets.token_hex(16)
                if conn.execute(_TAKE, (key, token, now + lease, now)).rowcount:
                    claim = Claim(ClaimState.NEW, token)
                else:
                    # A live row holds the key: read whether it is done or in flight. Should it
                    # have gone between the two statements, "in flight" is the safe answer.
                    row = conn.execute(_READ, (key,)).fetchone()
                    claim = _live(row, now) or Claim(ClaimState.IN_FLIGHT)
                if next(self._claims) % self.cleanup_every == 0:
                    self._delete_expired(conn, now, self.cleanup_rounds)
                return claim
        except sqlite3.Error as exc:
            raise _unavailable(exc) from exc

    def lease_left(self, key: str) -> float | None:
        """Seconds left on the in-flight claim of ``key``; ``0.0`` when there is none."""
        try:
            with self._pool.connection() as conn:
                now = self._clock()
                row = conn.execute(_READ, (key,)).fetchone()
        except sqlite3.Error as exc:
            raise _unavailable(exc) from exc
        if row is None or row[0]:
            return 0.0
        return max(0.0, float(row[1]) - now)

    def complete(self, key: str, token: str, retain_for: float) -> bool:
        """Mark ``key`` done for ``retain_for`` seconds, if ``token`` still owns it."""
        return self._write(_COMPLETE, (key, token, self._clock() + retain_for))

    def renew(self, key: str, token: str, lease: float) -> bool:
        """Extend ``token``'s claim on ``key`` to ``lease`` seconds from now."""
        return self._write(_RENEW, (self._clock() + lease, key, token))

    def release(self, key: str, token: str) -> bool:
        """Forget ``key``, if ``token`` still owns it."""
        return self._write(_RELEASE, (key, token))

    def cleanup(self) -> int:
        """Delete expired rows now, as a claim does (at most ``cleanup_rounds`` batches);
        returns how many went."""
        return self._cleanup(self.cleanup_rounds)

    def cleanup_all(self) -> int:
        """Delete every expired row, a batch (one short write) at a time; returns how many."""
        return self._cleanup(None)

    def _cleanup(self, rounds: int | None) -> int:
        try:
            with self._pool.connection() as conn:
                return self._delete_expired(conn, self._clock(), rounds)
        except sqlite3.Error as exc:
            raise _unavailable(exc) from exc

    def _delete_expired(self, conn: sqlite3.Connection, now: float, rounds: int | None) -> int:
        # Again while a batch comes back full: the backlog shrinks faster than keys arrive.
        removed, done = 0, 0
        while rounds is None or done < rounds:
            count = conn.execute(_CLEANUP, (now, self.cleanup_batch)).rowcount
            removed, done = removed + count, done + 1
            if count < self.cleanup_batch:
                break
        return removed

    def _write(self, sql: str, params: tuple[object, ...]) -> bool:
        return self._write_count(sql, params) > 0

    def _write_count(self, sql: str, params: tuple[object, ...]) -> int:
        try:
            with self._pool.connection() as conn:
                return conn.execute(sql, params).rowcount
        except sqlite3.Error as exc:
            raise _unavailable(exc) from exc

    def close(self) -> None:
        """Close this process's idle connections."""
        self._pool.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"


def _live(row: tuple[int, float] | None, now: float) -> Claim | None:
    if row is None or row[1] <= now:
        return None
    return Claim(ClaimState.DONE if row[0] else ClaimState.IN_FLIGHT)


def _close(conn: sqlite3.Connection) -> None:
    conn.close()


def _unavailable(exc: sqlite3.Error) -> StoreUnavailable:
    # "database is locked" after the busy timeout, a full disk, an unreadable file.
    return StoreUnavailable(f"SQLite store: {exc}")
