"""Sending the messages of accepted deliveries off the request path, from one thread.

A receiver answers the sender once the delivery is in the inbox; the message to the broker is
a hint that work is waiting. :class:`BackgroundSender` sends it from a daemon thread, so a slow
or unreachable broker never holds up an answer. While the broker refuses messages, they are
dropped after one logged error (with how many waited): their deliveries stay pending in the
inbox, and the periodic sweep sends them once the broker is back.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ..inbox.queues import TaskQueue, message_headers, processing_headers

if TYPE_CHECKING:
    from ..inbox.protocols import InboxReceiver
    from ..inbox.records import InboxRecord, InboxState

__all__ = ["BackgroundSender", "BrokerQueue", "Send"]

logger = logging.getLogger("hookreceiver")

#: ``send(record_id, delay, headers)``: hand one message to the broker (raise if it cannot).
Send = Callable[[str, float, Mapping[str, str]], None]

_Item = tuple[str, float, Mapping[str, str]]


class BackgroundSender:
    """Sends messages from a daemon thread started on first use (again after a fork).

    Args:
        send: what sends one message; it runs only on the sender's thread.
        pause: seconds messages are dropped without trying after the broker refused one (the
            sweep sends their deliveries later), so an outage costs one error, not one a
            message.
        max_waiting: messages kept waiting at most; more are dropped (the sweep sends them).
    """

    def __init__(self, send: Send, *, pause: float = 1.0, max_waiting: int = 100_000) -> None:
        self._send = send
        self.pause = pause
        self._queue: queue.Queue[_Item | threading.Event | None] = queue.Queue(max_waiting)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._paused_until = 0.0
        self._dropped = 0

    def submit(self, record_id: str, delay: float, headers: Mapping[str, str]) -> None:
        """Queue one message for the sender's thread (never blocks)."""
        self._ensure_thread()
        try:
            self._queue.put_nowait((record_id, delay, headers))
        except queue.Full:
            self._dropped += 1

    def _ensure_thread(self) -> None:
        pid = os.getpid()
        if self._pid == pid and self._thread is not None:
            return
        with self._lock:
            if self._pid == pid and self._thread is not None:
                return
            if self._pid != pid:  # a forked child: the parent's thread and queue are not ours
                self._queue = queue.Queue(self._queue.maxsize)
            self._pid = pid
            self._thread = threading.Thread(
                target=self._run, name="hookreceiver-queue-sender", daemon=True
            )
            self._thread.start()
            # A short-lived process (``hookreceiver inbox replay``) sends what it queued
            # before it exits; what it could not is left to the sweep.
            atexit.register(self.flush, 5.0)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            self._one(*item)

    def _one(self, record_id: str, delay: float, headers: Mapping[str, str]) -> None:
        if time.monotonic() < self._paused_until:
            self._dropped += 1
            return
        try:
            self._send(record_id, delay, headers)
        except Exception as exc:
            self._dropped += 1 + self._drain()
            self._paused_until = time.monotonic() + self.pause
            logger.error(
                "could not send inbox delivery %s to the task queue (%s: %s); %d deliveries "
                "wait in the inbox for the sweep",
                record_id,
                type(exc).__name__,
                exc,
                self._dropped,
            )
            return
        if self._dropped:
            logger.warning(
                "the task queue takes messages again; %d deliveries wait for the sweep",
                self._dropped,
            )
            self._dropped = 0

    def _drain(self) -> int:
        dropped = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return dropped
            if item is None or isinstance(item, threading.Event):
                self._queue.put_nowait(item)
                return dropped
            dropped += 1

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the messages queued so far are sent (or dropped); whether they were."""
        if self._thread is None or self._pid != os.getpid():
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self) -> None:
        """Stop the thread once the messages queued so far are sent."""
        if self._thread is not None and self._pid == os.getpid():
            self._queue.put(None)
            self._thread.join(10)
        self._thread = None


class BrokerQueue(TaskQueue):
    """A :class:`~hookreceiver.inbox.TaskQueue` for a broker: accepted deliveries' messages go
    out from a :class:`BackgroundSender`; retries and sweeps send from the worker's task.

    Subclasses implement :meth:`send` for their tool.
    """

    #: Seconds between purges of handled deliveries older than the inbox's ``keep_done``
    #: (done by the sweep, as the in-process worker would).
    purge_interval = 600.0

    def __init__(self, receiver: InboxReceiver, *, grace: float = 60.0) -> None:
        self.sender = BackgroundSender(self.send)
        self._last_purge: float | None = None
        super().__init__(receiver, grace=grace)

    def _accepted(self, record_id: str, record: InboxRecord | None) -> None:
        self.sender.submit(record_id, 0.0, message_headers(record_id, record))

    def process(
        self, record_id: str, headers: Mapping[str, str] | None = None
    ) -> InboxState | None:
        """The task's body: :meth:`process_one` with the message's headers as
        :data:`~hookreceiver.inbox.queues.current_headers`."""
        with processing_headers(headers):
            return self.process_one(record_id)

    async def aprocess(
        self, record_id: str, headers: Mapping[str, str] | None = None
    ) -> InboxState | None:
        """Async :meth:`process` (arq)."""
        with processing_headers(headers):
            return await self.aprocess_one(record_id)

    def sweep(self, limit: int = 1000) -> int:
        """Re-send deliveries whose message was lost (see :meth:`TaskQueue.sweep`), and purge
        handled ones past the inbox's ``keep_done`` every :attr:`purge_interval` seconds."""
        sent = super().sweep(limit)
        if sent:
            logger.info("sweep: sent %d overdue inbox deliveries to the task queue again", sent)
        now = self.inbox.clock()
        if self._last_purge is None or now - self._last_purge >= self.purge_interval:
            self._last_purge = now
            removed = self.inbox.purge(older_than=max(0.0, self.inbox.keep_done))
            if removed:
                logger.info("purged %d handled deliveries from the inbox", removed)
        return sent

    def close(self) -> None:
        """Stop sending accepted deliveries; send those queued so far."""
        super().close()
        self.sender.close()
