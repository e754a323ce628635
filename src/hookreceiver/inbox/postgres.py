"""The fleet inbox: verified deliveries in a PostgreSQL table, shared by workers on many hosts.

Workers take deliveries with ``FOR UPDATE SKIP LOCKED``: each one locks the row it takes and
skips rows other workers are taking, so a delivery is leased to exactly one worker at a time
and workers never wait for each other. The lease (the row's state and lock token) outlives the
statement, so a worker may run its handlers without holding a transaction open.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import StoreUnavailable
from ..stores._pool import SyncPool
from ._sql import SQLInbox, Statements
from .base import DAY
from .retry import Retry

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


class PostgresInbox(SQLInbox):
    """An inbox in a PostgreSQL table: for workers on several hosts.

    The table (and its indexes) is created on first use.

    Args:
        dsn: a libpq connection string or URL (``postgresql://user@host/db``).
        table: the table's name.
        retry: the retry policy of failed deliveries.
        lease: seconds a worker holds a delivery before another may take it (renewed while
            its handlers run).
        keep_done: seconds a handled delivery stays listed; ``0`` deletes it at once.
        max_connections: connections open at most in this process.
        connect_timeout: seconds to wait for a connection (or a free one) before the inbox
            reports itself unavailable.
        clock: wall-clock seconds; pass a fake clock in tests.
        statement_timeout: seconds a statement may run (or wait for a lock) before the inbox
            reports itself unavailable (a delivery is then handled at once, as when the
            database is down); ``None`` leaves the server's setting.
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
        statement_timeout: float | None = 5.0,
    ) -> None:
        super().__init__(retry=retry, lease=lease, keep_done=keep_done, clock=clock)
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
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
        try:
            from ..stores.postgres import session_limits

            limits = session_limits(self.statement_timeout)
            if limits is not None:
                conn.execute(*limits)
            if not self._schema_ready:
                with self._schema_lock:
                    if not self._schema_ready:
                        self._create_schema(conn)
                        self._schema_ready = True
        except BaseException:
            conn.close()
            raise
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

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self._connection() as conn, conn.transaction():
            yield conn

    def drop(self) -> None:
        """Drop the table, its attachments' and its attempts' (tests, and removing the inbox for
        good)."""
        self._execute(
            f"DROP TABLE IF EXISTS {self.table}, {self.table}_parts,"
            f" {self._sql.listed.attempts_table}",
            (),
        )
        self._schema_ready = False

    def close(self) -> None:
        """Close this process's idle connections."""
        self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresInbox(table={self.table!r})"


def _close(conn: psycopg.Connection[Any]) -> None:
    conn.close()
