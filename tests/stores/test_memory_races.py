"""The memory store takes a new key without its lock (one atomic setdefault): under threads
that race, each key still has one owner at a time, completions by a stale owner still fail,
and making room while others insert still works."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import pytest

from hookreceiver.stores import ClaimState, MemoryStore

NEW, DONE, IN_FLIGHT = ClaimState.NEW, ClaimState.DONE, ClaimState.IN_FLIGHT


@pytest.fixture(autouse=True)
def _switch_often() -> object:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads interleave between almost every bytecode
    yield None
    sys.setswitchinterval(interval)


def run_threads(count: int, target: Callable[[int], None]) -> None:
    barrier = threading.Barrier(count)

    def start(index: int) -> None:
        barrier.wait()
        target(index)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)


def test_racing_claims_of_new_keys_give_each_key_one_owner() -> None:
    store = MemoryStore()
    keys = [f"k{i}" for i in range(300)]
    won: list[list[str]] = [[] for _ in range(8)]

    def claim_all(index: int) -> None:
        for key in keys:
            claim = store.claim(key, 60)
            if claim.state is NEW:
                assert claim.token
                won[index].append(key)
            else:
                assert claim.state is IN_FLIGHT

    run_threads(8, claim_all)
    winners = [key for keys_won in won for key in keys_won]
    assert sorted(winners) == sorted(keys)  # every key claimed, and by one thread only


def test_expired_claims_taken_over_in_a_race_have_one_new_owner_and_stale_ones_fail() -> None:
    now = [0.0]
    store = MemoryStore(clock=lambda: now[0])
    keys = [f"k{i}" for i in range(200)]
    stale = {key: store.claim(key, 1).token for key in keys}
    now[0] = 5.0  # every first claim expired
    won: list[list[tuple[str, str]]] = [[] for _ in range(6)]

    def take_over(index: int) -> None:
        for key in keys:
            if index % 2:  # the stale owners try to finish meanwhile: never over a new owner
                token = stale[key]
                assert token is not None
                store.complete(key, token, 60)
            claim = store.claim(key, 60)
            if claim.state is NEW:
                assert claim.token is not None
                won[index].append((key, claim.token))

    run_threads(6, take_over)
    owners: dict[str, list[str]] = {}
    for pairs in won:
        for key, token in pairs:
            owners.setdefault(key, []).append(token)
    for key in keys:
        state = store._entries[key][0]
        if state == DONE.value:  # a stale owner finished before anyone took the key over
            assert key not in owners
            continue
        (token,) = owners[key]  # else exactly one new owner, who can finish it
        stale_token = stale[key]
        assert stale_token is not None
        assert not store.complete(key, stale_token, 60)
        assert store.complete(key, token, 60)


def test_room_is_made_while_other_threads_claim_new_keys() -> None:
    store = MemoryStore(max_keys=500)

    def claim_and_finish(index: int) -> None:
        for number in range(3000):
            key = f"t{index}-{number}"
            claim = store.claim(key, 60)
            assert claim.state is NEW and claim.token is not None
            assert store.complete(key, claim.token, 600)

    run_threads(6, claim_and_finish)
    assert len(store) <= 500 + 6  # the bound, give or take the claims made without the lock


class Interleaved(dict):  # type: ignore[type-arg]
    """The store's dict, where another claim runs right after a look-up: the interleaving
    that threads reach only by chance, made every time."""

    def __init__(self, meddle: Callable[[str], None]) -> None:
        super().__init__()
        self.meddle: Callable[[str], None] | None = meddle

    def get(self, key: str, default: object = None) -> object:
        found = super().get(key, default)
        meddle, self.meddle = self.meddle, None  # once
        if meddle is not None:
            meddle(key)
        return found


def test_a_claim_that_loses_the_race_for_a_new_key_is_in_flight() -> None:
    store = MemoryStore()
    rival: list[object] = []
    store._entries = Interleaved(lambda key: rival.append(store.claim(key, 60)))
    mine = store.claim("k", 60)
    (theirs,) = rival
    assert theirs.state is NEW  # type: ignore[attr-defined]
    assert mine.state is IN_FLIGHT


def test_a_takeover_that_loses_the_race_is_in_flight() -> None:
    now = [0.0]
    store = MemoryStore(clock=lambda: now[0])
    store.claim("k", 1)
    now[0] = 5.0
    rival: list[object] = []

    class RivalAfterDelete(dict):  # type: ignore[type-arg]
        def __delitem__(self, key: str) -> None:  # the locked takeover dropped the expired
            super().__delitem__(key)  # claim: a claim without the lock comes in right then
            rival.append(store.claim(key, 60))

    store._entries = RivalAfterDelete(store._entries)
    mine = store.claim("k", 60)
    (theirs,) = rival
    assert theirs.state is NEW  # type: ignore[attr-defined]
    assert mine.state is IN_FLIGHT


def test_completing_a_dropped_key_does_not_overwrite_a_new_claim() -> None:
    store = MemoryStore()
    rival: list[object] = []
    store._entries = Interleaved(lambda key: rival.append(store.claim(key, 60)))
    assert not store.complete("k", "a lost token", 60)  # the key was claimed meanwhile
    (theirs,) = rival
    assert store.complete("k", theirs.token, 60)  # type: ignore[attr-defined]


def test_making_room_scans_again_when_a_key_is_added_meanwhile() -> None:
    class Growing(dict):  # type: ignore[type-arg]
        grown = False

        def items(self):  # type: ignore[no-untyped-def]
            for item in super().items():
                if not self.grown:
                    self.grown = True
                    self["late"] = (DONE.value, "t", 1e18)  # as a claim without the lock
                yield item

    store = MemoryStore(max_keys=100)
    for number in range(100):
        claim = store.claim(f"k{number}", 60)
        assert claim.token is not None
        store.complete(f"k{number}", claim.token, 600)
    entries = Growing(store._entries)
    store._entries = entries
    assert store.claim("new", 60).state is NEW
    assert entries.grown
    assert "k0" not in entries  # the oldest handled key made room, the scan done again
    assert "new" in entries and "late" in entries and len(entries) == 101
