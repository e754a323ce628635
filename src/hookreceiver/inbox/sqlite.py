"""The embedded inbox: verified deliveries kept in one SQLite file, shared by the processes
of one host.

WAL mode lets the request path write while workers read; a worker takes a delivery inside an
``IMMEDIATE`` transaction (the write lock is held from the first read), so two workers, in one
process or several, never take the same one.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ..errors import StoreUnavailable
from ..stores._pool import SyncPool
from ..stores._sqlite import connect
from ._sql import SQLInbox, Statements
from .base import DAY
from .retry import Retry

__all__ = ["SQLiteInbox"]


class SQLiteInbox(SQLInbox):
    """An inbox in a SQLite file: safe for several processes and threads on one host.

    Not for a file on a network file system (NFS, SMB), where SQLite's locking is unreliable;
    use :class:`~hookreceiver.inbox.PostgresInbox` when workers run on several hosts.

    Args:
        path: the database file (created if missing; it may be the dedup store's file).
        table: the table's name.
        retry: the retry policy of failed deliveries.
        lease: seconds a worker holds a delivery before another may take it (renewed while
            its handlers run).
        keep_done: seconds a handled delivery stays listed; ``0`` deletes it at once.
        synchronous: SQLite's ``synchronous`` pragma. ``FULL`` (the default) survives power
            loss, at the cost of an fsync per accepted delivery; ``NORMAL`` survives any
            process crash.
        busy_timeout: seconds a write waits for another process's write.
        max_connections: connections open at most in this process.
        clock: wall-clock seconds; pass a fake clock in tests.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = "hookreceiver_inbox",
        retry: Retry | None = None,
        lease: float = 300.0,
        keep_done: float = DAY,
        synchronous: str = "FULL",
        busy_timeout: float = 10.0,
        max_connections: int = 16,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(retry=retry, lease=lease, keep_done=keep_done, clock=clock)
        self.path = os.fspath(path)
        if self.path == ":memory:" or not self.path:
            raise ValueError("SQLiteInbox needs a file: an inbox in memory would not be durable")
        if synchronous.upper() not in {"NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.synchronous = synchronous.upper()
        self.busy_timeout = busy_timeout
        self._sql = Statements(table, "?", skip_locked=False)
        self._pool: SyncPool[sqlite3.Connection] = SyncPool(
            self._connect, _close, max_size=max_connections, timeout=busy_timeout
        )

    def _connect(self) -> sqlite3.Connection:
        conn = connect(
            self.path,
            busy_timeout=self.busy_timeout,
            synchronous=self.synchronous,
            schema=(self._sql.create_table,),
            row_factory=sqlite3.Row,
        )
        try:
            # A table made before the subject column gets it (SQLite has no ADD ... IF NOT
            # EXISTS); two processes racing here: the loser's "duplicate column" is harmless.
            table = self._sql.table
            columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if "subject" not in columns:
                try:
                    conn.execute(self._sql.add_subject)
                except sqlite3.OperationalError as exc:
                    if "duplicate column" not in str(exc):
                        raise
            for statement in self._sql.indexes:
                conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except sqlite3.Error as exc:
            # "database is locked" past the busy timeout, a full disk, an unreadable file.
            raise StoreUnavailable(f"SQLite inbox {self.path}: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # The write lock from the first read: two workers never lease the same delivery, and a
        # delivery is written with its files or not at all.
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _take_row(self, sql: str, params: Sequence[Any]) -> Mapping[str, Any] | None:
        with self._transaction() as conn:
            row: Mapping[str, Any] | None = conn.execute(sql, params).fetchone()
        return row

    def _between_batches(self, took: float) -> None:
        # SQLite has one write lock, and a writer waiting for it (a put) sleeps in its busy
        # handler and retries: a purge that took it again at once would keep it out. Pausing
        # about as long as the batch took leaves the lock free half the time.
        time.sleep(min(max(took, 0.002), 0.05))

    def close(self) -> None:
        """Close this process's idle connections."""
        self._pool.close()

    def __repr__(self) -> str:
        return f"SQLiteInbox({self.path!r}, table={self._sql.table!r})"


def _close(conn: sqlite3.Connection) -> None:
    conn.close()
