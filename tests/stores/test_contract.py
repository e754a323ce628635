"""The contract every store keeps, run for real against memory, SQLite, Redis and PostgreSQL,
through both the sync and the async methods."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from store_kit import Kit

from hookreceiver.stores import Claim, ClaimState, Store

T = TypeVar("T")
LEASE = 0.3  # Redis and PostgreSQL expire on the server's clock: short, real leases.
NEW, DONE, IN_FLIGHT = ClaimState.NEW, ClaimState.DONE, ClaimState.IN_FLIGHT


class Ops:
    """The store's three calls, sync or async (one event loop per test, never one per call)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.loop = asyncio.new_event_loop() if mode == "async" else None
        self.used: list[Store] = []

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self.loop is not None
        return self.loop.run_until_complete(coro)

    def claim(self, store: Store, key: str, lease: float = LEASE) -> Claim:
        self.used.append(store)
        if self.loop is None:
            return store.claim(key, lease)
        return self._run(store.aclaim(key, lease))

    def complete(self, store: Store, key: str, token: str | None, retain_for: float = 60) -> bool:
        assert token is not None
        if self.loop is None:
            return store.complete(key, token, retain_for)
        return self._run(store.acomplete(key, token, retain_for))

    def release(self, store: Store, key: str, token: str | None) -> bool:
        assert token is not None
        if self.loop is None:
            return store.release(key, token)
        return self._run(store.arelease(key, token))

    def renew(self, store: Store, key: str, token: str | None, lease: float = LEASE) -> bool:
        assert token is not None
        if self.loop is None:
            return store.renew(key, token, lease)
        return self._run(store.arenew(key, token, lease))

    def lease_left(self, store: Store, key: str) -> float | None:
        self.used.append(store)
        if self.loop is None:
            return store.lease_left(key)
        return self._run(store.alease_left(key))

    def close(self) -> None:
        if self.loop is not None:
            for store in dict.fromkeys(self.used):
                self._run(store.aclose())
            self.loop.close()


@pytest.fixture(params=["sync", "async"])
def ops(request: pytest.FixtureRequest) -> Iterator[Ops]:
    made = Ops(request.param)
    yield made
    made.close()


def test_new_key_is_new_with_a_token_then_in_flight(kit: Kit, ops: Ops) -> None:
    store, other = kit.new(), kit.new()
    first = ops.claim(store, "fax:1")
    assert first.state is NEW and first.token
    assert ops.claim(store, "fax:1") == Claim(IN_FLIGHT)
    assert ops.claim(other, "fax:1") == Claim(IN_FLIGHT)
    assert ops.claim(other, "fax:2").state is NEW


def test_completed_key_is_done_for_every_worker(kit: Kit, ops: Ops) -> None:
    store, other = kit.new(), kit.new()
    claim = ops.claim(store, "fax:1")
    assert ops.complete(store, "fax:1", claim.token)
    assert ops.claim(store, "fax:1") == Claim(DONE)
    assert ops.claim(other, "fax:1") == Claim(DONE)


def test_released_key_is_handled_again_on_retry(kit: Kit, ops: Ops) -> None:
    store, other = kit.new(), kit.new()
    first = ops.claim(store, "fax:1")
    assert ops.release(store, "fax:1", first.token)
    retry = ops.claim(other, "fax:1")
    assert retry.state is NEW and retry.token != first.token
    assert ops.complete(other, "fax:1", retry.token)
    assert ops.claim(store, "fax:1") == Claim(DONE)


def test_claim_of_a_dead_worker_expires_after_its_lease(kit: Kit, ops: Ops) -> None:
    dead, alive = kit.new(), kit.new()
    stale = ops.claim(dead, "fax:1", lease=LEASE)
    kit.advance(LEASE / 3)
    assert ops.claim(alive, "fax:1").state is IN_FLIGHT
    kit.advance(LEASE)
    fresh = ops.claim(alive, "fax:1")
    assert fresh.state is NEW
    # The stale worker wakes up: it can neither finish nor free the new owner's claim.
    assert not ops.complete(dead, "fax:1", stale.token)
    assert not ops.release(dead, "fax:1", stale.token)
    assert ops.claim(dead, "fax:1").state is IN_FLIGHT
    assert ops.complete(alive, "fax:1", fresh.token)
    assert ops.claim(dead, "fax:1").state is DONE


def test_only_the_owner_token_completes_or_releases(kit: Kit, ops: Ops) -> None:
    store = kit.new()
    claim = ops.claim(store, "fax:1")
    assert not ops.complete(store, "fax:1", "not-the-token")
    assert not ops.release(store, "fax:1", "not-the-token")
    assert not ops.renew(store, "fax:1", "not-the-token")
    assert not ops.release(store, "fax:other", claim.token)
    assert ops.claim(store, "fax:1").state is IN_FLIGHT
    assert ops.complete(store, "fax:1", claim.token)
    # Done is final: neither a second complete nor a late release undoes it.
    assert not ops.complete(store, "fax:1", claim.token)
    assert not ops.release(store, "fax:1", claim.token)
    assert ops.claim(store, "fax:1").state is DONE


def test_a_renewed_claim_outlives_its_lease_and_only_the_owner_renews(kit: Kit, ops: Ops) -> None:
    store, other = kit.new(), kit.new()
    claim = ops.claim(store, "fax:1", lease=LEASE)
    for _ in range(3):  # three renewals carry the claim through twice its lease
        kit.advance(LEASE * 2 / 3)
        assert ops.renew(store, "fax:1", claim.token, lease=LEASE)
        assert ops.claim(other, "fax:1").state is IN_FLIGHT
    assert not ops.renew(other, "fax:1", "not-the-token")
    assert ops.complete(store, "fax:1", claim.token)
    assert not ops.renew(store, "fax:1", claim.token)  # done: nothing left to renew
    assert ops.claim(other, "fax:1").state is DONE


def test_a_claim_no_longer_renewed_is_taken_over(kit: Kit, ops: Ops) -> None:
    dead, alive = kit.new(), kit.new()
    stale = ops.claim(dead, "fax:1", lease=LEASE)
    kit.advance(LEASE * 2 / 3)
    assert ops.renew(dead, "fax:1", stale.token, lease=LEASE)
    kit.advance(LEASE * 1.5)  # the worker died: no more renewals
    fresh = ops.claim(alive, "fax:1")
    assert fresh.state is NEW
    assert not ops.renew(dead, "fax:1", stale.token)


def test_a_late_complete_wins_over_an_expired_claim_nobody_took(kit: Kit, ops: Ops) -> None:
    store, other = kit.new(), kit.new()
    claim = ops.claim(store, "fax:1", lease=LEASE)
    kit.advance(LEASE * 1.5)  # the store was down past the lease; nobody claimed the key
    assert ops.complete(store, "fax:1", claim.token)
    assert ops.claim(other, "fax:1") == Claim(DONE)


def test_a_complete_of_a_claim_the_store_lost_marks_the_key_done(kit: Kit, ops: Ops) -> None:
    # A Redis restart without persistence, or a clean-up of the expired claim: the key is free.
    store, other = kit.new(), kit.new()
    claim = ops.claim(store, "fax:1")
    assert ops.complete(store, "fax:lost", claim.token)
    assert ops.claim(other, "fax:lost") == Claim(DONE)
    assert not ops.complete(other, "fax:lost", "another-token")


def test_done_key_is_forgotten_after_its_retention(kit: Kit, ops: Ops) -> None:
    store = kit.new()
    claim = ops.claim(store, "fax:1", lease=60)
    assert ops.complete(store, "fax:1", claim.token, retain_for=LEASE)
    kit.advance(LEASE / 3)
    assert ops.claim(store, "fax:1").state is DONE
    kit.advance(LEASE)
    assert ops.claim(store, "fax:1").state is NEW


def test_keys_are_independent(kit: Kit, ops: Ops) -> None:
    store = kit.new()
    a, b = ops.claim(store, "documo:a"), ops.claim(store, "documo:b")
    assert ops.complete(store, "documo:a", a.token)
    assert ops.release(store, "documo:b", b.token)
    assert ops.claim(store, "documo:a").state is DONE
    assert ops.claim(store, "documo:b").state is NEW


def test_concurrent_claims_of_one_key_have_exactly_one_winner(kit: Kit) -> None:
    stores = [kit.new() for _ in range(4)]
    barrier = threading.Barrier(16)
    answers: list[ClaimState] = []

    def claim(store: Store) -> None:
        barrier.wait()
        answers.append(store.claim("zipwhip:race", 30).state)

    threads = [threading.Thread(target=claim, args=(stores[i % 4],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(answers) == sorted([NEW] + [IN_FLIGHT] * 15)


def test_concurrent_async_claims_of_one_key_have_exactly_one_winner(kit: Kit) -> None:
    store = kit.new()

    async def race() -> list[Claim]:
        try:
            return await asyncio.gather(*(store.aclaim("updox:race", 30) for _ in range(16)))
        finally:
            await store.aclose()

    answers = [claim.state for claim in asyncio.run(race())]
    assert sorted(answers) == sorted([NEW] + [IN_FLIGHT] * 15)


def test_lease_left_tells_how_long_an_in_flight_claim_lasts(kit: Kit, ops: Ops) -> None:
    store, other = kit.new(), kit.new()
    assert ops.lease_left(other, "fax:1") == 0.0  # free
    held = ops.claim(store, "fax:1", 30)
    left = ops.lease_left(other, "fax:1")
    assert left is not None and 25 < left <= 30
    assert ops.renew(store, "fax:1", held.token, 60)
    left = ops.lease_left(other, "fax:1")
    assert left is not None and 55 < left <= 60
    assert ops.complete(store, "fax:1", held.token)
    assert ops.lease_left(other, "fax:1") == 0.0  # done: no claim in flight
    ops.claim(store, "fax:2")
    kit.advance(LEASE + 0.2)
    assert ops.lease_left(other, "fax:2") == 0.0  # its worker died: the claim ran out
