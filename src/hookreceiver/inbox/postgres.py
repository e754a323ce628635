"""The fleet inbox: verified deliveries in a PostgreSQL table, shared by workers on many hosts.

Workers take deliveries with ``FOR UPDATE SKIP LOCKED``: each one locks the row it takes and
skips rows other workers are taking, so a delivery is leased to exactly one worker at a time
and workers never wait for each other. The lease (the row's state and lock token) outlives the
statement, so a worker may run its handlers without holding a transaction open.
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import StoreUnavailable
from ..stores._pool import SyncPool
from ._sql import Statements, entries, insert_params, record_from_row
from .base import DAY, Inbox
from .records import InboxEntry, InboxRecord, InboxState, Retry

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresInbox"]


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "PostgresInbox needs psycopg: pip install 'hookreceiver[postgres]'"
        ) from exc
    return psycopg


class PostgresInbox(Inbox):
    """An inbox in a PostgreSQL table: for workers on several hosts.

    The table (and its indexes) is created on first use.

    Args:
        dsn: a libpq connection string or URL (``postgresql://user@host/db``).
        table: the table's name.
        retry: the retry policy of failed deliveries.
        lease: seconds a worker holds a delivery before another may take it.
        keep_done: seconds a handled delivery stays listed; ``0`` deletes it at once.
        max_connections: connections open at most in this process.
        connect_timeout: seconds to wait for a connection (or a free one) before the inbox
            reports itself unavailable.
        clock: wall-clock seconds; pass a fake clock in tests.
    """

    def __init__(
        self,
        dsn: str,
        *,
        table: str = "hookreceiver_inbox",
        retry: Retry | None = None,
        lease: float = 300.0,
        keep_done: float = DAY,
        max_connections: int = 10,
        connect_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(retry=retry, lease=lease, keep_done=keep_done, clock=clock)
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        self._sql = Statements(table, "%s", skip_locked=True)
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        self._pool: SyncPool[psycopg.Connection[Any]] = SyncPool(
            self._connect, _close, max_size=max_connections, timeout=connect_timeout
        )

    @property
    def table(self) -> str:
        """The table's name."""
        return self._sql.table

    def _connect(self) -> psycopg.Connection[Any]:
        from psycopg.rows import dict_row

        conn: psycopg.Connection[Any] = _psycopg().connect(
            self.dsn,
            autocommit=True,
            connect_timeout=max(1, int(self.connect_timeout)),
            row_factory=dict_row,
        )
        if not self._schema_ready:
            with self._schema_lock:
                if not self._schema_ready:
                    self._create_schema(conn)
                    self._schema_ready = True
        return conn

    def _create_schema(self, conn: psycopg.Connection[Any]) -> None:
        # CREATE ... IF NOT EXISTS races between processes starting together: serialize it.
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.table,))
            for statement in self._sql.schema:
                conn.execute(statement)

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        psycopg = _psycopg()
        try:
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StoreUnavailable(f"PostgreSQL inbox: {exc}") from exc

    def _run(self, sql: str, params: tuple[Any, ...] | builtins.list[Any]) -> int:
        """Execute ``sql``; the number of rows it changed."""
        with self._connection() as conn:
            return int(conn.execute(sql, params).rowcount)

    def _insert(self, record: InboxRecord) -> None:
        self._run(self._sql.insert, insert_params(record))

    def _take(
        self, now: float, token: str, lease: float, record_id: str | None, replay: bool
    ) -> InboxRecord | None:
        sql, params = self._sql.take(now, token, lease, record_id, replay)
        with self._connection() as conn:
            row = conn.execute(sql, params).fetchone()
        return None if row is None else record_from_row(row)

    def _finish(
        self,
        record_id: str,
        token: str,
        state: InboxState,
        now: float,
        due: float,
        error: str | None,
        event_name: str | None,
        key: str | None,
    ) -> bool:
        params = (state.value, now, due, error, event_name, key, record_id, token)
        return self._run(self._sql.finish, params) > 0

    def _delete_owned(self, record_id: str, token: str) -> bool:
        return self._run(self._sql.delete_owned, (record_id, token)) > 0

    def _get(self, record_id: str) -> InboxRecord | None:
        with self._connection() as conn:
            row = conn.execute(self._sql.get, (record_id,)).fetchone()
        return None if row is None else record_from_row(row)

    def _list(
        self,
        states: builtins.list[str] | None,
        provider: str | None,
        event: str | None,
        limit: int | None,
    ) -> builtins.list[InboxEntry]:
        sql, params = self._sql.listing(states, provider, event, limit)
        with self._connection() as conn:
            return entries(conn.execute(sql, params).fetchall())

    def _requeue(self, record_ids: builtins.list[str], now: float) -> int:
        if not record_ids:
            return 0
        sql = self._sql.requeue(len(record_ids))
        return self._run(sql, (now, now, *record_ids, now))

    def _purge(self, states: builtins.list[str], before: float) -> int:
        if not states:
            return 0
        return self._run(self._sql.purge(len(states)), (*states, before))

    def drop(self) -> None:
        """Drop the table (tests, and removing the inbox for good)."""
        self._run(f"DROP TABLE IF EXISTS {self.table}", ())
        self._schema_ready = False

    def close(self) -> None:
        """Close this process's idle connections."""
        self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresInbox(table={self.table!r})"


def _close(conn: psycopg.Connection[Any]) -> None:
    conn.close()
