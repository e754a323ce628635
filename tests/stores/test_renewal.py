"""Leases are renewed while handlers run: a handler three times slower than the lease runs
once, while copies of its event that arrive meanwhile are told it is in flight."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from store_kit import Driver, drop_backend, fax, status_of

from hookreceiver import DeliveryContext, Response
from hookreceiver.stores import ClaimState, MemoryStore, Store

LEASE = 1.0
SLOW = 3 * LEASE
# Copies arrive once the first lease has run out, and again after the second would have.
COPIES_AT = (1.3 * LEASE, 2.3 * LEASE)


@pytest.fixture(params=["memory", "sqlite", "redis", "postgres"])
def real_store(
    request: pytest.FixtureRequest, tmp_path: Path, namespace: str
) -> Iterator[tuple[Store, Any]]:
    """Each store on its real clock, and how to make a second view of the same backend."""
    made: list[Store] = []
    spec: dict[str, Any] = {"kind": request.param}
    if request.param == "memory":
        shared = MemoryStore()

        def make() -> Store:
            return shared

    elif request.param == "sqlite":
        from hookreceiver.stores import SQLiteStore

        def make() -> Store:
            return SQLiteStore(tmp_path / "claims.db")

    elif request.param == "redis":
        from hookreceiver.stores import RedisStore

        spec.update(url=request.getfixturevalue("redis_url"), prefix=f"{namespace}:")

        def make() -> Store:
            return RedisStore(spec["url"], prefix=spec["prefix"])

    else:
        from hookreceiver.stores import PostgresStore

        spec.update(dsn=request.getfixturevalue("postgres_dsn"), table=namespace)

        def make() -> Store:
            return PostgresStore(spec["dsn"], table=spec["table"])

    def view() -> Store:
        made.append(make())
        return made[-1]

    yield view(), view
    for store in made:
        store.close()
    if spec["kind"] in ("redis", "postgres"):
        drop_backend(spec)


def test_a_sync_handler_three_times_slower_than_the_lease_runs_once(
    real_store: tuple[Store, Any],
) -> None:
    store, view = real_store
    driver = Driver("sync")
    try:
        _sync_scenario(driver, store, view)
    finally:
        driver.close()


def _sync_scenario(driver: Driver, store: Store, view: Any) -> None:
    hooks = driver.receiver(store, lease=LEASE)
    runs: list[str] = []
    started = threading.Event()

    @hooks.on("*")
    def slow(event: Any, ctx: DeliveryContext) -> None:
        runs.append(ctx.delivery_id)
        started.set()
        time.sleep(SLOW)

    answers: list[Response] = []
    first = threading.Thread(target=lambda: answers.append(driver.send(hooks, fax("slow")[0])))
    first.start()
    assert started.wait(10)
    began = time.monotonic()
    copies = []
    elsewhere = driver.receiver(view(), lease=LEASE)  # another process's view of the store
    elsewhere.on("*")(lambda event, ctx: runs.append(ctx.delivery_id))
    for at in COPIES_AT:
        time.sleep(max(0.0, began + at - time.monotonic()))
        copies.append(status_of(driver.send(elsewhere, fax("slow")[0])))
    first.join(SLOW + 10)
    assert [status_of(a) for a in answers] == [(200, "handled")]
    assert copies == [(503, "in_flight")] * 2
    assert status_of(driver.send(elsewhere, fax("slow")[0])) == (200, "duplicate")
    assert len(runs) == 1


def test_an_async_handler_three_times_slower_than_the_lease_runs_once(
    real_store: tuple[Store, Any],
) -> None:
    store, view = real_store
    driver = Driver("async")
    try:
        _async_scenario(driver, store, view)
    finally:
        driver.close()


def _async_scenario(driver: Driver, store: Store, view: Any) -> None:
    hooks = driver.receiver(store, lease=LEASE)
    elsewhere = driver.receiver(view(), lease=LEASE)
    runs: list[str] = []

    @hooks.on("*")
    async def slow(event: Any, ctx: DeliveryContext) -> None:
        runs.append(ctx.delivery_id)
        await asyncio.sleep(SLOW)

    elsewhere.on("*")(lambda event, ctx: runs.append(ctx.delivery_id))

    async def copy_at(delay: float) -> Response:
        await asyncio.sleep(delay)
        return await elsewhere.ahandle(fax("slow")[0])

    async def scenario() -> list[Response]:
        return await asyncio.gather(
            hooks.ahandle(fax("slow")[0]), *(copy_at(at) for at in COPIES_AT)
        )

    assert driver.loop is not None
    answers = [status_of(a) for a in driver.loop.run_until_complete(scenario())]
    assert answers == [(200, "handled"), (503, "in_flight"), (503, "in_flight")]
    assert status_of(driver.send(elsewhere, fax("slow")[0])) == (200, "duplicate")
    assert len(runs) == 1


def test_a_finished_delivery_is_no_longer_renewed() -> None:
    """A claim is let go with its handlers: no renewal once the delivery is done."""
    renewals: list[str] = []

    class Counting(MemoryStore):
        def renew(self, key: str, token: str, lease: float) -> bool:
            renewals.append(key)
            return super().renew(key, token, lease)

    for mode in ("sync", "async"):
        driver = Driver(mode)
        hooks = driver.receiver(Counting(), lease=0.15)
        hooks.on("*")(lambda event, ctx: None)
        for n in range(20):
            assert status_of(driver.send(hooks, fax(f"fast-{mode}-{n}")[0]))[0] == 200
        after_the_last = len(renewals)
        if driver.loop is not None:
            driver.loop.run_until_complete(asyncio.sleep(0.4))
        else:
            time.sleep(0.4)
        assert len(renewals) == after_the_last
        driver.close()


def test_a_claim_whose_process_stopped_renewing_is_taken_over_after_the_lease(
    real_store: tuple[Store, Any],
) -> None:
    store, view = real_store
    claim = store.claim("faxplus:fax_received:dead", LEASE)
    assert claim.state is ClaimState.NEW
    other = view()
    assert other.claim("faxplus:fax_received:dead", LEASE).state is ClaimState.IN_FLIGHT
    time.sleep(LEASE * 1.3)  # nobody renews: its process died
    assert other.claim("faxplus:fax_received:dead", LEASE).state is ClaimState.NEW
