"""PostgreSQL calls have a time limit: a locked table gives the sender its retry status (503)
within a bounded time instead of holding the delivery for as long as the lock lasts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from store_kit import Driver, drop_backend, fax, status_of

BOUND = 1.0


@contextmanager
def locked(dsn: str, table: str, *, at_most: float = 10.0) -> Iterator[None]:
    """``LOCK TABLE ... IN ACCESS EXCLUSIVE MODE`` in a transaction left open by another
    connection; released after ``at_most`` seconds whatever happens (a hang fails, not waits)."""
    import psycopg

    conn = psycopg.connect(dsn)
    conn.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
    release = threading.Timer(at_most, conn.rollback)
    release.start()
    try:
        yield
    finally:
        release.cancel()
        conn.rollback()
        conn.close()


def test_a_locked_claims_table_is_answered_503_within_the_statement_timeout(
    postgres_dsn: str, namespace: str, driver: Driver
) -> None:
    from hookreceiver.stores import PostgresStore

    hooks = driver.receiver(PostgresStore(postgres_dsn, table=namespace, statement_timeout=BOUND))
    runs: list[str] = []
    hooks.on("*")(lambda event, ctx: runs.append(ctx.idempotency_key))
    try:
        assert status_of(driver.send(hooks, fax("before")[0])) == (200, "handled")
        with locked(postgres_dsn, namespace, at_most=6.0):
            started = time.monotonic()
            response = driver.send(hooks, fax("during")[0])
            took = time.monotonic() - started
        assert status_of(response) == (503, "store_unavailable")
        assert took < BOUND + 2.0
        assert runs == ["faxplus:fax_received:before"]
        # The lock gone, the sender's retry is handled.
        assert status_of(driver.send(hooks, fax("during")[0])) == (200, "handled")
    finally:
        drop_backend({"kind": "postgres", "dsn": postgres_dsn, "table": namespace})


def test_a_new_connection_to_a_locked_table_is_bounded_too(
    postgres_dsn: str, namespace: str, driver: Driver
) -> None:
    from hookreceiver.stores import PostgresStore

    first = PostgresStore(postgres_dsn, table=namespace)
    first.claim("made", 30)  # the table exists
    first.close()
    hooks = driver.receiver(PostgresStore(postgres_dsn, table=namespace, statement_timeout=BOUND))
    hooks.on("*")(lambda event, ctx: None)
    try:
        with locked(postgres_dsn, namespace, at_most=6.0):
            started = time.monotonic()
            response = driver.send(hooks, fax("fresh")[0])
            took = time.monotonic() - started
        assert status_of(response) == (503, "store_unavailable")
        assert took < BOUND + 2.0
    finally:
        drop_backend({"kind": "postgres", "dsn": postgres_dsn, "table": namespace})


def test_the_default_time_limit_is_a_few_seconds_and_can_be_turned_off(
    postgres_dsn: str, namespace: str
) -> None:
    from hookreceiver.stores import PostgresStore

    def setting(store: Any) -> tuple[str, str]:
        with store._pool.connection() as conn:
            row = conn.execute(
                "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')"
            ).fetchone()
        store.close()
        return tuple(row)

    try:
        assert setting(PostgresStore(postgres_dsn, table=namespace)) == ("5s", "5s")
        assert setting(PostgresStore(postgres_dsn, table=namespace, statement_timeout=0.25)) == (
            "250ms",
            "250ms",
        )
        assert setting(PostgresStore(postgres_dsn, table=namespace, statement_timeout=None)) == (
            "0",
            "0",
        )
    finally:
        drop_backend({"kind": "postgres", "dsn": postgres_dsn, "table": namespace})
