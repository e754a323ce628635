"""The inbox worker: takes due deliveries and processes them, retrying failures.

:class:`InboxWorker` runs in threads (WSGI apps, scripts) or tasks (ASGI apps, the
``hookreceiver worker`` command); the receiver starts one in the app's process with the ASGI
lifespan, or on the first delivery.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from ..errors import StoreUnavailable
from .process import inbox_of, new_token, process_async, process_sync

if TYPE_CHECKING:
    from .protocols import InboxReceiver

__all__ = ["InboxWorker"]

logger = logging.getLogger("hookreceiver")


class InboxWorker:
    """Takes due deliveries from a receiver's inbox and processes them, retrying failures.

    Run it in the app's process (the receiver starts one with the app: see
    ``Receiver(worker=...)``) or in processes of its own (``hookreceiver worker``). Any number
    of workers may share an inbox: each delivery is leased to one at a time.

    Args:
        receiver: the receiver whose inbox, endpoints and handlers are used.
        concurrency: deliveries processed at once (threads, or tasks on the event loop).
        poll_interval: seconds between looks at the inbox when it is idle. Deliveries accepted
            by this process wake the worker at once; the poll finds retries that came due and
            deliveries accepted by other processes.
        purge_interval: seconds between purges of handled deliveries older than the inbox's
            ``keep_done``.
    """

    def __init__(
        self,
        receiver: InboxReceiver,
        *,
        concurrency: int = 1,
        poll_interval: float = 1.0,
        purge_interval: float = 600.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.receiver = receiver
        self.inbox = inbox_of(receiver)
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.purge_interval = purge_interval
        self._last_purge: float | None = None
        self._last_drain: float | None = None
        self._stop_thread = threading.Event()
        self._wake_thread = threading.Event()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_async: asyncio.Event | None = None
        self._wake_async: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Any = None

    # One step ----------------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Process the delivery due first, if any; whether there was one."""
        token = new_token()
        record = self.inbox.take(token)
        if record is None:
            return False
        process_sync(self.receiver, record, token)
        return True

    async def arun_once(self) -> bool:
        """Async :meth:`run_once`."""
        token = new_token()
        record = await self.inbox.atake(token)
        if record is None:
            return False
        await process_async(self.receiver, record, token)
        return True

    def drain_journal(self) -> int:
        """Move the receiver's fallback journal into the inbox (see ``Receiver(journal_dir=)``);
        how many deliveries were new there. The loops call it every ``poll_interval``.

        Raises:
            StoreUnavailable: the inbox is still unreachable.
        """
        journal = self.receiver.journal
        if journal is None:
            return 0
        return journal.drain(self.inbox)

    def _drain(self) -> None:
        # Never in the way of the inbox's own work: a journal that cannot be drained now (the
        # inbox is still down, a file cannot be read) is logged and tried again next time.
        try:
            self.drain_journal()
        except StoreUnavailable as exc:
            logger.debug("journal not drained yet: %s", exc)
        except Exception:
            logger.exception("could not drain the journal; retrying")

    def _drain_due(self) -> bool:
        if self.receiver.journal is None:
            return False
        now = time.monotonic()
        if self._last_drain is not None and now - self._last_drain < self.poll_interval:
            return False
        self._last_drain = now
        return True

    def run_until_idle(self) -> int:
        """Drain the journal, then process due deliveries until none is left; how many were
        processed."""
        self._drain()
        count = 0
        while self.run_once():
            count += 1
        return count

    async def arun_until_idle(self) -> int:
        """Async :meth:`run_until_idle`."""
        await asyncio.to_thread(self._drain)
        count = 0
        while await self.arun_once():
            count += 1
        return count

    def _purge_due(self) -> bool:
        now = self.inbox.clock()
        if self._last_purge is not None and now - self._last_purge < self.purge_interval:
            return False
        self._last_purge = now
        return True

    def _purge(self) -> None:
        removed = self.inbox.purge(older_than=max(0.0, self.inbox.keep_done))
        if removed:
            logger.info("purged %d handled deliveries from the inbox", removed)

    # Threads -----------------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> None:
        """Process deliveries in this thread until ``stop`` is set (see :meth:`start`)."""
        stop = stop if stop is not None else self._stop_thread
        while not stop.is_set():
            self._wake_thread.clear()
            try:
                if self._drain_due():
                    self._drain()
                if self._purge_due():
                    self._purge()
                if self.run_once():
                    continue
            except StoreUnavailable as exc:
                logger.warning("inbox worker: %s; retrying", exc)
            except Exception:
                logger.exception("inbox worker: could not take work; retrying")
            self._wake_thread.wait(self.poll_interval)

    def start(self) -> None:
        """Start ``concurrency`` daemon threads (WSGI apps and scripts)."""
        if self._threads:
            return
        self._stop_thread.clear()
        self._unsubscribe = self.inbox.subscribe(lambda _id: self._wake_thread.set())
        self._threads = [
            threading.Thread(target=self.run, name=f"hookreceiver-inbox-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def threaded(self) -> bool:
        """Whether threads of it are running (:meth:`start`)."""
        return bool(self._threads)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the threads after their current delivery (waiting up to ``timeout`` s)."""
        self._stop_thread.set()
        self._wake_thread.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        self._drop_subscription()

    # Tasks -------------------------------------------------------------------------------------

    async def arun(self) -> None:
        """Process deliveries on this event loop until :meth:`request_stop`."""
        self._prepare_async()
        try:
            await asyncio.gather(*(self._aloop() for _ in range(self.concurrency)))
        finally:
            self._drop_subscription()

    def request_stop(self) -> None:
        """Ask every loop to stop after its current delivery (thread-safe: signal handlers)."""
        self._stop_thread.set()
        self._wake_thread.set()
        loop, stop, wake = self._loop, self._stop_async, self._wake_async
        if loop is not None and stop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
            loop.call_soon_threadsafe(wake.set)

    def _drop_subscription(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _prepare_async(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop_async = asyncio.Event()
        self._wake_async = asyncio.Event()
        wake = self._wake_async

        def notify(_id: str) -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(wake.set)

        self._unsubscribe = self.inbox.subscribe(notify)

    async def _aloop(self) -> None:
        stop, wake = self._stop_async, self._wake_async
        assert stop is not None and wake is not None
        while not stop.is_set():
            wake.clear()
            try:
                if self._drain_due():
                    await asyncio.to_thread(self._drain)
                if self._purge_due():
                    await asyncio.to_thread(self._purge)
                if await self.arun_once():
                    continue
            except StoreUnavailable as exc:
                logger.warning("inbox worker: %s; retrying", exc)
            except Exception:
                logger.exception("inbox worker: could not take work; retrying")
            try:
                await asyncio.wait_for(wake.wait(), self.poll_interval)
            except asyncio.TimeoutError:
                pass

    async def astart(self) -> None:
        """Start ``concurrency`` tasks on the running loop (ASGI apps)."""
        if self._tasks:
            return
        self._prepare_async()
        self._tasks = [
            asyncio.create_task(self._aloop(), name=f"hookreceiver-inbox-{n}")
            for n in range(self.concurrency)
        ]

    async def astop(self, timeout: float = 30.0) -> None:
        """Stop the tasks after their current delivery; cancel them after ``timeout`` s."""
        if self._stop_async is not None:
            self._stop_async.set()
        if self._wake_async is not None:
            self._wake_async.set()
        tasks, self._tasks = self._tasks, []
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                # Its delivery stays "processing" until the lease ends, then is taken again.
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        self._drop_subscription()
