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

:mod:`hookreceiver.integrations` does all of this in one call per tool, and sends each message
with a few headers (:func:`message_headers`: the delivery id and the trace context), which the
task sets as :data:`current_headers` while it processes the delivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from .process import inbox_of, new_token, process_async, process_sync
from .records import InboxRecord, InboxState

if TYPE_CHECKING:
    from .protocols import InboxReceiver

__all__ = [
    "Enqueue",
    "TaskQueue",
    "current_headers",
    "message_headers",
    "processing_headers",
]

logger = logging.getLogger("hookreceiver")

#: ``enqueue(record_id, delay_seconds)``: schedule the task that processes the delivery.
Enqueue = Callable[[str, float], object]

#: The headers of the message whose delivery this task is processing (set by the integrations'
#: tasks): ``delivery_id``, and the trace context the receiving side kept with the record.
current_headers: ContextVar[Mapping[str, str] | None] = ContextVar(
    "hookreceiver_message_headers", default=None
)


def message_headers(record_id: str, record: InboxRecord | None = None) -> dict[str, str]:
    """The headers a message for ``record_id`` carries: ``delivery_id``, and ``traceparent``
    when the record kept the receiving span's trace context (tracing on, see
    ``Receiver.enable_tracing``). Small on purpose: the inbox holds the delivery."""
    headers = {"delivery_id": record_id}
    traceparent = record.traceparent if record is not None else None
    if traceparent:
        headers["traceparent"] = traceparent
    return headers


@contextmanager
def processing_headers(headers: Mapping[str, str] | None) -> Iterator[None]:
    """Set :data:`current_headers` while a task processes its delivery."""
    reset = current_headers.set(headers)
    try:
        yield
    finally:
        current_headers.reset(reset)


class TaskQueue:
    """Sends the ids of inbox deliveries to your task queue, and processes them in its tasks.

    Args:
        receiver: the receiver whose inbox, endpoints and handlers are used (create it with
            ``worker=False``: the queue replaces the in-process worker).
        enqueue: ``enqueue(record_id, delay)`` schedules your task (see the module's recipes);
            subclasses that override :meth:`send` pass none.
        grace: seconds past its due time after which :meth:`sweep` re-sends a delivery.
    """

    def __init__(
        self, receiver: InboxReceiver, enqueue: Enqueue | None = None, *, grace: float = 60.0
    ) -> None:
        self.receiver = receiver
        self.inbox = inbox_of(receiver)
        self.enqueue = enqueue
        self.grace = grace
        self._unsubscribe = self.inbox.subscribe_records(self._accepted)

    def _accepted(self, record_id: str, record: InboxRecord | None) -> None:
        self._send(record_id, 0.0, record)

    def send(self, record_id: str, delay: float, headers: Mapping[str, str]) -> None:
        """Schedule the task for ``record_id`` in ``delay`` seconds (``enqueue`` by default;
        the integrations send ``headers`` with it). Raise when the broker cannot take it."""
        if self.enqueue is None:
            raise NotImplementedError("pass enqueue=, or override send()")
        self.enqueue(record_id, delay)

    def _send(self, record_id: str, delay: float, record: InboxRecord | None = None) -> bool:
        try:
            self.send(record_id, delay, message_headers(record_id, record))
        except Exception as exc:
            # The delivery is safe in the inbox; sweep() or a worker picks it up later.
            self.send_failed(record_id, exc)
            return False
        return True

    def send_failed(self, record_id: str, exc: Exception) -> None:
        """Log a message the broker did not take (its delivery waits for :meth:`sweep`)."""
        logger.error("could not enqueue inbox delivery %s", record_id, exc_info=exc)

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
            self._send(record_id, max(0.0, entry.next_attempt_at - self.inbox.clock()), entry)

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
