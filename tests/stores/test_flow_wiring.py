"""The store wired into the flow, through ``Receiver.handle`` and ``Receiver.ahandle``, on every
store: claim before dispatch, complete after success, release after failure, duplicates."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from store_kit import Driver, Kit, fax, status_of

from hookreceiver import DeliveryContext, StoreUnavailable
from hookreceiver.stores import Claim, ClaimState, Store

LEASE = 0.3


def test_event_is_handled_once_and_its_duplicate_answered_handled(kit: Kit, driver: Driver) -> None:
    hooks = driver.receiver(kit.new())
    runs: list[str] = []
    hooks.on("faxplus.fax_received")(lambda event, ctx: runs.append(ctx.idempotency_key))
    delivery, key = fax("a1")
    assert status_of(driver.send(hooks, delivery)) == (200, "handled")
    assert status_of(driver.send(hooks, fax("a1")[0])) == (200, "duplicate")
    assert runs == [key]
    assert kit.new().claim(key, 30) == Claim(ClaimState.DONE)


def test_duplicate_in_flight_gets_the_retry_status_until_released(kit: Kit, driver: Driver) -> None:
    hooks = driver.receiver(kit.new())
    runs: list[str] = []
    hooks.on("*")(lambda event, ctx: runs.append(ctx.idempotency_key))
    delivery, key = fax("b1")
    elsewhere = kit.new()
    held = elsewhere.claim(key, 30)  # another worker is handling it right now
    assert held.token is not None
    response = driver.send(hooks, delivery)
    assert status_of(response) == (503, "in_flight")
    assert ("retry-after", "5") in response.headers
    assert runs == []
    assert elsewhere.release(key, held.token)  # that worker failed: the retry is handled
    assert status_of(driver.send(hooks, fax("b1")[0])) == (200, "handled")
    assert runs == [key]


def test_failed_handler_releases_the_claim_so_the_retry_is_handled(
    kit: Kit, driver: Driver
) -> None:
    hooks = driver.receiver(kit.new())
    attempts: list[str] = []

    @hooks.on("faxplus.fax_received")
    def flaky(event: Any, ctx: DeliveryContext) -> None:
        attempts.append(ctx.delivery_id)
        if len(attempts) == 1:
            raise RuntimeError("downstream fax archive is down")

    assert status_of(driver.send(hooks, fax("c1")[0])) == (500, "handler_failed")
    assert status_of(driver.send(hooks, fax("c1")[0])) == (200, "handled")
    assert status_of(driver.send(hooks, fax("c1")[0])) == (200, "duplicate")
    assert len(attempts) == 2


def test_claim_of_a_dead_worker_is_handled_after_its_lease(kit: Kit, driver: Driver) -> None:
    hooks = driver.receiver(kit.new())
    runs: list[str] = []
    hooks.on("*")(lambda event, ctx: runs.append(ctx.idempotency_key))
    delivery, key = fax("d1")
    assert kit.new().claim(key, LEASE).state is ClaimState.NEW  # then that worker died
    assert status_of(driver.send(hooks, delivery)) == (503, "in_flight")
    kit.advance(LEASE + 0.05)
    assert status_of(driver.send(hooks, fax("d1")[0])) == (200, "handled")
    assert runs == [key]


def test_retention_is_the_receivers_setting(kit: Kit, driver: Driver) -> None:
    hooks = driver.receiver(kit.new(), retain_for=LEASE)
    runs: list[str] = []
    hooks.on("*")(lambda event, ctx: runs.append(ctx.idempotency_key))
    assert status_of(driver.send(hooks, fax("e1")[0])) == (200, "handled")
    assert status_of(driver.send(hooks, fax("e1")[0])) == (200, "duplicate")
    kit.advance(LEASE + 0.05)
    assert status_of(driver.send(hooks, fax("e1")[0])) == (200, "handled")
    assert len(runs) == 2


def test_handler_outliving_its_lease_is_logged(
    kit: Kit, driver: Driver, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = kit.new()
    # Renewals that never reach the store (a partition): the lease runs out regardless.
    monkeypatch.setattr(store, "renew", lambda *args: True)

    async def arenew(*args: Any) -> bool:
        return True

    monkeypatch.setattr(store, "arenew", arenew)
    hooks = driver.receiver(store, lease=LEASE)
    taken_over: list[Claim] = []

    @hooks.on("*")
    def slow(event: Any, ctx: DeliveryContext) -> None:
        kit.advance(LEASE + 0.05)
        taken_over.append(kit.new().claim(ctx.idempotency_key, 30))

    with caplog.at_level(logging.WARNING, logger="hookreceiver"):
        assert status_of(driver.send(hooks, fax("f1")[0])) == (200, "handled")
    assert taken_over[0].state is ClaimState.NEW
    assert "ran out before its handlers finished" in caplog.text


class _FailsAfterClaim(Store):
    """Claims work; the store goes away before ``complete``/``release``."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def claim(self, key: str, lease: float) -> Claim:
        return self.inner.claim(key, lease)

    def complete(self, key: str, token: str, retain_for: float) -> bool:
        raise StoreUnavailable("connection reset")

    def release(self, key: str, token: str) -> bool:
        raise StoreUnavailable("connection reset")


@pytest.mark.parametrize("fails", [False, True])
def test_store_lost_after_the_handlers_answers_by_their_result(
    kit: Kit, driver: Driver, fails: bool, caplog: pytest.LogCaptureFixture
) -> None:
    hooks = driver.receiver(_FailsAfterClaim(kit.new()))

    @hooks.on("*")
    def handler(event: Any, ctx: DeliveryContext) -> None:
        if fails:
            raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="hookreceiver"):
        response = driver.send(hooks, fax("g1")[0])
    assert status_of(response) == ((500, "handler_failed") if fails else (200, "handled"))
    assert "store unavailable after handling" in caplog.text


class _ThreadRecorder(Store):
    """Delegates to a memory store and records which thread each sync call ran on."""

    def __init__(self, blocking: bool) -> None:
        from hookreceiver.stores import MemoryStore

        self.inner = MemoryStore()
        self.threads: list[int] = []
        self.blocking = blocking  # type: ignore[misc]  # per instance here, for the test

    def claim(self, key: str, lease: float) -> Claim:
        self.threads.append(threading.get_ident())
        return self.inner.claim(key, lease)

    def complete(self, key: str, token: str, retain_for: float) -> bool:
        self.threads.append(threading.get_ident())
        return self.inner.complete(key, token, retain_for)

    def release(self, key: str, token: str) -> bool:
        self.threads.append(threading.get_ident())
        return self.inner.release(key, token)


@pytest.mark.parametrize("blocking", [True, False])
@pytest.mark.parametrize("fails", [False, True])
def test_only_a_non_blocking_store_is_called_on_the_event_loop(blocking: bool, fails: bool) -> None:
    store = _ThreadRecorder(blocking)
    driver = Driver("async")
    try:
        hooks = driver.receiver(store)

        @hooks.on("*")
        async def handler(event: Any, ctx: DeliveryContext) -> None:
            if fails:
                raise RuntimeError("boom")

        loop_thread: list[int] = []
        assert driver.loop is not None
        driver.loop.run_until_complete(_record_thread(loop_thread))
        response = driver.send(hooks, fax("t1")[0])
        assert status_of(response) == ((500, "handler_failed") if fails else (200, "handled"))
        assert len(store.threads) == 2  # claim, then complete or release
        on_loop = [ident == loop_thread[0] for ident in store.threads]
        assert on_loop == [not blocking] * 2
    finally:
        driver.close()


async def _record_thread(into: list[int]) -> None:
    into.append(threading.get_ident())
