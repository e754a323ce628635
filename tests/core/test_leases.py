"""The lease keeper: held leases are renewed every third of their lease until let go; a lost
one is no longer renewed, one that could not be reached is tried again; and the completions a
store refused are bounded."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time

import pytest

from hookreceiver.core.leases import Lease, PendingCompletions, hold, let_go
from hookreceiver.stores import ClaimState, MemoryStore


class Counted(Lease):
    def __init__(self, lease: float, answers: list[bool | None]) -> None:
        super().__init__(lease)
        self.answers = answers
        self.times: list[float] = []
        self.done = threading.Event()

    def renew(self) -> bool | None:
        self.times.append(time.monotonic())
        answer = self.answers.pop(0) if self.answers else True
        if not self.answers:
            self.done.set()
        return answer


def test_a_held_lease_is_renewed_about_every_third_until_let_go() -> None:
    lease = Counted(0.6, [True, True, True])
    started = time.monotonic()
    held = hold(lease)
    assert lease.done.wait(10)
    let_go(held)
    count = len(lease.times)
    time.sleep(0.6)
    assert len(lease.times) == count  # let go: no more renewals
    gaps = [b - a for a, b in itertools.pairwise([started, *lease.times])]
    assert all(0.15 <= gap < 0.6 for gap in gaps), gaps  # never a whole lease apart


def test_a_lost_lease_is_no_longer_renewed_and_an_unreachable_one_is_retried() -> None:
    lost = Counted(0.3, [False])
    flaky = Counted(0.3, [None, None, True])
    held = [hold(lost), hold(flaky)]
    assert flaky.done.wait(10) and lost.done.wait(10)
    time.sleep(0.4)
    for hold_id in held:
        let_go(hold_id)
    assert len(lost.times) == 1
    assert len(flaky.times) >= 3


def test_pending_completions_are_bounded_and_say_what_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pending = PendingCompletions(retry_for=60, max_entries=1)
    store = MemoryStore()
    first = store.claim("k1", 30)
    assert first.token is not None
    with caplog.at_level(logging.INFO, logger="hookreceiver"):
        pending.add(store, "k1", first.token, 60, "d1")
        pending.add(store, "k2", "t2", 60, "d2")  # full: dropped at once, said at ERROR
        assert "k1" in pending and "k2" not in pending
        assert pending.wait(10)
    dropped = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(dropped) == 1 and "k2" in dropped[0] and "d2" in dropped[0]
    assert "recorded k1 as handled once the store was back (delivery d1)" in caplog.text


def test_a_completion_kept_on_a_loop_since_closed_is_recorded_with_the_sync_methods() -> None:
    pending = PendingCompletions(retry_for=60)
    store = MemoryStore()
    claim = store.claim("k1", 30)
    assert claim.token is not None
    loop = asyncio.new_event_loop()
    loop.run_until_complete(pending.aadd(store, "k1", claim.token, 60, "d1"))
    loop.close()  # the app stopped before the retry
    assert pending.wait(10)
    assert store.claim("k1", 30).state is ClaimState.DONE


def test_a_claim_let_go_while_a_scan_builds_its_lease_stays_let_go() -> None:
    """``let_go`` takes no lock: a scan builds a due claim's lease into the claim's own entry,
    never back into the held map, so a claim let go meanwhile is not renewed for ever."""
    from hookreceiver.core import leases

    store = MemoryStore()
    token = store.claim("held-key", 30.0).token
    assert token is not None
    keeper = leases._keeper
    hold_id = leases.hold_claim(store, "held-key", token, 30.0, "d1")
    entry = keeper._held[hold_id]
    assert not isinstance(entry, Lease)
    assert keeper._built(entry, time.monotonic()) is None  # not due yet: nothing built
    let_go(hold_id)  # let go while the scan below still holds the entry it copied
    built = keeper._built(entry, time.monotonic() + 60.0)  # due: built from the copy
    assert isinstance(built, Lease)
    assert hold_id not in keeper._held  # not put back: no scan renews it again
    assert keeper._built(entry, time.monotonic() + 60.0) is built  # built once
    # A claim still held is found and built the same way, and let go for good.
    other = leases.hold_claim(store, "held-key", token, 30.0, "d2")
    assert isinstance(keeper._built(keeper._held[other], time.monotonic() + 60.0), Lease)
    let_go(other)
    assert other not in keeper._held
