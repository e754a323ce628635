"""PostgresInbox calls have a time limit: with its table locked, a delivery is not held for as
long as the lock lasts; keeping it fails within the bound and it is handled at once instead (as
when the database is down), and a worker's take reports the inbox unavailable."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from inbox_support import kazoo_delivery, kazoo_receiver

from hookreceiver import StoreUnavailable
from hookreceiver.inbox import PostgresInbox

BOUND = 1.0


@contextmanager
def locked(dsn: str, table: str, *, at_most: float = 6.0) -> Iterator[None]:
    """The table locked by another connection's open transaction (released after ``at_most``
    seconds whatever happens: a hang fails the test rather than stalling it)."""
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


@pytest.fixture
def bounded_inbox(postgres_dsn: str) -> Iterator[PostgresInbox]:
    table = f"hr_inbox_test_{secrets.token_hex(4)}"
    box = PostgresInbox(postgres_dsn, table=table, statement_timeout=BOUND)
    box.list()  # the table exists
    yield box
    box.drop()
    box.close()


def test_a_locked_inbox_falls_back_to_handling_within_the_bound(
    bounded_inbox: PostgresInbox, postgres_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    hooks = kazoo_receiver(bounded_inbox)
    runs: list[str] = []
    hooks.on("*")(lambda event, ctx: runs.append(ctx.delivery_id))
    with caplog.at_level(logging.ERROR, logger="hookreceiver"):
        with locked(postgres_dsn, bounded_inbox.table):
            started = time.monotonic()
            response = hooks.handle(kazoo_delivery())
            took = time.monotonic() - started
    assert took < BOUND + 2.0
    assert (response.status, json.loads(response.body)["status"]) == (200, "handled")
    assert len(runs) == 1
    assert "inbox unavailable for delivery" in caplog.text


def test_a_worker_take_on_a_locked_inbox_reports_it_unavailable_within_the_bound(
    bounded_inbox: PostgresInbox, postgres_dsn: str
) -> None:
    with locked(postgres_dsn, bounded_inbox.table):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            bounded_inbox.take("worker-token")
        assert time.monotonic() - started < BOUND + 2.0


def test_the_inbox_default_time_limit_is_a_few_seconds(postgres_dsn: str) -> None:
    box = PostgresInbox(postgres_dsn, table=f"hr_inbox_test_{secrets.token_hex(4)}")
    try:
        with box._connection() as conn:
            row = conn.execute("SELECT current_setting('statement_timeout') AS s", ()).fetchone()
        assert row["s"] == "5s"
    finally:
        box.drop()
        box.close()
