"""The SQL shared by the SQLite and PostgreSQL inboxes: one table, one layout, two dialects.

Columns that are filtered or sorted on are columns; the rest of the request (headers, query,
multipart fields, file metadata) is one JSON text, and the body and file bytes one blob, so a
listing never reads a payload.
"""

from __future__ import annotations

import builtins
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from functools import partial
from typing import Any, Protocol

from ._sql_listing import ENTRY_COLUMNS, ListingStatements, attempt_params, transaction
from .base import Inbox
from .listing import Attempt, InboxStats, SearchQuery, attempt_from_row
from .records import FILE_CHUNK, InboxCounts, InboxEntry, InboxRecord, InboxState, entry_from_row

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
# The rows a worker may take; written the same in the partial index and in the query, as SQLite
# uses a partial index only for a query whose WHERE holds the index's condition as written.
_TAKEABLE = "state IN ('pending', 'processing')"
# Ids per statement: SQLite before 3.32 takes 999 parameters at most.
_IDS_PER_STATEMENT = 500


def check_table_name(table: str) -> str:
    """``table`` if it is a plain SQL identifier (it is written into statements)."""
    if not _IDENTIFIER.fullmatch(table):
        raise ValueError(f"inbox table name must be a plain identifier: {table!r}")
    return table


def insert_params(record: InboxRecord, *, files_apart: bool = False) -> tuple[Any, ...]:
    """The values of an INSERT of ``record``, in :data:`_ALL_COLUMNS` order (its files'
    bytes in the payload, or, with ``files_apart``, left for the chunks table)."""
    meta, payload = record.encode(files_apart=files_apart)
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


def record_from_row(
    row: Mapping[str, Any], parts: Callable[[int], Iterator[bytes]] | None = None
) -> InboxRecord:
    """A full record from a row with every column (``parts``: see ``InboxRecord.decode``)."""
    entry = entry_from_row(row)
    record = InboxRecord.decode(entry, row["meta"], bytes(row["payload"]), parts)
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
        self.indexes = (
            # Take reads the delivery due first: a partial index holding only the rows a worker
            # may take (done and failed ones never enter it) makes that one index step, LIMIT 1,
            # at any size. It replaces (state, next_attempt_at), which made take sort every due row.
            f"DROP INDEX IF EXISTS {t}_due",
            f"CREATE INDEX IF NOT EXISTS {t}_due_at ON {t} (next_attempt_at) WHERE {_TAKEABLE}",
            # Purge walks old rows of a state in batches.
            f"CREATE INDEX IF NOT EXISTS {t}_state_updated ON {t} (state, updated_at)",
            # The listing (newest first, keyset) walks one of these indexes backwards whatever
            # the filter: by time alone, by provider, or by state; a search finds its rows by
            # id, key or subject.
            f"CREATE INDEX IF NOT EXISTS {t}_received ON {t} (received_at)",
            f"CREATE INDEX IF NOT EXISTS {t}_provider_received ON {t} (provider, received_at)",
            f"CREATE INDEX IF NOT EXISTS {t}_state_received ON {t} (state, received_at)",
            f"CREATE INDEX IF NOT EXISTS {t}_key ON {t} (event_key)",
            f"CREATE INDEX IF NOT EXISTS {t}_subject ON {t} (subject)",
            # Attachments, a chunk a row (see SQLInbox): written and read a chunk at a time.
            f"CREATE TABLE IF NOT EXISTS {t}_parts ("
            " id TEXT NOT NULL, file INTEGER NOT NULL, seq INTEGER NOT NULL,"
            f" data {'BYTEA' if postgres else 'BLOB'} NOT NULL, PRIMARY KEY (id, file, seq))",
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
        # SQLite, without statistics (nobody runs ANALYZE), prefers the (state, updated_at)
        # index for the IN and then sorts every due row: name the index it must use.
        due_at = f" INDEXED BY {t}_due_at" if p == "?" else ""
        self.take_next = (
            f"UPDATE {t} SET state = 'processing', attempts = attempts + 1, lock_token = {p},"
            f" next_attempt_at = {p}, updated_at = {p} WHERE id = ("
            f"SELECT id FROM {t}{due_at} WHERE {_TAKEABLE}"
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
        # The same, giving back the attempt the take counted (a try that ran nothing: the
        # event's key was held by another delivery).
        give_back = "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END"
        self.finish_waiting = self.finish.replace("SET state", f"SET {give_back}, state", 1)
        self.renew = (
            f"UPDATE {t} SET next_attempt_at = {p}"
            f" WHERE id = {p} AND lock_token = {p} AND state = 'processing'"
        )
        self.delete_owned = (
            f"DELETE FROM {t} WHERE id = {p} AND lock_token = {p} AND state = 'processing'"
        )
        self.get = f"SELECT {_ALL_COLUMNS} FROM {t} WHERE id = {p}"
        # The feed (hookreceiver forward): deliveries in the order received, after a cursor.
        self.received_first = f"SELECT {_ALL_COLUMNS} FROM {t} ORDER BY received_at, id LIMIT {p}"
        self.received_after = (
            f"SELECT {_ALL_COLUMNS} FROM {t} WHERE received_at > {p}"
            f" OR (received_at = {p} AND id > {p}) ORDER BY received_at, id LIMIT {p}"
        )
        self.received_last = (
            f"SELECT received_at, id FROM {t} ORDER BY received_at DESC, id DESC LIMIT 1"
        )
        self.insert_part = (
            f"INSERT INTO {t}_parts (id, file, seq, data) VALUES ({p}, {p}, {p}, {p})"
        )
        self.read_part = f"SELECT data FROM {t}_parts WHERE id = {p} AND file = {p} AND seq = {p}"
        self.delete_parts = f"DELETE FROM {t}_parts WHERE id = {p}"
        self._lock = lock
        self.counts = (
            f"SELECT state, CASE WHEN attempts > 0 THEN 1 ELSE 0 END AS tried,"
            f" COUNT(*) AS n, MIN(received_at) AS oldest FROM {t} GROUP BY state, tried"
        )
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

    def purge_batch(self, count: int) -> str:
        """The ids of a batch of deliveries in ``count`` states not updated since a time (the
        parameters: the states, the time, the batch's size), locked for deleting."""
        p = self._p
        return (
            f"SELECT id FROM {self.table} WHERE state IN ({', '.join([p] * count)})"
            f" AND updated_at < {p} LIMIT {p}{self._lock}"
        )

    def delete_ids(
        self, ids: Sequence[str]
    ) -> Iterator[tuple[tuple[str, ...], str, Sequence[Any]]]:
        """Statements that delete deliveries by id: ``(what lives beside the rows (attachments'
        chunks, attempts' history), rows, params)``.

        PostgreSQL takes the ids as one array (one plan whatever their number); SQLite as
        placeholders, 500 a statement (it took 999 parameters at most before 3.32).
        """
        t = self.table
        if self._p == "%s":
            yield (
                (
                    f"DELETE FROM {t}_parts WHERE id = ANY(%s)",
                    f"DELETE FROM {t}_attempts WHERE record_id = ANY(%s)",
                ),
                f"DELETE FROM {t} WHERE id = ANY(%s)",
                (list(ids),),
            )
            return
        for start in range(0, len(ids), _IDS_PER_STATEMENT):
            chunk = ids[start : start + _IDS_PER_STATEMENT]
            marks = ", ".join("?" * len(chunk))
            yield (
                (
                    f"DELETE FROM {t}_parts WHERE id IN ({marks})",
                    f"DELETE FROM {t}_attempts WHERE record_id IN ({marks})",
                ),
                f"DELETE FROM {t} WHERE id IN ({marks})",
                chunk,
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
    connection (:meth:`_connection`) and a transaction (:meth:`_transaction`), mapping its
    driver's connection errors to ``StoreUnavailable``.

    Attachments (multipart files) are kept in a second table, ``<table>_parts``, one row per
    chunk of ``FILE_CHUNK`` bytes, written with the delivery's row in one transaction and read
    back a chunk at a time into a spooled file when the worker runs the handlers. Memory then
    stays flat whatever the fax's size (one copy of the bytes into a blob, a second joined
    for the driver and the driver's own made a 100 MiB fax cost 300 MiB). Chosen over the
    alternatives because it is plain SQL, the same in both dialects and on every Python:
    SQLite's incremental blob I/O (``blobopen``) needs Python 3.11; PostgreSQL's large objects
    live outside the row, so every delete would have to unlink them (or ``vacuumlo`` run) or
    they leak; a spool directory beside the database holds files that workers on other hosts
    cannot read, and that a crash can leave half-written or orphaned. Here a delivery and its
    files are written, and deleted, in one transaction. A delivery without files stays one row
    written by one statement.
    """

    _sql: Statements
    #: Deliveries deleted per transaction by :meth:`purge`.
    purge_batch = 1000

    def _connection(self) -> AbstractContextManager[Connection]:
        """A connection for one statement, back to the pool afterwards (subclasses)."""
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[Connection]:
        """A connection in a write transaction, committed at the end (subclasses)."""
        raise NotImplementedError

    def _between_batches(self, took: float) -> None:
        """Called between two batches of a purge that took ``took`` seconds; a backend whose
        writers queue on one lock lets them in here."""

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

    # Records and their files ---------------------------------------------------------------

    def _record(self, row: Mapping[str, Any]) -> InboxRecord:
        """A record from a full row; files kept apart are read when (and if) they are used."""
        return record_from_row(row, partial(self._file_chunks, row["id"]))

    def _file_chunks(self, record_id: str, index: int) -> Iterator[bytes]:
        """The chunks of file ``index`` of a delivery, one statement (and one chunk in
        memory) at a time."""
        seq = 0
        while True:
            row = self._fetch_one(self._sql.read_part, (record_id, index, seq))
            if row is None:
                return
            yield bytes(row["data"])
            seq += 1

    def _write_files(self, conn: Connection, record: InboxRecord) -> None:
        for index, stored in enumerate(record.files):
            for seq, chunk in enumerate(_rechunked(stored.chunks())):
                conn.execute(self._sql.insert_part, (record.id, index, seq, chunk))

    # The primitives ------------------------------------------------------------------------

    def _insert(self, record: InboxRecord) -> None:
        if not record.files:
            self._execute(self._sql.insert, insert_params(record))
            return
        with self._transaction() as conn:
            conn.execute(self._sql.insert, insert_params(record, files_apart=True))
            self._write_files(conn, record)

    def _insert_new(self, record: InboxRecord) -> bool:
        if not record.files:
            return self._execute(self._sql.insert_new, insert_params(record)) > 0
        with self._transaction() as conn:
            params = insert_params(record, files_apart=True)
            if conn.execute(self._sql.insert_new, params).rowcount <= 0:
                return False
            self._write_files(conn, record)
            return True

    def _take(
        self, now: float, token: str, lease: float, record_id: str | None, replay: bool
    ) -> InboxRecord | None:
        row = self._take_row(*self._sql.take(now, token, lease, record_id, replay))
        return None if row is None else self._record(row)

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
        *,
        give_back: bool = False,
    ) -> bool:
        params = (state.value, now, due, error, event_name, key, record_id, token)
        sql = self._sql.finish_waiting if give_back else self._sql.finish
        if history is None:
            return self._execute(sql, params) > 0
        with self._connection() as conn:
            with transaction(conn):
                finished = conn.execute(sql, params).rowcount > 0
                if finished:
                    conn.execute(self._sql.listed.add_attempt, attempt_params(history))
        return finished

    def _delete_owned(self, record_id: str, token: str) -> bool:
        with self._transaction() as conn:
            if conn.execute(self._sql.delete_owned, (record_id, token)).rowcount <= 0:
                return False
            conn.execute(self._sql.delete_parts, (record_id,))
            conn.execute(self._sql.listed.delete_attempts(), (record_id,))
            return True

    def _renew(self, record_id: str, token: str, until: float) -> bool:
        return self._execute(self._sql.renew, (until, record_id, token)) > 0

    def _get(self, record_id: str) -> InboxRecord | None:
        row = self._fetch_one(self._sql.get, (record_id,))
        return None if row is None else self._record(row)

    def _list(
        self,
        states: builtins.list[str] | None,
        provider: str | None,
        event: str | None,
        limit: int | None,
    ) -> builtins.list[InboxEntry]:
        return entries(self._fetch_all(*self._sql.listing(states, provider, event, limit)))

    def _received_after(
        self, after: tuple[float, str] | None, limit: int
    ) -> builtins.list[InboxRecord]:
        if after is None:
            rows = self._fetch_all(self._sql.received_first, (limit,))
        else:
            at, last_id = after
            rows = self._fetch_all(self._sql.received_after, (at, at, last_id, limit))
        return [self._record(row) for row in rows]

    def _received_last(self) -> tuple[float, str] | None:
        row = self._fetch_one(self._sql.received_last, ())
        return None if row is None else (float(row["received_at"]), str(row["id"]))

    def _requeue(self, record_ids: builtins.list[str], now: float) -> int:
        if not record_ids:
            return 0
        return self._execute(self._sql.requeue(len(record_ids)), (now, now, *record_ids, now))

    def _purge(self, states: builtins.list[str], before: float) -> int:
        # In batches, each its own short transaction over the (state, updated_at) index: one
        # DELETE of a million rows would hold SQLite's write lock (and every put) for seconds.
        if not states:
            return 0
        select = self._sql.purge_batch(len(states))
        removed = 0
        while True:
            started = time.perf_counter()
            with self._transaction() as conn:
                rows = conn.execute(select, (*states, before, self.purge_batch)).fetchall()
                ids = [row["id"] for row in rows]
                for beside, deliveries, params in self._sql.delete_ids(ids):
                    for statement in beside:  # attachments' chunks, attempts' history
                        conn.execute(statement, params)
                    removed += conn.execute(deliveries, params).rowcount
            if len(ids) < self.purge_batch:
                return removed
            self._between_batches(time.perf_counter() - started)

    def _counts(self) -> InboxCounts:
        found: dict[str, int] = {}
        oldest: float | None = None
        for row in self._fetch_all(self._sql.counts, ()):
            state, n = str(row["state"]), int(row["n"])
            if state == "pending" and row["tried"]:
                state = "retrying"
            found[state] = found.get(state, 0) + n
            if state in ("pending", "retrying", "processing") and row["oldest"] is not None:
                first = float(row["oldest"])
                oldest = first if oldest is None else min(oldest, first)
        return InboxCounts(
            pending=found.get("pending", 0),
            retrying=found.get("retrying", 0),
            processing=found.get("processing", 0),
            done=found.get("done", 0),
            failed=found.get("failed", 0),
            quarantined=found.get("quarantined", 0),
            oldest_pending_at=oldest,
        )

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


def _rechunked(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """``chunks`` regrouped into pieces of at most ``FILE_CHUNK`` bytes (empty ones dropped)."""
    for chunk in chunks:
        for start in range(0, len(chunk), FILE_CHUNK):
            yield chunk[start : start + FILE_CHUNK]
