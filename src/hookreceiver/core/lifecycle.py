"""The receiver's in-process worker: whether it is due, and starting and stopping it.

The adapters start the worker (with the ASGI lifespan, or on the first delivery) and stop it
through :class:`WorkerLifecycle`; the worker itself (``hookreceiver.inbox.InboxWorker``) is
built by the factory the receiver passes in, so the core never imports the inbox.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["BackgroundWorker", "WorkerLifecycle"]


class BackgroundWorker(Protocol):
    """A worker that runs in daemon threads or as tasks on an event loop."""

    def start(self) -> None:
        """Start the threads (idempotent)."""

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the threads after their current job."""

    async def astart(self) -> None:
        """Start the tasks on the running loop (idempotent)."""

    async def astop(self, timeout: float = 30.0) -> None:
        """Stop the tasks after their current job."""

    @property
    def threaded(self) -> bool:
        """Whether threads of it are running."""


W = TypeVar("W", bound=BackgroundWorker)

#: Lifecycles whose worker threads a forked child does not inherit.
_threaded: weakref.WeakSet[WorkerLifecycle[Any]] = weakref.WeakSet()
_start_lock = threading.Lock()


def _after_fork() -> None:
    for lifecycle in list(_threaded):
        lifecycle.worker = None
        lifecycle.due = lifecycle.autostart


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class WorkerLifecycle(Generic[W]):
    """Owns the one in-process worker of a receiver.

    Args:
        make_worker: builds the worker (it may raise ``ConfigurationError``: no inbox).
        autostart: whether the adapters start it (an inbox, and not ``Receiver(worker=False)``).
    """

    def __init__(self, make_worker: Callable[[], W], *, autostart: bool) -> None:
        self.make_worker = make_worker
        self.autostart = autostart
        self.worker: W | None = None
        #: Checked by the adapters on each delivery: start the in-process worker lazily.
        self.due = autostart

    def start(self) -> W:
        """Start the worker in background threads (idempotent)."""
        with _start_lock:
            worker = self.worker
            if worker is None:
                worker = self.make_worker()
                worker.start()
                self.worker = worker
                _threaded.add(self)
            self.due = False
            return worker

    async def astart(self) -> W:
        """Start the worker as tasks on the running loop (idempotent)."""
        worker = self.worker
        self.due = False
        if worker is None:
            worker = self.make_worker()
            self.worker = worker
            await worker.astart()
        return worker

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the worker's threads after their current delivery."""
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.stop(timeout)

    async def astop(self, timeout: float = 30.0) -> None:
        """Stop the worker's tasks (or threads) after their current delivery."""
        worker, self.worker = self.worker, None
        if worker is not None:
            await worker.astop(timeout)
            if worker.threaded:
                await asyncio.to_thread(worker.stop, timeout)
