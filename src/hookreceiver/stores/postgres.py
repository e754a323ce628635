"""A dedup store in PostgreSQL (psycopg 3), for fleets of workers that already run a database.

One table, created on first use. Each call is one statement, so one round trip: a claim is an
``INSERT ... ON CONFLICT DO UPDATE ... WHERE expired`` (only an expired row is taken over) with
the current state read in the same statement. Times are the server's (``now()``), so the clocks
of the worker hosts never matter. Every ``cleanup_every`` claims a process deletes expired rows
a batch at a time (``FOR UPDATE SKIP LOCKED``: concurrent clean-ups never wait on each other),
again while a batch comes back full, up to ``cleanup_rounds`` batches: deletions outpace
arrivals (10 rows a claim at most by default, against one new one) and no claim waits long.
:meth:`PostgresStore.cleanup_all` (``hookreceiver store cleanup``) empties a backlog.
Every statement has a time limit (``statement_timeout``, 5 s by default): a locked table or a
stuck server gives the sender its retry status in bounded time instead of holding it.

Needs the ``postgres`` extra (``pip install 'hookreceiver[postgres]'``).
"""

from __future__ import annotations

import hashlib
import itertools
import re
import secrets
from collections.abc import Mapping
from typing import Any

from ..errors import StoreUnavailable
from ._pool import AsyncPool, SyncPool
from .base import Claim, ClaimState, Store

try:
    import psycopg
    from psycopg import sql
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "PostgresStore needs psycopg 3: pip install 'hookreceiver[postgres]'"
    ) from exc

__all__ = ["PostgresStore"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,47}")
_STATES = {"n": ClaimState.NEW, "d": ClaimState.DONE, "i": ClaimState.IN_FLIGHT}

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS {table} ("
    " key text PRIMARY KEY, token text NOT NULL, done boolean NOT NULL,"
    " expires_at timestamptz NOT NULL)",
    "CREATE INDEX IF NOT EXISTS {index} ON {table} (expires_at)",
)
# The INSERT sees the latest row (it locks it); the SELECT sees the statement's snapshot, which
# may predate a claim committed meanwhile: no row then means "in flight", the safe answer.
_CLAIM = (
    "WITH taken AS ("
    " INSERT INTO {table} AS c (key, token, done, expires_at)"
    " VALUES (%(key)s, %(token)s, false, now() + make_interval(secs => %(lease)s))"
    " ON CONFLICT (key) DO UPDATE SET token = excluded.token, done = false,"
    " expires_at = excluded.expires_at WHERE c.expires_at <= now()"
    " RETURNING 'n'::text AS state)"
    " SELECT state FROM taken"
    " UNION ALL"
    " SELECT CASE WHEN done AND expires_at > now() THEN 'd' ELSE 'i' END FROM {table}"
    " WHERE key = %(key)s AND NOT EXISTS (SELECT FROM taken)"
)
# The owner's claim, live or expired, becomes done; so does a free key (a claim that expired and
# was cleaned up): the handlers ran. A key another token took over, or done, is left alone.
_COMPLETE = (
    "INSERT INTO {table} AS c (key, token, done, expires_at)"
    " VALUES (%s, %s, true, now() + make_interval(secs => %s))"
    " ON CONFLICT (key) DO UPDATE SET done = true, expires_at = excluded.expires_at"
    " WHERE c.token = excluded.token AND NOT c.done"
)
_RENEW = (
    "UPDATE {table} SET expires_at = now() + make_interval(secs => %s)"
    " WHERE key = %s AND token = %s AND NOT done"
)
_RELEASE = "DELETE FROM {table} WHERE key = %s AND token = %s AND NOT done"
_LEASE_LEFT = (
    "SELECT EXTRACT(EPOCH FROM expires_at - now())::float8 FROM {table}"
    " WHERE key = %s AND NOT done AND expires_at > now()"
)
_CLEANUP = (
    "DELETE FROM {table} WHERE key IN (SELECT key FROM {table} WHERE expires_at <= now()"
    " LIMIT %s FOR UPDATE SKIP LOCKED)"
)


def _table_identifier(table: str) -> tuple[sql.Identifier, sql.Identifier, int]:
    parts = table.split(".")
    if len(parts) > 2 or not all(_IDENTIFIER.fullmatch(part) for part in parts):
        raise ValueError(
            f"table {table!r} must be a name (or schema.name) of letters, digits and _"
        )
    lock_id = int.from_bytes(hashlib.blake2b(table.encode(), digest_size=8).digest(), "big")
    return sql.Identifier(*parts), sql.Identifier(f"{parts[-1]}_expires_idx"), lock_id - 2**63


class PostgresStore(Store):
    """Dedup in a PostgreSQL table: one round trip per call, sync and async, no ORM.

    Each process keeps a few connections (sync ones for WSGI threads, async ones for the event
    loop), opened on demand; a connection that fails is dropped and the next call reconnects.

    Args:
        dsn: a libpq connection string or URL (``postgresql://user@host/db``).
        table: the table's name, optionally ``schema.name``; created on first use.
        connect_timeout: seconds to connect before the store reports itself unavailable.
        max_connections: connections open at most per process (per kind, sync and async).
        cleanup_every: every this many claims (per process), expired rows are deleted.
        cleanup_batch: how many expired rows one statement deletes at most.
        cleanup_rounds: how many full batches one claim's clean-up deletes at most.
        connect_options: further keyword arguments for ``psycopg.connect`` (such as
            ``prepare_threshold=None`` behind PgBouncer in transaction mode).
        statement_timeout: seconds a statement may run (or wait for a lock) before the store
            reports itself unavailable; ``None`` leaves the server's setting.
    """

    def __init__(
        self,
        dsn: str,
        *,
        table: str = "hookreceiver_claims",
        connect_timeout: float = 2.0,
        max_connections: int = 10,
        cleanup_every: int = 100,
        cleanup_batch: int = 500,
        cleanup_rounds: int = 2,
        connect_options: Mapping[str, Any] | None = None,
        statement_timeout: float | None = 5.0,
    ) -> None:
        ident, index, self._lock_id = _table_identifier(table)
        self._limits = session_limits(statement_timeout)
        self.table = table
        self._ident = ident
        self.cleanup_every = max(1, cleanup_every)
        self.cleanup_batch = max(1, cleanup_batch)
        self.cleanup_rounds = max(1, cleanup_rounds)
        self._dsn = dsn
        self._options: dict[str, Any] = {
            "connect_timeout": max(1, round(connect_timeout)),
            **(connect_options or {}),
            "autocommit": True,
        }
        self._schema = [sql.SQL(s).format(table=ident, index=index) for s in _SCHEMA]
        self._claim_sql = sql.SQL(_CLAIM).format(table=ident)
        self._complete_sql = sql.SQL(_COMPLETE).format(table=ident)
        self._release_sql = sql.SQL(_RELEASE).format(table=ident)
        self._renew_sql = sql.SQL(_RENEW).format(table=ident)
        self._cleanup_sql = sql.SQL(_CLEANUP).format(table=ident)
        self._lease_left_sql = sql.SQL(_LEASE_LEFT).format(table=ident)
        self._ready = False
        self._claims = itertools.count(1)
        timeout = connect_timeout + 1.0
        self._pool: SyncPool[psycopg.Connection[Any]] = SyncPool(
            self._connect, _close, max_size=max_connections, timeout=timeout
        )
        self._apool: AsyncPool[psycopg.AsyncConnection[Any]] = AsyncPool(
            self._aconnect, _aclose, _abandon, max_size=max_connections, timeout=timeout
        )

    # Connections --------------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self._dsn, **self._options)
        try:
            if self._limits is not None:
                conn.execute(*self._limits)
            if not self._ready:
                self._create(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    async def _aconnect(self) -> psycopg.AsyncConnection[Any]:
        conn = await psycopg.AsyncConnection.connect(self._dsn, **self._options)
        try:
            if self._limits is not None:
                await conn.execute(*self._limits)
            if not self._ready:
                await self._acreate(conn)
        except BaseException:
            await conn.close()
            raise
        return conn

    def _create(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            # Several processes start at once: one creates, the others wait and then see it.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_id,))
            for statement in self._schema:
                conn.execute(statement)
        self._ready = True

    async def _acreate(self, conn: psycopg.AsyncConnection[Any]) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_id,))
            for statement in self._schema:
                await conn.execute(statement)
        self._ready = True

    def _execute(
        self, conn: psycopg.Connection[Any], statement: sql.Composed, params: Any
    ) -> psycopg.Cursor[Any]:
        try:
            return conn.execute(statement, params)
        except psycopg.errors.UndefinedTable:
            self._create(conn)  # dropped behind our back (a reset, a clean-up): create again
            return conn.execute(statement, params)

    async def _aexecute(
        self, conn: psycopg.AsyncConnection[Any], statement: sql.Composed, params: Any
    ) -> psycopg.AsyncCursor[Any]:
        try:
            return await conn.execute(statement, params)
        except psycopg.errors.UndefinedTable:
            await self._acreate(conn)
            return await conn.execute(statement, params)

    @staticmethod
    def _failed(exc: psycopg.Error) -> StoreUnavailable:
        # libpq's messages name host, port and user, never the password.
        text = str(exc).strip()
        first_line = text.splitlines()[0] if text else ""
        return StoreUnavailable(f"PostgreSQL store: {type(exc).__name__}: {first_line}")

    # Sync ---------------------------------------------------------------------------------------

    def claim(self, key: str, lease: float) -> Claim:
        """Claim ``key``: new, done or in flight, in one statement."""
        token = secrets.token_hex(16)
        params = {"key": key, "token": token, "lease": float(lease)}
        try:
            with self._pool.connection() as conn:
                row = self._execute(conn, self._claim_sql, params).fetchone()
                if next(self._claims) % self.cleanup_every == 0:
                    self._delete_expired(conn, self.cleanup_rounds)
        except psycopg.Error as exc:
            raise self._failed(exc) from exc
        return _claim(row, token)

    def complete(self, key: str, token: str, retain_for: float) -> bool:
        """Mark ``key`` done for ``retain_for`` seconds, if ``token`` still owns it."""
        return self._write(self._complete_sql, (key, token, float(retain_for))) > 0

    def renew(self, key: str, token: str, lease: float) -> bool:
        """Extend ``token``'s claim on ``key`` to ``lease`` seconds from now."""
        return self._write(self._renew_sql, (float(lease), key, token)) > 0

    def lease_left(self, key: str) -> float | None:
        """Seconds left on the in-flight claim of ``key`` (on the server's clock); ``0.0``
        when there is none."""
        try:
            with self._pool.connection() as conn:
                row = self._execute(conn, self._lease_left_sql, (key,)).fetchone()
        except psycopg.Error as exc:
            raise self._failed(exc) from exc
        return 0.0 if row is None else max(0.0, float(row[0]))

    def release(self, key: str, token: str) -> bool:
        """Forget ``key``, if ``token`` still owns it."""
        return self._write(self._release_sql, (key, token)) > 0

    def cleanup(self) -> int:
        """Delete expired rows now, as a claim does (at most ``cleanup_rounds`` batches);
        returns how many went."""
        return self._cleanup(self.cleanup_rounds)

    def cleanup_all(self) -> int:
        """Delete every expired row, a batch (one short statement) at a time; returns how many."""
        return self._cleanup(None)

    def _cleanup(self, rounds: int | None) -> int:
        try:
            with self._pool.connection() as conn:
                return self._delete_expired(conn, rounds)
        except psycopg.Error as exc:
            raise self._failed(exc) from exc

    def _delete_expired(self, conn: psycopg.Connection[Any], rounds: int | None) -> int:
        # Again while a batch comes back full: the backlog shrinks faster than keys arrive.
        removed, done = 0, 0
        while rounds is None or done < rounds:
            count = self._execute(conn, self._cleanup_sql, (self.cleanup_batch,)).rowcount
            removed, done = removed + count, done + 1
            if count < self.cleanup_batch:
                break
        return removed

    async def _adelete_expired(self, conn: psycopg.AsyncConnection[Any], rounds: int) -> int:
        removed = 0
        for _ in range(rounds):
            cursor = await self._aexecute(conn, self._cleanup_sql, (self.cleanup_batch,))
            removed += cursor.rowcount
            if cursor.rowcount < self.cleanup_batch:
                break
        return removed

    def _write(self, statement: sql.Composed, params: tuple[object, ...]) -> int:
        try:
            with self._pool.connection() as conn:
                return self._execute(conn, statement, params).rowcount
        except psycopg.Error as exc:
            raise self._failed(exc) from exc

    # Async --------------------------------------------------------------------------------------

    async def aclaim(self, key: str, lease: float) -> Claim:
        """Async :meth:`claim`, on psycopg's ``AsyncConnection``."""
        token = secrets.token_hex(16)
        params = {"key": key, "token": token, "lease": float(lease)}
        try:
            async with self._apool.connection() as conn:
                row = await (await self._aexecute(conn, self._claim_sql, params)).fetchone()
                if next(self._claims) % self.cleanup_every == 0:
                    await self._adelete_expired(conn, self.cleanup_rounds)
        except psycopg.Error as exc:
            raise self._failed(exc) from exc
        return _claim(row, token)

    async def acomplete(self, key: str, token: str, retain_for: float) -> bool:
        """Async :meth:`complete`."""
        return await self._awrite(self._complete_sql, (key, token, float(retain_for))) > 0

    async def arenew(self, key: str, token: str, lease: float) -> bool:
        """Async :meth:`renew`."""
        return await self._awrite(self._renew_sql, (float(lease), key, token)) > 0

    async def arelease(self, key: str, token: str) -> bool:
        """Async :meth:`release`."""
        return await self._awrite(self._release_sql, (key, token)) > 0

    async def _awrite(self, statement: sql.Composed, params: tuple[object, ...]) -> int:
        try:
            async with self._apool.connection() as conn:
                return (await self._aexecute(conn, statement, params)).rowcount
        except psycopg.Error as exc:
            raise self._failed(exc) from exc

    # Life cycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Close this process's idle sync connections."""
        self._pool.close()

    async def aclose(self) -> None:
        """Close the idle connections, sync and async (the latter of the running loop)."""
        self._pool.close()
        await self._apool.close()

    def drop_table(self) -> None:
        """Drop the table (tests, uninstall). The next call creates it again."""
        try:
            with self._pool.connection() as conn:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._ident))
        except psycopg.Error as exc:
            raise self._failed(exc) from exc
        self._ready = False

    def __repr__(self) -> str:
        return f"PostgresStore(table={self.table!r})"


def session_limits(statement_timeout: float | None) -> tuple[str, tuple[str, str]] | None:
    """The statement that sets a connection's time limits, or ``None`` for the server's.

    Set per session after connecting (not as a startup ``options``, which PgBouncer refuses);
    the lock wait gets the same bound, so a locked table is reported as such.
    """
    if statement_timeout is None or statement_timeout <= 0:
        return None
    ms = f"{max(1, round(statement_timeout * 1000))}ms"
    return (
        "SELECT set_config('statement_timeout', %s, false), set_config('lock_timeout', %s, false)",
        (ms, ms),
    )


def _claim(row: tuple[str] | Any, token: str) -> Claim:
    state = _STATES[row[0]] if row else ClaimState.IN_FLIGHT
    return Claim(state, token if state is ClaimState.NEW else None)


def _close(conn: psycopg.Connection[Any]) -> None:
    conn.close()


async def _aclose(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.close()


def _abandon(conn: psycopg.AsyncConnection[Any]) -> None:
    conn.pgconn.finish()
