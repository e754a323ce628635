"""Inbox leases are renewed while handlers run: a handler slower than the lease runs once, in
the in-process worker (threads and tasks) and in a task queue's hand-off; a worker that died
stops renewing, and its delivery is taken over after the lease."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from inbox_support import FakeClock, kazoo_delivery, kazoo_receiver, wait_for
from test_inbox_storage import record

from hookreceiver import DeliveryContext, Receiver
from hookreceiver.inbox import Inbox, InboxState, InboxWorker, SQLiteInbox, TaskQueue

LEASE = 1.0
SLOW = 3 * LEASE


def test_a_renewed_lease_holds_and_one_no_longer_renewed_is_taken_over(
    inbox: Inbox, clock: FakeClock
) -> None:
    inbox.put(record("r1", at=clock()))
    taken = inbox.take("alive")
    assert taken is not None and taken.id == "r1"
    for _ in range(3):  # renewed every 5/6 of the lease: held for 2.5 leases
        clock.advance(inbox.lease * 5 / 6)
        assert inbox.renew("r1", "alive")
        assert inbox.take("other") is None
    assert not inbox.renew("r1", "not-the-token")
    clock.advance(inbox.lease + 1)  # its worker died: nobody renews any more
    again = inbox.take("other")
    assert again is not None and again.id == "r1" and again.attempts == 2
    assert not inbox.renew("r1", "alive")  # the dead worker's token lost it
    assert inbox.finish("r1", "other", InboxState.DONE)
    assert not inbox.renew("r1", "other")  # finished: nothing to renew


def _slow_receiver(tmp_path: Path, runs: list[str], *, is_async: bool = False) -> Receiver:
    # The dedup claim has the same short lease: without renewal a second worker would take
    # the delivery and its key over, and run the handler again.
    hooks = kazoo_receiver(SQLiteInbox(tmp_path / "inbox.db", lease=LEASE), lease=LEASE)
    if is_async:

        @hooks.on("wirecloud.channel_destroy")
        async def slow_async(event: Any, ctx: DeliveryContext) -> None:
            runs.append(ctx.delivery_id)
            await asyncio.sleep(SLOW)

    else:

        @hooks.on("wirecloud.channel_destroy")
        def slow(event: Any, ctx: DeliveryContext) -> None:
            runs.append(ctx.delivery_id)
            time.sleep(SLOW)

    return hooks


def _done_once(hooks: Receiver) -> None:
    assert hooks.inbox is not None
    (entry,) = hooks.inbox.list()
    assert entry.state is InboxState.DONE
    assert entry.attempts == 1  # never taken a second time


def test_thread_workers_run_a_handler_slower_than_the_lease_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runs: list[str] = []
    hooks = _slow_receiver(tmp_path, runs)
    workers = [InboxWorker(hooks, poll_interval=0.05) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        assert hooks.handle(kazoo_delivery()).status == 200
        assert hooks.inbox is not None
        wait_for(
            lambda: [e.state for e in hooks.inbox.list()] == [InboxState.DONE],  # type: ignore[union-attr]
            timeout=SLOW + 10,
            what="the delivery handled",
        )
        time.sleep(0.3)  # a second worker would have started it by now
    finally:
        for worker in workers:
            worker.stop()
    assert len(runs) == 1
    _done_once(hooks)
    assert "lease lost" not in caplog.text


def test_task_workers_run_a_handler_slower_than_the_lease_once(tmp_path: Path) -> None:
    runs: list[str] = []
    hooks = _slow_receiver(tmp_path, runs, is_async=True)

    async def scenario() -> None:
        worker = InboxWorker(hooks, concurrency=2, poll_interval=0.05)
        await worker.astart()
        try:
            assert (await hooks.ahandle(kazoo_delivery())).status == 200
            assert hooks.inbox is not None
            deadline = time.monotonic() + SLOW + 10
            while [e.state for e in await asyncio.to_thread(hooks.inbox.list)] != [InboxState.DONE]:
                assert time.monotonic() < deadline, "the delivery was never handled"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
        finally:
            await worker.astop()

    asyncio.run(scenario())
    assert len(runs) == 1
    _done_once(hooks)


def test_a_task_queue_hand_off_keeps_its_delivery_while_a_slow_handler_runs(
    tmp_path: Path,
) -> None:
    runs: list[str] = []
    hooks = _slow_receiver(tmp_path, runs)
    sent: list[str] = []
    queue = TaskQueue(hooks, lambda record_id, delay: sent.append(record_id))
    assert hooks.handle(kazoo_delivery()).status == 200
    (record_id,) = sent
    states: list[Any] = []
    task = threading.Thread(target=lambda: states.append(queue.process_one(record_id)))
    task.start()
    wait_for(lambda: len(runs) == 1, what="the handler started")
    began = time.monotonic()
    # The queue delivers the message again (a redelivery, a sweep) after the lease.
    copies = []
    for at in (1.3 * LEASE, 2.3 * LEASE):
        time.sleep(max(0.0, began + at - time.monotonic()))
        copies.append(queue.process_one(record_id))
    task.join(SLOW + 10)
    assert copies == [None, None]
    assert states == [InboxState.DONE]
    assert len(runs) == 1
    _done_once(hooks)
