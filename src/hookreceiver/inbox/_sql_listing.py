"""The SQL of the listing and of the attempts history, shared by both SQL inboxes.

The listing is newest first (or oldest) over ``(received_at, id)``, after a cursor rather than
an ``OFFSET``; each filter has an index that walks in that order (``received_at``,
``(provider, received_at)``, ``(state, received_at)``), and a search is an index lookup by
delivery id, idempotency key or subject. The attempts are rows of a second table,
``<table>_attempts``, found by the delivery's id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .listing import Attempt, SearchQuery

__all__ = ["ENTRY_COLUMNS", "ListingStatements", "attempt_params", "transaction"]

#: The columns of a listing's rows (an ``InboxEntry``: no payload).
ENTRY_COLUMNS = (
    "id, state, endpoint, provider, event_name, event_key, received_at, updated_at,"
    " attempts, next_attempt_at, last_error, size, subject"
)


class _Executes(Protocol):
    def execute(self, sql: str, params: Sequence[Any], /) -> Any: ...


class ListingStatements:
    """The listing's and the history's statements for one inbox table."""

    def __init__(self, table: str, placeholder: str, *, postgres: bool) -> None:
        t, p = table, placeholder
        self.table, self.p = t, p
        self.attempts_table = f"{t}_attempts"
        self.schema = (
            f"CREATE TABLE IF NOT EXISTS {t}_attempts ("
            " record_id TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, attempt INTEGER NOT NULL,"
            " duration DOUBLE PRECISION, outcome TEXT NOT NULL, error TEXT, traceback TEXT,"
            " actor TEXT)",
            f"CREATE INDEX IF NOT EXISTS {t}_attempts_record ON {t}_attempts (record_id, at)",
        )
        # CAST rounds in PostgreSQL and truncates in SQLite: a minute is FLOOR there.
        self.minute = "FLOOR(received_at / 60)" if postgres else "CAST(received_at / 60 AS INTEGER)"
        self.add_attempt = (
            f"INSERT INTO {t}_attempts (record_id, at, attempt, duration, outcome, error,"
            f" traceback, actor) VALUES ({', '.join([p] * 8)})"
        )
        self.attempts = (
            f"SELECT record_id, at, attempt, duration, outcome, error, traceback, actor"
            f" FROM {t}_attempts WHERE record_id = {p} ORDER BY at"
        )

    def filters(
        self,
        states: Sequence[str] | None,
        provider: str | None,
        event: str | None,
    ) -> tuple[list[str], list[Any]]:
        p = self.p
        where: list[str] = []
        params: list[Any] = []
        if states is not None:
            if not states:
                where.append("1 = 0")
            else:
                where.append(f"state IN ({', '.join([p] * len(states))})")
                params.extend(states)
        if provider is not None:
            where.append(f"provider = {p}")
            params.append(provider)
        if event is not None:
            if event.endswith("*"):
                where.append(f"substr(event_name, 1, {p}) = {p}")
                params.extend([len(event) - 1, event[:-1]])
            else:
                where.append(f"event_name = {p}")
                params.append(event)
        return where, params

    def search(self, query: SearchQuery, limit: int) -> tuple[str, list[Any]]:
        """One page of a listing in received order (newest first unless ``query.newest`` is
        false), after ``query.after`` (keyset: no OFFSET, so page 10,000 costs what page 1 does).
        """
        p = self.p
        where, params = self.filters(query.states, query.provider, query.event)
        if query.since is not None:
            where.append(f"received_at >= {p}")
            params.append(float(query.since))
        if query.until is not None:
            where.append(f"received_at < {p}")
            params.append(float(query.until))
        if query.text:
            where.append(f"(id = {p} OR event_key = {p} OR subject = {p})")
            params.extend([query.text] * 3)
        after = query.after
        if after is not None:
            # The first condition bounds the index range; the second breaks ties by id.
            before, later = ("<", "<") if query.newest else (">", ">")
            where.append(
                f"received_at {before}= {p} AND (received_at {later} {p} OR id {later} {p})"
            )
            params.extend([after[0], after[0], after[1]])
        order = "DESC" if query.newest else "ASC"
        sql = f"SELECT {ENTRY_COLUMNS} FROM {self.table}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY received_at {order}, id {order} LIMIT {p}"
        params.append(int(limit))
        return sql, params

    def stats(self) -> tuple[str, str, str, str]:
        """Counts by state; by provider and state since a time; by minute and state since a
        time; the oldest pending delivery's time."""
        t, p = self.table, self.p
        return (
            f"SELECT state, COUNT(*) AS n FROM {t} GROUP BY state",
            f"SELECT provider, state, COUNT(*) AS n FROM {t} WHERE received_at >= {p}"
            " GROUP BY provider, state",
            f"SELECT {self.minute} AS minute, state, COUNT(*) AS n FROM {t}"
            f" WHERE received_at >= {p} GROUP BY {self.minute}, state",
            f"SELECT MIN(received_at) AS oldest FROM {t} WHERE state = 'pending'",
        )

    def set_state(self, ids: int, states: int) -> str:
        """Move ``ids`` deliveries that are in one of ``states`` states to a state."""
        p = self.p
        return (
            f"UPDATE {self.table} SET state = {p}, lock_token = NULL, updated_at = {p}"
            f" WHERE id IN ({', '.join([p] * ids)}) AND state IN ({', '.join([p] * states)})"
        )

    def delete_attempts(self) -> str:
        """Delete one delivery's history."""
        return f"DELETE FROM {self.table}_attempts WHERE record_id = {self.p}"


def attempt_params(a: Attempt) -> tuple[Any, ...]:
    return (a.record_id, a.at, a.attempt, a.duration, a.outcome, a.error, a.traceback, a.actor)


class transaction:
    """``BEGIN`` ... ``COMMIT`` on an autocommit connection (both drivers), rolled back on an
    error: a batch is written whole or not at all."""

    def __init__(self, conn: _Executes) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN", ())

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK", ())
