"""A delivery whose key another worker holds (``in_flight``) waits without spending attempts.

The other copy may run its handlers far longer than the inbox's whole retry budget (or its
worker may have died, holding the key until the claim's lease ends): the waiting copy is
rescheduled at most a claim lease apart, never counted as a failed attempt, never dead, and
handled once the key is free (or done once the other copy completes it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from inbox_support import FakeClock, kazoo_body, kazoo_delivery, kazoo_receiver

from hookreceiver import Delivery, DeliveryContext, Headers, Receiver
from hookreceiver.engine.flow import parse_event
from hookreceiver.inbox import Inbox, InboxEntry, InboxState, InboxWorker, TaskQueue
from hookreceiver.stores import MemoryStore

LEASE = 60.0  # the receiver's claim lease


def key_of(hooks: Receiver, inbox: Inbox, record_id: str) -> str:
    """The idempotency key of a stored delivery, parsed as the worker would."""
    record = inbox.get(record_id)
    assert record is not None
    endpoint = hooks.router.endpoint(record.endpoint)
    assert endpoint is not None
    delivery = Delivery(
        record.method, record.path, record.query, Headers(record.headers), record.client
    )
    body = record.to_body()
    try:
        return parse_event(endpoint.provider, delivery, record.params, body).key
    finally:
        body.close()


def runner(worker: InboxWorker, mode: str) -> Callable[[], bool]:
    if mode == "sync":
        return worker.run_once
    return lambda: asyncio.run(worker.arun_once())


def setup(
    inbox: Inbox, clock: FakeClock, failures: int
) -> tuple[Receiver, MemoryStore, list[int], list[InboxEntry], str]:
    store = MemoryStore(clock=clock)
    hooks = kazoo_receiver(inbox, store=store, lease=LEASE)
    calls: list[int] = []

    def handler(event: Any, ctx: DeliveryContext) -> None:
        calls.append(ctx.attempt)
        if len(calls) <= failures:
            raise RuntimeError(f"downstream down ({len(calls)})")

    hooks.on("wirecloud.channel_destroy")(handler)
    letters: list[InboxEntry] = []
    hooks.on_dead_letter(letters.append)
    assert hooks.handle(kazoo_delivery(kazoo_body())).status == 200
    (entry,) = inbox.list()
    return hooks, store, calls, letters, entry.id


def hold_past_the_budget(
    inbox: Inbox, clock: FakeClock, store: MemoryStore, key: str, token: str, run: Any, rid: str
) -> int:
    """Keep the key claimed (renewed, as a live worker does) for three times the inbox's whole
    retry budget, trying the delivery whenever it is due; how many times it waited."""
    retry = inbox.retry
    budget = sum(retry.delay(n) for n in range(1, retry.max_attempts + 1))
    waited, waits = 0.0, 0
    while waited < 3 * budget:
        assert run()
        entry = inbox.get(rid)
        assert entry is not None
        assert (entry.state, entry.attempts) == (InboxState.PENDING, 0)
        assert entry.last_error == "the event's key is being handled by another delivery"
        delay = entry.next_attempt_at - clock()
        assert 0 < delay <= LEASE  # never later than a dead holder's claim can last
        assert not run()  # not due before its delay
        assert store.renew(key, token, 2 * LEASE)
        clock.advance(delay)
        waited += delay
        waits += 1
    return waits


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_key_held_past_the_retry_budget_costs_no_attempt_then_is_handled(
    inbox: Inbox, clock: FakeClock, mode: str
) -> None:
    hooks, store, calls, letters, rid = setup(inbox, clock, failures=1)
    key = key_of(hooks, inbox, rid)
    held = store.claim(key, LEASE)  # another worker runs this event's handlers
    assert held.token is not None
    run = runner(InboxWorker(hooks), mode)

    waits = hold_past_the_budget(inbox, clock, store, key, held.token, run, rid)
    assert waits > inbox.retry.max_attempts
    assert calls == [] and letters == []

    # The other copy's handler fails and releases the key: this copy now runs, as attempt 1,
    # with the whole retry budget still before it.
    assert store.release(key, held.token)
    assert run()
    assert calls == [1]
    entry = inbox.get(rid)
    assert entry is not None
    assert (entry.state, entry.attempts) == (InboxState.PENDING, 1)
    assert entry.last_error == "RuntimeError: downstream down (1)"
    clock.advance(inbox.retry.delay(1))
    assert run()
    assert calls == [1, 2] and letters == []
    (done,) = inbox.list()
    assert (done.state, done.attempts, done.last_error) == (InboxState.DONE, 2, None)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_key_completed_by_the_other_copy_makes_the_waiting_one_done(
    inbox: Inbox, clock: FakeClock, mode: str
) -> None:
    hooks, store, calls, letters, rid = setup(inbox, clock, failures=0)
    key = key_of(hooks, inbox, rid)
    held = store.claim(key, LEASE)
    assert held.token is not None
    run = runner(InboxWorker(hooks), mode)

    hold_past_the_budget(inbox, clock, store, key, held.token, run, rid)
    assert store.complete(key, held.token, 3600)
    assert run()
    assert calls == [] and letters == []  # handled once, by the other copy
    (done,) = inbox.list()
    assert (done.state, done.attempts, done.last_error) == (InboxState.DONE, 1, None)


class BlindStore(MemoryStore):
    """A store that cannot tell how long a claim has left (as a third-party store may)."""

    def lease_left(self, key: str) -> float | None:
        return None


@pytest.mark.parametrize(("mode", "tells"), [("sync", True), ("async", True), ("sync", False)])
def test_a_dead_holder_s_claim_runs_out_and_the_waiting_copy_is_handled(
    inbox: Inbox, clock: FakeClock, mode: str, tells: bool
) -> None:
    hooks, store, calls, letters, rid = setup(inbox, clock, failures=0)
    if not tells:
        hooks.store = store = BlindStore(clock=clock)
    claimed_at = clock()
    store.claim(key_of(hooks, inbox, rid), LEASE)  # its worker dies: nobody renews it
    run = runner(InboxWorker(hooks), mode)
    tries = 0
    while True:
        assert run()
        entry = inbox.get(rid)
        assert entry is not None
        if entry.state is InboxState.DONE:
            break
        assert entry.attempts == 0
        clock.advance(entry.next_attempt_at - clock())
        tries += 1
        assert tries < 50
    assert calls == [1] and letters == []
    (done,) = inbox.list()
    assert (done.state, done.attempts) == (InboxState.DONE, 1)
    late = clock() - (claimed_at + LEASE)
    if tells:  # tried just past the claim's end, as the store told
        assert 0 < late <= 0.25 + 1e-6
    else:  # the backoff alone: within one claim lease of its end
        assert 0 < late <= LEASE


def test_a_task_queue_re_sends_a_waiting_delivery_within_a_claim_lease(
    inbox: Inbox, clock: FakeClock
) -> None:
    hooks, store, calls, letters, rid = setup(inbox, clock, failures=0)
    key = key_of(hooks, inbox, rid)
    held = store.claim(key, LEASE)
    assert held.token is not None
    sent: list[tuple[str, float]] = []
    queue = TaskQueue(hooks, lambda record_id, delay: sent.append((record_id, delay)))
    try:
        for _ in range(inbox.retry.max_attempts + 3):
            assert queue.process_one(rid) is InboxState.PENDING
            record_id, delay = sent[-1]
            assert record_id == rid and 0 < delay <= LEASE
            assert store.renew(key, held.token, 2 * LEASE)
            clock.advance(delay)
        assert store.complete(key, held.token, 3600)
        assert queue.process_one(rid) is InboxState.DONE
    finally:
        queue.close()
    assert calls == [] and letters == []
    (done,) = inbox.list()
    assert (done.state, done.attempts) == (InboxState.DONE, 1)
