"""Opening a SQLite database the way the store and the inbox both need it.

WAL lets readers and one writer work at once across processes. Switching a database to WAL
needs a lock that SQLite does not wait for through its busy handler, so several processes (or
threads) opening a fresh file at the same moment can get "database is locked" from that one
statement; the mode is persistent, so only the first opener needs to switch, and the others
retry until it has.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable

__all__ = ["connect"]


def connect(
    path: str,
    *,
    busy_timeout: float,
    synchronous: str,
    schema: Iterable[str],
    row_factory: type[sqlite3.Row] | None = None,
) -> sqlite3.Connection:
    """An autocommit connection in WAL mode with the schema created."""
    # Autocommit (isolation_level=None): each statement is its own atomic transaction.
    conn = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
        if row_factory is not None:
            conn.row_factory = row_factory
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        _use_wal(conn, busy_timeout)
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        for statement in schema:
            conn.execute(statement)
    except BaseException:
        conn.close()
        raise
    return conn


def _use_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    deadline = time.monotonic() + busy_timeout
    delay = 0.001
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal":
                return
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
