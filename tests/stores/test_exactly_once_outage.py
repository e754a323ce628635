"""Exactly once across a store outage between claim and complete.

The store goes down while a handler runs: the handler succeeds, ``complete`` fails. The flow
keeps the completion and retries it once the store is back; meanwhile a copy of the event in
this process is a duplicate without touching the store; and a late complete wins over the
claim that expired during the outage. So the sender's retry after the lease, reaching any
process, finds the event done: the handler ran once.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from store_kit import Driver, PrivateRedis, TcpProxy, drop_backend, fax, status_of, through

from hookreceiver import DeliveryContext, Receiver
from hookreceiver.stores import Store

LEASE = 0.5


def settled(driver: Driver, hooks: Receiver, timeout: float = 15.0) -> bool:
    """Wait until the receiver has no pending completion; an async receiver retries them as
    tasks on its loop, which runs meanwhile (as an ASGI server's does)."""
    if driver.loop is None:
        return hooks.pending_completions.wait(timeout)

    async def poll() -> bool:
        deadline = time.monotonic() + timeout
        while len(hooks.pending_completions):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    return driver.loop.run_until_complete(poll())


def _once_across_the_outage(
    driver: Driver,
    store: Store,
    other: Store,
    down: Callable[[], None],
    up: Callable[[], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    hooks: Receiver = driver.receiver(store, lease=LEASE)
    runs: list[str] = []

    @hooks.on("*")
    def handle(event: Any, ctx: DeliveryContext) -> None:
        runs.append(ctx.delivery_id)
        down()  # the store goes away while the handler runs

    delivery, key = fax("outage-1")
    with caplog.at_level(logging.INFO, logger="hookreceiver"):
        assert status_of(driver.send(hooks, delivery)) == (200, "handled")
        assert "its completion is retried in the background" in caplog.text
        # The sender's quick retry to this process, the store still down: a duplicate, told
        # without the store (which would answer 503).
        assert status_of(driver.send(hooks, fax("outage-1")[0])) == (200, "duplicate")
        time.sleep(LEASE * 1.5)  # the claim's lease runs out during the outage
        up()
        assert settled(driver, hooks), "the completion was never recorded"
        assert f"recorded {key} as handled once the store was back" in caplog.text
    # The sender's retry after the lease, to another process: done, not run again.
    elsewhere = driver.receiver(other, lease=LEASE)
    elsewhere.on("*")(lambda event, ctx: runs.append(ctx.delivery_id))
    assert status_of(driver.send(elsewhere, fax("outage-1")[0])) == (200, "duplicate")
    assert status_of(driver.send(hooks, fax("outage-1")[0])) == (200, "duplicate")
    assert len(runs) == 1
    assert "may run again" not in caplog.text


def test_redis_outage_between_claim_and_complete_runs_the_handler_once(
    private_redis: PrivateRedis, driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    from hookreceiver.stores import RedisStore

    # Restarted without persistence: the claim itself is gone when Redis is back.
    store = RedisStore(private_redis.url, socket_timeout=1.0)
    other = RedisStore(private_redis.url, socket_timeout=1.0)
    _once_across_the_outage(driver, store, other, private_redis.stop, private_redis.start, caplog)


def test_sqlite_outage_between_claim_and_complete_runs_the_handler_once(
    tmp_path: Path, driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    from hookreceiver.stores import SQLiteStore

    path = tmp_path / "claims.db"
    store = SQLiteStore(path, busy_timeout=0.2)
    other = SQLiteStore(path, busy_timeout=0.2)
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def down() -> None:  # another process holds the write lock: "database is locked"
        blocker.execute("BEGIN EXCLUSIVE")

    def up() -> None:
        blocker.execute("COMMIT")

    try:
        _once_across_the_outage(driver, store, other, down, up, caplog)
    finally:
        blocker.close()


def test_postgres_outage_between_claim_and_complete_runs_the_handler_once(
    postgres_dsn: str,
    postgres_proxy: TcpProxy,
    namespace: str,
    driver: Driver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from hookreceiver.stores import PostgresStore

    store = PostgresStore(through(postgres_dsn, postgres_proxy.port), table=namespace)
    other = PostgresStore(postgres_dsn, table=namespace)
    try:
        _once_across_the_outage(
            driver, store, other, postgres_proxy.stop, postgres_proxy.start, caplog
        )
    finally:
        drop_backend({"kind": "postgres", "dsn": postgres_dsn, "table": namespace})


def test_a_completion_that_cannot_be_recorded_is_logged_with_its_key_and_delivery(
    private_redis: PrivateRedis, driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    from hookreceiver.stores import RedisStore

    hooks = driver.receiver(
        RedisStore(private_redis.url, socket_timeout=0.5), lease=LEASE, completion_retry_for=1.0
    )
    ids: list[str] = []

    @hooks.on("*")
    def handle(event: Any, ctx: DeliveryContext) -> None:
        ids.append(ctx.delivery_id)
        private_redis.stop()  # and it stays down

    delivery, key = fax("never-back")
    with caplog.at_level(logging.INFO, logger="hookreceiver"):
        assert status_of(driver.send(hooks, delivery)) == (200, "handled")
        assert settled(driver, hooks)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    given_up = [m for m in errors if "could not record" in m]
    assert len(given_up) == 1
    assert key in given_up[0] and ids[0] in given_up[0] and "may run again" in given_up[0]


def test_a_completion_taken_over_meanwhile_is_logged(
    tmp_path: Path, driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    from hookreceiver.stores import SQLiteStore

    path = tmp_path / "claims.db"
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    hooks = driver.receiver(SQLiteStore(path, busy_timeout=0.2), lease=LEASE)
    hooks.on("*")(lambda event, ctx: blocker.execute("BEGIN EXCLUSIVE"))
    delivery, key = fax("taken-over")
    try:
        with caplog.at_level(logging.INFO, logger="hookreceiver"):
            assert status_of(driver.send(hooks, delivery)) == (200, "handled")
            time.sleep(LEASE * 1.5)
            # Past the lease, another worker reaches the store first and takes the key over.
            blocker.execute(
                "UPDATE hookreceiver_claims SET token = 'other', expires_at = ? WHERE key = ?",
                (time.time() + 60, key),
            )
            blocker.execute("COMMIT")
            assert settled(driver, hooks)
    finally:
        blocker.close()
    assert any(
        r.levelno == logging.ERROR and "another worker took it over" in r.getMessage()
        for r in caplog.records
    )


def test_an_async_app_retries_its_completion_with_its_own_async_client(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    import redis.asyncio

    from hookreceiver.stores import RedisStore

    driver = Driver("async")
    try:
        assert driver.loop is not None
        client = redis.asyncio.Redis.from_url(private_redis.url, socket_timeout=1.0)
        store = RedisStore(async_client=client)  # no URL: it has no sync client at all
        other = RedisStore(private_redis.url, socket_timeout=1.0)
        _once_across_the_outage(
            driver, store, other, private_redis.stop, private_redis.start, caplog
        )
        driver.loop.run_until_complete(client.aclose())
    finally:
        driver.close()
