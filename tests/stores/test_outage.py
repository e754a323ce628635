"""A store that is down: the sender gets its retry status (503) fast, nothing runs, nothing is
marked, the outage is logged; the first delivery after the store is back is handled."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from store_kit import Driver, PrivateRedis, TcpProxy, drop_backend, fax, status_of, through

from hookreceiver import Receiver
from hookreceiver.stores import ClaimState, Store
from support.servers import free_port


def _outage_then_recovery(
    driver: Driver,
    store: Store,
    stop: Any,
    start: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hooks: Receiver = driver.receiver(store)
    runs: list[str] = []
    hooks.on("*")(lambda event, ctx: runs.append(ctx.idempotency_key))
    before, before_key = fax("up-1")
    assert status_of(driver.send(hooks, before)) == (200, "handled")

    stop()
    during, key = fax("down-1")
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="hookreceiver"):
        response = driver.send(hooks, during)
    assert time.monotonic() - started < 2.5
    assert status_of(response) == (503, "store_unavailable")
    assert ("retry-after", "5") in response.headers
    assert runs == [before_key]
    assert "store unavailable for faxplus.fax_received" in caplog.text
    assert "password" not in caplog.text

    start()
    # The sender's retry after the outage: handled, once.
    assert status_of(driver.send(hooks, fax("down-1")[0])) == (200, "handled")
    assert status_of(driver.send(hooks, fax("down-1")[0])) == (200, "duplicate")
    assert runs == [before_key, key]


def test_redis_outage_answers_503_and_recovers(
    private_redis: PrivateRedis, driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    from hookreceiver.stores import RedisStore

    store = RedisStore(private_redis.url, socket_timeout=1.0)
    _outage_then_recovery(driver, store, private_redis.stop, private_redis.start, caplog)


def test_redis_lost_during_the_handler_answers_by_its_result(
    private_redis: PrivateRedis, driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    from hookreceiver.stores import RedisStore

    hooks = driver.receiver(RedisStore(private_redis.url, socket_timeout=1.0))
    hooks.on("*")(lambda event, ctx: private_redis.stop())  # handled, then Redis goes away
    with caplog.at_level(logging.ERROR, logger="hookreceiver"):
        assert status_of(driver.send(hooks, fax("lost-1")[0])) == (200, "handled")
    assert "store unavailable after handling faxplus.fax_received" in caplog.text


def test_postgres_outage_answers_503_and_recovers(
    postgres_dsn: str,
    postgres_proxy: TcpProxy,
    namespace: str,
    driver: Driver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from hookreceiver.stores import PostgresStore

    store = PostgresStore(through(postgres_dsn, postgres_proxy.port), table=namespace)
    try:
        _outage_then_recovery(driver, store, postgres_proxy.stop, postgres_proxy.start, caplog)
        # Nothing was marked for the delivery refused during the outage but the one handled.
        check = PostgresStore(postgres_dsn, table=namespace)
        assert check.claim("faxplus:fax_received:down-1", 30).state is ClaimState.DONE
        check.close()
    finally:
        store.close()
        drop_backend({"kind": "postgres", "dsn": postgres_dsn, "table": namespace})


def test_postgres_on_a_closed_port_answers_503_fast(
    postgres_dsn: str, namespace: str, driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    from hookreceiver.stores import PostgresStore

    hooks = driver.receiver(PostgresStore(through(postgres_dsn, free_port()), table=namespace))
    runs: list[str] = []
    hooks.on("*")(lambda event, ctx: runs.append(ctx.idempotency_key))
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="hookreceiver"):
        assert status_of(driver.send(hooks, fax("p1")[0])) == (503, "store_unavailable")
    assert time.monotonic() - started < 2.5
    assert runs == []
    assert "PostgreSQL store" in caplog.text
