"""The task-queue adapter, with a fake in-process queue standing in for Celery, Dramatiq or arq."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from inbox_support import FakeClock, kazoo_body, kazoo_delivery, kazoo_receiver

from hookreceiver import DeliveryContext
from hookreceiver.inbox import InboxState, SQLiteInbox, TaskQueue


class FakeQueue:
    """Holds ``(due, record_id)`` messages; ``drain`` runs the due ones like a queue worker."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.messages: list[tuple[float, str]] = []
        self.down = False

    def enqueue(self, record_id: str, delay: float) -> None:
        if self.down:
            raise ConnectionError("broker unreachable")
        self.messages.append((self.clock() + delay, record_id))

    def drain(self, task: Any) -> list[Any]:
        due = [m for m in self.messages if m[0] <= self.clock()]
        self.messages = [m for m in self.messages if m[0] > self.clock()]
        return [task(record_id) for _, record_id in due]


def test_accepted_deliveries_go_to_the_queue_and_failures_come_back_with_backoff(
    sqlite_inbox: SQLiteInbox, clock: FakeClock
) -> None:
    hooks = kazoo_receiver(sqlite_inbox)
    attempts: list[int] = []

    @hooks.on("wirecloud.channel_destroy")
    def flaky(event: Any, ctx: DeliveryContext) -> None:
        attempts.append(ctx.attempt)
        if ctx.attempt < 3:
            raise RuntimeError("down")

    fake = FakeQueue(clock)
    queue = TaskQueue(hooks, fake.enqueue)
    assert hooks.handle(kazoo_delivery()).status == 200
    (record_id,) = [m[1] for m in fake.messages]
    assert fake.messages == [(clock(), record_id)]

    assert fake.drain(queue.process_one) == [InboxState.PENDING]
    assert fake.messages == [(clock() + 2, record_id)]  # the inbox's backoff, not the queue's
    clock.advance(2)
    assert fake.drain(queue.process_one) == [InboxState.PENDING]
    clock.advance(4)
    assert fake.drain(queue.process_one) == [InboxState.DONE]
    assert attempts == [1, 2, 3] and fake.messages == []
    # A message delivered twice finds nothing due: the handlers never run twice.
    assert queue.process_one(record_id) is None
    queue.close()
    hooks.handle(kazoo_delivery())
    assert fake.messages == []


def test_sweep_resends_what_the_broker_lost(sqlite_inbox: SQLiteInbox, clock: FakeClock) -> None:
    hooks = kazoo_receiver(sqlite_inbox)
    handled: list[str] = []
    hooks.on("*")(lambda event, ctx: handled.append(event.call_id))
    fake = FakeQueue(clock)
    queue = TaskQueue(hooks, fake.enqueue, grace=30)
    fake.down = True
    assert hooks.handle(kazoo_delivery(kazoo_body(call_id="lost"))).status == 200
    fake.down = False
    assert fake.messages == [] and queue.sweep() == 0  # not overdue yet
    clock.advance(31)
    assert queue.sweep() == 1
    fake.drain(queue.process_one)
    assert handled == ["lost"]


def test_async_tasks_process_with_aprocess_one(sqlite_inbox: SQLiteInbox, clock: FakeClock) -> None:
    hooks = kazoo_receiver(sqlite_inbox)
    handled: list[int] = []

    @hooks.on("*")
    async def handler(event: Any, ctx: DeliveryContext) -> None:
        handled.append(ctx.attempt)
        if ctx.attempt == 1:
            raise RuntimeError("once")

    fake = FakeQueue(clock)
    queue = TaskQueue(hooks, fake.enqueue)
    hooks.handle(kazoo_delivery())

    async def run_due() -> list[Any]:
        due, fake.messages = fake.messages, []
        return [await queue.aprocess_one(record_id) for _, record_id in due]

    assert asyncio.run(run_due()) == [InboxState.PENDING]
    clock.advance(2)
    assert asyncio.run(run_due()) == [InboxState.DONE]
    assert handled == [1, 2]


def test_a_queue_needs_an_inbox() -> None:
    from hookreceiver import ConfigurationError, Receiver

    with pytest.raises(ConfigurationError):
        TaskQueue(Receiver(), lambda record_id, delay: None)
