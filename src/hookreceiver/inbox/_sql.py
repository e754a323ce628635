"""The SQL shared by the SQLite and PostgreSQL inboxes: one table, one layout, two dialects.

Columns that are filtered or sorted on are columns; the rest of the request (headers, query,
multipart fields, file metadata) is one JSON text, and the body and file bytes one blob, so a
listing never reads a payload.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ._sql_listing import ENTRY_COLUMNS, ListingStatements, attempt_params, transaction
from .base import Inbox
from .listing import Attempt, InboxStats, SearchQuery, attempt_from_row
from .records import InboxEntry, InboxRecord, InboxState, entry_from_row

__all__ = [
    "ALL_COLUMNS",
    "Connection",
    "Cursor",
    "ENTRY_COLUMNS",
    "SQLInbox",
    "Statements",
    "check_table_name",
    "insert_params",
    "record_from_row",
]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

_ALL_COLUMNS = f"{ENTRY_COLUMNS}, lock_token, meta, payload"
#: Every column's name, in :func:`insert_params` order.
ALL_COLUMNS = tuple(name.strip() for name in _ALL_COLUMNS.split(","))


def check_table_name(table: str) -> str:
    """``table`` if it is a plain SQL identifier (it is written into statements)."""
    if not _IDENTIFIER.fullmatch(table):
        raise ValueError(f"inbox table name must be a plain identifier: {table!r}")
    return table


def insert_params(record: InboxRecord) -> tuple[Any, ...]:
    """The values of an INSERT of ``record``, in :data:`_ALL_COLUMNS` order."""
    meta, payload = record.encode()
    return (
        record.id,
        record.state.value,
        record.endpoint,
        record.provider,
        record.event_name,
        record.key,
        record.received_at,
        record.updated_at,
        record.attempts,
        record.next_attempt_at,
        record.last_error,
        record.size,
        record.subject,
        record.lock_token,
        meta,
        payload,
    )


def record_from_row(row: Mapping[str, Any]) -> InboxRecord:
    """A full record from a row with every column."""
    record = InboxRecord.decode(entry_from_row(row), row["meta"], bytes(row["payload"]))
    record.lock_token = row["lock_token"]
    return record


def entries(rows: Iterable[Mapping[str, Any]]) -> list[InboxEntry]:
    """Entries from listing rows."""
    return [entry_from_row(row) for row in rows]


class Statements:
    """The statements of one inbox table, with the dialect's placeholder (``?`` or ``%s``)."""

    def __init__(self, table: str, placeholder: str, *, skip_locked: bool) -> None:
        t, p = check_table_name(table), placeholder
        self.table = t
        postgres = p == "%s"
        self.create_table = (
            f"CREATE TABLE IF NOT EXISTS {t} ("
            " id TEXT PRIMARY KEY, state TEXT NOT NULL, endpoint TEXT NOT NULL,"
            " provider TEXT NOT NULL, event_name TEXT, event_key TEXT,"
            " received_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,"
            " attempts INTEGER NOT NULL, next_attempt_at DOUBLE PRECISION NOT NULL,"
            " last_error TEXT, size BIGINT NOT NULL, subject TEXT, lock_token TEXT,"
            f" meta TEXT NOT NULL, payload {'BYTEA' if postgres else 'BLOB'} NOT NULL)"
        )
        #: Tables made before the subject column: PostgreSQL adds it in the schema, SQLite
        #: (no IF NOT EXISTS there) when its table lacks it (``SQLiteInbox``).
        self.add_subject = (
            f"ALTER TABLE {t} ADD COLUMN {'IF NOT EXISTS ' if postgres else ''}subject TEXT"
        )
        #: The listing's and the attempts history's statements.
        self.listed = ListingStatements(t, p, postgres=postgres)
        # The listing (newest first, keyset) walks one of these indexes backwards whatever the
        # filter: by time alone, by provider, or by state; a search finds its rows by id, key
        # or subject.
        self.indexes = (
            f"CREATE INDEX IF NOT EXISTS {t}_due ON {t} (state, next_attempt_at)",
            f"CREATE INDEX IF NOT EXISTS {t}_received ON {t} (received_at)",
            f"CREATE INDEX IF NOT EXISTS {t}_provider_received ON {t} (provider, received_at)",
            f"CREATE INDEX IF NOT EXISTS {t}_state_received ON {t} (state, received_at)",
            f"CREATE INDEX IF NOT EXISTS {t}_key ON {t} (event_key)",
            f"CREATE INDEX IF NOT EXISTS {t}_subject ON {t} (subject)",
            *self.listed.schema,
        )
        self.schema = (
            self.create_table,
            *([self.add_subject] if postgres else []),
            *self.indexes,
        )
        self.insert = f"INSERT INTO {t} ({_ALL_COLUMNS}) VALUES ({', '.join([p] * 16)})"
        # A delivery already stored under its id (a journal drained twice) is left as it is.
        self.insert_new = f"{self.insert} ON CONFLICT (id) DO NOTHING"
        # The lease's end is kept in next_attempt_at, so "due" is one condition on one index
        # for both a pending delivery and one whose worker died.
        lock = " FOR UPDATE SKIP LOCKED" if skip_locked else ""
        self.take_next = (
            f"UPDATE {t} SET state = 'processing', attempts = attempts + 1, lock_token = {p},"
            f" next_attempt_at = {p}, updated_at = {p} WHERE id = ("
            f"SELECT id FROM {t} WHERE state IN ('pending', 'processing')"
            f" AND next_attempt_at <= {p} ORDER BY next_attempt_at LIMIT 1{lock})"
            f" RETURNING {_ALL_COLUMNS}"
        )
        self.take_due = (
            f"UPDATE {t} SET state = 'processing', attempts = attempts + 1, lock_token = {p},"
            f" next_attempt_at = {p}, updated_at = {p} WHERE id = {p}"
            f" AND state IN ('pending', 'processing') AND next_attempt_at <= {p}"
            f" RETURNING {_ALL_COLUMNS}"
        )
        self.take_replay = (
            f"UPDATE {t} SET state = 'processing', attempts = 1, lock_token = {p},"
            f" next_attempt_at = {p}, updated_at = {p} WHERE id = {p}"
            f" AND NOT (state = 'processing' AND next_attempt_at > {p})"
            f" RETURNING {_ALL_COLUMNS}"
        )
        self.finish = (
            f"UPDATE {t} SET state = {p}, lock_token = NULL, updated_at = {p},"
            f" next_attempt_at = {p}, last_error = {p},"
            f" event_name = COALESCE({p}, event_name), event_key = COALESCE({p}, event_key)"
            f" WHERE id = {p} AND lock_token = {p} AND state = 'processing'"
        )
        self.renew = (
            f"UPDATE {t} SET next_attempt_at = {p}"
            f" WHERE id = {p} AND lock_token = {p} AND state = 'processing'"
        )
        self.delete_owned = (
            f"DELETE FROM {t} WHERE id = {p} AND lock_token = {p} AND state = 'processing'"
        )
        self.get = f"SELECT {_ALL_COLUMNS} FROM {t} WHERE id = {p}"
        self._p = p

    def take(
        self, now: float, token: str, lease: float, record_id: str | None, replay: bool
    ) -> tuple[str, tuple[Any, ...]]:
        """The statement and parameters that lease a delivery (see ``Inbox.take``)."""
        if record_id is None:
            return self.take_next, (token, now + lease, now, now)
        sql = self.take_replay if replay else self.take_due
        return sql, (token, now + lease, now, record_id, now)

    def listing(
        self,
        states: Sequence[str] | None,
        provider: str | None,
        event: str | None,
        limit: int | None,
    ) -> tuple[str, list[Any]]:
        """A filtered listing, oldest first."""
        where, params = self.listed.filters(states, provider, event)
        sql = f"SELECT {ENTRY_COLUMNS} FROM {self.table}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY received_at, id"
        if limit is not None:
            sql += f" LIMIT {self._p}"
            params.append(int(limit))
        return sql, params

    def requeue(self, count: int) -> str:
        """Make ``count`` deliveries pending, unless a live lease holds them."""
        p = self._p
        return (
            f"UPDATE {self.table} SET state = 'pending', attempts = 0, lock_token = NULL,"
            f" next_attempt_at = {p}, updated_at = {p}"
            f" WHERE id IN ({', '.join([p] * count)})"
            f" AND NOT (state = 'processing' AND next_attempt_at > {p})"
        )

    def purge(self, count: int) -> str:
        """Delete deliveries in ``count`` states not updated since a time."""
        p = self._p
        return (
            f"DELETE FROM {self.table} WHERE state IN ({', '.join([p] * count)})"
            f" AND updated_at < {p}"
        )


class Cursor(Protocol):
    """What the inbox reads from a DB-API cursor (``sqlite3``, ``psycopg``)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Any: ...


class Connection(Protocol):
    """What the inbox needs of a DB-API connection: ``execute`` returning a cursor."""

    def execute(self, sql: str, params: Sequence[Any], /) -> Cursor: ...


class SQLInbox(Inbox):
    """The storage primitives of :class:`~hookreceiver.inbox.base.Inbox` over one SQL table.

    Written once over :class:`Statements`; a dialect's subclass sets ``_sql`` and lends a
    connection (:meth:`_connection`), mapping its driver's connection errors to
    ``StoreUnavailable``.
    """

    _sql: Statements

    def _connection(self) -> AbstractContextManager[Connection]:
        """A connection for one statement, back to the pool afterwards (subclasses)."""
        raise NotImplementedError

    # One statement -------------------------------------------------------------------------

    def _execute(self, sql: str, params: Sequence[Any]) -> int:
        """Run ``sql``; the number of rows it changed."""
        with self._connection() as conn:
            return int(conn.execute(sql, params).rowcount)

    def _fetch_one(self, sql: str, params: Sequence[Any]) -> Mapping[str, Any] | None:
        """Run ``sql``; its first row, or ``None``."""
        with self._connection() as conn:
            row: Mapping[str, Any] | None = conn.execute(sql, params).fetchone()
            return row

    def _fetch_all(self, sql: str, params: Sequence[Any]) -> builtins.list[Mapping[str, Any]]:
        """Run ``sql``; its rows."""
        with self._connection() as conn:
            rows: builtins.list[Mapping[str, Any]] = conn.execute(sql, params).fetchall()
            return rows

    def _take_row(self, sql: str, params: Sequence[Any]) -> Mapping[str, Any] | None:
        """Run the statement that leases a delivery; its row. Override to add locking."""
        return self._fetch_one(sql, params)

    # The primitives ------------------------------------------------------------------------

    def _insert(self, record: InboxRecord) -> None:
        self._execute(self._sql.insert, insert_params(record))

    def _insert_new(self, record: InboxRecord) -> bool:
        return self._execute(self._sql.insert_new, insert_params(record)) > 0

    def _take(
        self, now: float, token: str, lease: float, record_id: str | None, replay: bool
    ) -> InboxRecord | None:
        row = self._take_row(*self._sql.take(now, token, lease, record_id, replay))
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
        history: Attempt | None = None,
    ) -> bool:
        params = (state.value, now, due, error, event_name, key, record_id, token)
        if history is None:
            return self._execute(self._sql.finish, params) > 0
        with self._connection() as conn:
            with transaction(conn):
                finished = conn.execute(self._sql.finish, params).rowcount > 0
                if finished:
                    conn.execute(self._sql.listed.add_attempt, attempt_params(history))
        return finished

    def _delete_owned(self, record_id: str, token: str) -> bool:
        deleted = self._execute(self._sql.delete_owned, (record_id, token)) > 0
        if deleted:
            self._execute(self._sql.listed.delete_attempts(), (record_id,))
        return deleted

    def _renew(self, record_id: str, token: str, until: float) -> bool:
        return self._execute(self._sql.renew, (until, record_id, token)) > 0

    def _get(self, record_id: str) -> InboxRecord | None:
        row = self._fetch_one(self._sql.get, (record_id,))
        return None if row is None else record_from_row(row)

    def _list(
        self,
        states: builtins.list[str] | None,
        provider: str | None,
        event: str | None,
        limit: int | None,
    ) -> builtins.list[InboxEntry]:
        return entries(self._fetch_all(*self._sql.listing(states, provider, event, limit)))

    def _requeue(self, record_ids: builtins.list[str], now: float) -> int:
        if not record_ids:
            return 0
        return self._execute(self._sql.requeue(len(record_ids)), (now, now, *record_ids, now))

    def _purge(self, states: builtins.list[str], before: float) -> int:
        if not states:
            return 0
        return self._execute(self._sql.purge(len(states)), (*states, before))

    def _search(self, query: SearchQuery, limit: int) -> builtins.list[InboxEntry]:
        return entries(self._fetch_all(*self._sql.listed.search(query, limit)))

    def _attempts(self, record_id: str) -> builtins.list[Attempt]:
        return [
            attempt_from_row(row)
            for row in self._fetch_all(self._sql.listed.attempts, (record_id,))
        ]

    def _add_attempts(self, attempts: builtins.list[Attempt]) -> None:
        if not attempts:
            return
        with self._connection() as conn:
            with transaction(conn):
                for a in attempts:
                    conn.execute(self._sql.listed.add_attempt, attempt_params(a))

    def _insert_many(self, records: Sequence[InboxRecord], history: Sequence[Attempt]) -> int:
        count = 0
        with self._connection() as conn:
            with transaction(conn):
                for record in records:
                    count += conn.execute(self._sql.insert_new, insert_params(record)).rowcount
                for a in history:
                    conn.execute(self._sql.listed.add_attempt, attempt_params(a))
        return count

    def _set_state(
        self, record_ids: builtins.list[str], states: builtins.list[str], state: str, now: float
    ) -> int:
        if not record_ids or not states:
            return 0
        sql = self._sql.listed.set_state(len(record_ids), len(states))
        return self._execute(sql, (state, now, *record_ids, *states))

    def _stats(self, now: float) -> InboxStats:
        by_state, recent, minutes, oldest = self._sql.listed.stats()
        stats = InboxStats(now=now)
        with self._connection() as conn:
            for row in conn.execute(by_state, ()).fetchall():
                stats.by_state[row["state"]] = int(row["n"])
            for since, into in ((now - 3600, stats.last_hour), (now - 86400, stats.last_day)):
                for row in conn.execute(recent, (since,)).fetchall():
                    into[(row["provider"], row["state"])] = int(row["n"])
            for row in conn.execute(minutes, (now - 3600,)).fetchall():
                stats.per_minute[(int(row["minute"]), row["state"])] = int(row["n"])
            found = conn.execute(oldest, ()).fetchone()
            if found is not None and found["oldest"] is not None:
                stats.oldest_pending = float(found["oldest"])
        return stats

    def _purge_attempts(self, states: builtins.list[str], before: float) -> None:
        if states:
            self._execute(self._sql.listed.purge_attempts(len(states)), (*states, before))
