"""Hand inbox deliveries to a task queue you already run (Celery, Dramatiq, arq).

The inbox still stores every delivery first, so the queue carries only ids: a message the
queue loses costs a delay, never an event. Create the receiver with ``worker=False`` and
wire two things:

- ``enqueue(record_id, delay)``: a plain callable that schedules your task to run after
  ``delay`` seconds. It is called when a delivery is accepted (``delay`` 0) and after a failed
  attempt (the retry's backoff). It must not block for long: the request path calls it.
- the task: calls :meth:`TaskQueue.process_one` (or ``await`` :meth:`TaskQueue.aprocess_one`)
  with the id. Let hookreceiver do the retrying: do not also configure the queue's own retries.

Celery::

    hooks = Receiver(store=..., inbox=SQLiteInbox("hooks.db"), worker=False)

    @celery.task
    def process_delivery(record_id: str) -> None:
        queue.process_one(record_id)

    def enqueue(record_id: str, delay: float) -> None:
        process_delivery.apply_async((record_id,), countdown=delay)

    queue = TaskQueue(hooks, enqueue)

Dramatiq::

    @dramatiq.actor(max_retries=0)
    def process_delivery(record_id: str) -> None:
        queue.process_one(record_id)

    def enqueue(record_id: str, delay: float) -> None:
        process_delivery.send_with_options(args=(record_id,), delay=int(delay * 1000))

    queue = TaskQueue(hooks, enqueue)

arq (async: the enqueue is scheduled on the app's loop, captured at start-up)::

    async def process_delivery(ctx, record_id: str) -> None:
        await queue.aprocess_one(record_id)

    def enqueue(rid: str, delay: float) -> None:
        asyncio.run_coroutine_threadsafe(
            arq_pool.enqueue_job("process_delivery", rid, _defer_by=delay), app_loop
        )

    queue = TaskQueue(hooks, enqueue)

A message can still be lost between the inbox and the queue (the broker was down when the
delivery arrived). Call :meth:`TaskQueue.sweep` periodically (a beat or cron task), or keep one
``hookreceiver worker`` running, to pick up deliveries overdue by more than ``grace`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from .process import inbox_of, new_token, process_async, process_sync
from .records import InboxState

if TYPE_CHECKING:
    from .protocols import InboxReceiver

__all__ = ["Enqueue", "TaskQueue"]

logger = logging.getLogger("hookreceiver")

#: ``enqueue(record_id, delay_seconds)``: schedule the task that processes the delivery.
Enqueue = Callable[[str, float], object]


class TaskQueue:
    """Sends the ids of inbox deliveries to your task queue, and processes them in its tasks.

    Args:
        receiver: the receiver whose inbox, endpoints and handlers are used (create it with
            ``worker=False``: the queue replaces the in-process worker).
        enqueue: ``enqueue(record_id, delay)`` schedules your task (see the module's recipes).
        grace: seconds past its due time after which :meth:`sweep` re-sends a delivery.
    """

    def __init__(self, receiver: InboxReceiver, enqueue: Enqueue, *, grace: float = 60.0) -> None:
        self.receiver = receiver
        self.inbox = inbox_of(receiver)
        self.enqueue = enqueue
        self.grace = grace
        self._unsubscribe = self.inbox.subscribe(self._accepted)

    def _accepted(self, record_id: str) -> None:
        self._send(record_id, 0.0)

    def _send(self, record_id: str, delay: float) -> bool:
        try:
            self.enqueue(record_id, delay)
        except Exception:
            # The delivery is safe in the inbox; sweep() or a worker picks it up later.
            logger.exception("could not enqueue inbox delivery %s", record_id)
            return False
        return True

    def process_one(self, record_id: str) -> InboxState | None:
        """Process one delivery if it is due (the task's body); its new state, or ``None``
        when it was not due, already handled, or held by another worker.

        A delivery that failed and will be retried is enqueued again with its backoff.
        """
        token = new_token()
        record = self.inbox.take_id(token, record_id)
        if record is None:
            logger.debug("inbox delivery %s is not due; skipped", record_id)
            return None
        state = process_sync(self.receiver, record, token)
        if state is InboxState.PENDING:
            self._resend(record_id)
        return state

    async def aprocess_one(self, record_id: str) -> InboxState | None:
        """Async :meth:`process_one` (arq tasks)."""
        token = new_token()
        record = await self.inbox.atake_id(token, record_id)
        if record is None:
            logger.debug("inbox delivery %s is not due; skipped", record_id)
            return None
        state = await process_async(self.receiver, record, token)
        if state is InboxState.PENDING:
            await asyncio.to_thread(self._resend, record_id)
        return state

    def _resend(self, record_id: str) -> None:
        entry = self.inbox.get(record_id)
        if entry is not None and entry.state is InboxState.PENDING:
            self._send(record_id, max(0.0, entry.next_attempt_at - self.inbox.clock()))

    def sweep(self, limit: int = 1000) -> int:
        """Re-send deliveries overdue by more than ``grace`` seconds (lost messages); how many.

        Deliveries whose worker died (a lease that expired) are overdue too. The receiver's
        fallback journal (``Receiver(journal_dir=...)``) is drained into the inbox first; its
        deliveries are sent to the queue as they arrive there.
        """
        journal = self.receiver.journal
        if journal is not None:
            journal.drain(self.inbox)
        now = self.inbox.clock()
        overdue = [
            entry.id
            for entry in self.inbox.list(
                states=(InboxState.PENDING, InboxState.PROCESSING), limit=limit
            )
            if entry.next_attempt_at + self.grace <= now
        ]
        return sum(self._send(record_id, 0.0) for record_id in overdue)

    def close(self) -> None:
        """Stop sending accepted deliveries to the queue."""
        self._unsubscribe()
