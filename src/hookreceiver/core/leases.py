"""Keeping leases alive while handlers run, and completions a store could not take yet.

A claim (in the dedup store) and an inbox delivery being processed are leases: held for a
while, taken over by another worker once they expire, so that the work of a process that died
is done again. A handler slower than the lease must not be taken over while it runs, so its
lease is renewed on a heartbeat (every third of the lease) until it ends. A process that dies
stops renewing, and its work is taken over after the lease.

The heartbeat is cheap when handlers are fast: under WSGI one timer thread per process holds
every heartbeat (starting one is a heap push, stopping it a flag); on an event loop it is a
``loop.call_later`` handle, cancelled when the handlers end. Only a heartbeat that comes due
does any I/O (in a small thread pool, or as a task on the loop).

:class:`PendingCompletions` keeps a completion the store refused because it was down: it is
retried with backoff until the store takes it (a late complete wins over an expired claim
nobody took over), and meanwhile a copy of the event reaching this process is a duplicate.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..errors import StoreUnavailable

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from ..stores.base import Store

__all__ = [
    "Heartbeat",
    "PendingCompletions",
    "arenew_claim",
    "beat_async",
    "beat_sync",
    "renew_claim",
    "renewal_interval",
]

logger = logging.getLogger("hookreceiver")

#: A renewal: ``True`` to keep beating, ``False`` when the lease is lost (stop).
Beat = Callable[[], bool]


class _Timer:
    __slots__ = ("fn", "cancelled")

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.cancelled = False


class _Timers:
    """One daemon thread running timed calls (on a few pool threads, so one slow call does not
    hold the others back)."""

    _COMPACT_AT = 256

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._due = threading.Condition(self._lock)
        self._cancelled = 0
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def call_later(self, delay: float, fn: Callable[[], None]) -> _Timer:
        timer = _Timer(fn)
        when = time.monotonic() + delay
        with self._lock:
            if self._thread is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(4, thread_name_prefix="hookreceiver-lease")
                self._thread = threading.Thread(
                    target=self._run, name="hookreceiver-timers", daemon=True
                )
                self._thread.start()
            heap = self._heap
            # Heartbeats of one lease come due in the order they start: most pushes land at
            # the end of the heap, and the sleeping thread need not be woken.
            wake = not heap or when < heap[0][0]
            heapq.heappush(heap, (when, next(self._seq), timer))
            if wake:
                self._due.notify()
        return timer

    def cancel(self, timer: _Timer) -> None:
        with self._lock:
            if timer.cancelled:
                return
            timer.cancelled = True
            self._cancelled += 1
            # Fast deliveries leave cancelled timers behind: drop them once they are most.
            if self._cancelled > self._COMPACT_AT and self._cancelled * 2 > len(self._heap):
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def _run(self) -> None:
        while True:
            with self._lock:
                timer = self._next_due()
                timer.cancelled = True  # fired: a later cancel changes nothing
            assert self._pool is not None
            try:
                self._pool.submit(_call, timer.fn)
            except RuntimeError:  # the interpreter is shutting down
                return

    def _next_due(self) -> _Timer:
        # Called with the lock held.
        heap = self._heap
        while True:
            if not heap:
                self._due.wait()
                continue
            when, _, timer = heap[0]
            if timer.cancelled:
                heapq.heappop(heap)
                self._cancelled = max(0, self._cancelled - 1)
                continue
            delay = when - time.monotonic()
            if delay <= 0:
                heapq.heappop(heap)
                return timer
            self._due.wait(delay)


def _call(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:
        logger.exception("lease heartbeat failed")


_timers = _Timers()
_all_pending: weakref.WeakSet[PendingCompletions] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # The timer thread and its pool are not inherited: a child starts its own on first use.
    # Nor are the parent's pending completions: the parent retries them, not the child.
    global _timers
    _timers = _Timers()
    for pending in list(_all_pending):
        pending._pending.clear()
        pending._tasks.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Heartbeat:
    """A renewal repeated every ``interval`` seconds until :meth:`stop` (or it returns ``False``).

    Made by :func:`beat_sync` (on the timer thread) or :func:`beat_async` (on the running loop).
    """

    __slots__ = ("_interval", "_beat", "_abeat", "_stopped", "_timer", "_handle", "_loop", "_task")

    def __init__(self, interval: float, beat: Beat | None, abeat: Any = None) -> None:
        self._interval = interval
        self._beat = beat
        self._abeat: Callable[[], Awaitable[bool]] | None = abeat
        self._stopped = False
        self._timer: _Timer | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def stop(self) -> None:
        """Stop renewing (a renewal already under way finishes; stores ignore it then)."""
        self._stopped = True
        if self._timer is not None:
            _timers.cancel(self._timer)
            self._timer = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    # On the timer thread -----------------------------------------------------------------------

    def _schedule(self) -> None:
        if not self._stopped:
            self._timer = _timers.call_later(self._interval, self._fire)

    def _fire(self) -> None:
        if self._stopped:
            return
        assert self._beat is not None
        if self._beat():
            self._schedule()

    # On an event loop --------------------------------------------------------------------------

    def _aschedule(self) -> None:
        if not self._stopped and self._loop is not None and not self._loop.is_closed():
            self._handle = self._loop.call_later(self._interval, self._afire)

    def _afire(self) -> None:
        self._handle = None
        if self._stopped or self._loop is None:
            return
        if self._abeat is None:  # a renewal without I/O: made right here
            assert self._beat is not None
            if self._beat():
                self._aschedule()
            return
        self._task = self._loop.create_task(self._arun())

    async def _arun(self) -> None:
        assert self._abeat is not None
        try:
            again = await self._abeat()
        except Exception:
            logger.exception("lease heartbeat failed")
            again = True
        self._task = None
        if again:
            self._aschedule()


def beat_sync(interval: float, beat: Beat) -> Heartbeat:
    """Call ``beat`` every ``interval`` seconds on the process's timer thread."""
    heartbeat = Heartbeat(interval, beat)
    heartbeat._schedule()
    return heartbeat


def beat_async(
    interval: float, beat: Beat | None = None, abeat: Callable[[], Awaitable[bool]] | None = None
) -> Heartbeat:
    """Renew every ``interval`` seconds on the running loop: ``beat`` inline (no I/O), or
    ``abeat`` as a task (only when it comes due)."""
    heartbeat = Heartbeat(interval, beat, abeat)
    heartbeat._loop = asyncio.get_running_loop()
    heartbeat._aschedule()
    return heartbeat


def renewal_interval(lease: float) -> float:
    """How often a lease is renewed: a third of it, so that two renewals may fail or be late
    before it runs out."""
    return max(0.01, lease / 3)


def _renewed(result: bool | None, what: str, key: str, delivery_id: str) -> bool:
    if result is None:
        return True
    if not result:
        logger.warning(
            "lease on %s (%s, delivery %s) was lost while its handlers ran: another worker may "
            "run them too",
            key,
            what,
            delivery_id,
        )
    return result


def _not_renewed(key: str, delivery_id: str, exc: Exception) -> None:
    logger.warning("could not renew the claim on %s (delivery %s): %s", key, delivery_id, exc)


def renew_claim(store: Store, key: str, token: str, lease: float, delivery_id: str) -> Beat:
    """A sync renewal of a dedup claim, which logs a lost lease or a store outage."""

    def beat() -> bool:
        try:
            return _renewed(store.renew(key, token, lease), "claim", key, delivery_id)
        except StoreUnavailable as exc:
            _not_renewed(key, delivery_id, exc)
            return True  # the store may be back before the lease ends
        except NotImplementedError:
            return False  # a store of an older interface: its claims expire as before

    return beat


def arenew_claim(
    store: Store, key: str, token: str, lease: float, delivery_id: str
) -> Callable[[], Awaitable[bool]]:
    """An async renewal of a dedup claim (see :func:`renew_claim`)."""

    async def abeat() -> bool:
        try:
            return _renewed(await store.arenew(key, token, lease), "claim", key, delivery_id)
        except StoreUnavailable as exc:
            _not_renewed(key, delivery_id, exc)
            return True
        except NotImplementedError:
            return False

    return abeat


# Completions the store could not take ------------------------------------------------------------


class _Pending:
    __slots__ = ("store", "key", "token", "retain_for", "delivery_id", "give_up_at", "delay")

    def __init__(
        self, store: Store, key: str, token: str, retain_for: float, delivery_id: str, until: float
    ) -> None:
        self.store = store
        self.key = key
        self.token = token
        self.retain_for = retain_for
        self.delivery_id = delivery_id
        self.give_up_at = until
        self.delay = PendingCompletions.first_delay


class PendingCompletions:
    """Completions a store refused (it was down), retried in the background until it takes them.

    Bounded: at most ``max_entries`` are kept, each for at most ``retry_for`` seconds. A
    completion that cannot be recorded (given up, or the key was taken over meanwhile) is
    logged at ERROR with its key and delivery id: its event may then run again.

    Args:
        retry_for: seconds a completion is retried before it is given up.
        max_entries: completions kept at most.
    """

    first_delay = 0.1
    max_delay = 5.0

    def __init__(self, *, retry_for: float = 3600.0, max_entries: int = 10_000) -> None:
        self.retry_for = retry_for
        self.max_entries = max_entries
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        _all_pending.add(self)

    def __contains__(self, key: object) -> bool:
        return key in self._pending

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, store: Store, key: str, token: str, retain_for: float, delivery_id: str) -> None:
        """Keep a completion ``store`` refused, and retry it on the timer thread."""
        entry = self._keep(store, key, token, retain_for, delivery_id)
        if entry is not None:
            _timers.call_later(entry.delay, lambda: self._retry(entry))

    async def aadd(
        self, store: Store, key: str, token: str, retain_for: float, delivery_id: str
    ) -> None:
        """Keep a completion ``store`` refused, and retry it as tasks on the running loop
        (with the store's async client, the one an async app has)."""
        entry = self._keep(store, key, token, retain_for, delivery_id)
        if entry is not None:
            loop = asyncio.get_running_loop()
            loop.call_later(entry.delay, self._aretry_soon, entry, loop)

    def _keep(
        self, store: Store, key: str, token: str, retain_for: float, delivery_id: str
    ) -> _Pending | None:
        until = time.monotonic() + self.retry_for
        entry = _Pending(store, key, token, retain_for, delivery_id, until)
        with self._lock:
            full = len(self._pending) >= self.max_entries and key not in self._pending
            if not full:
                self._pending[key] = entry
        if full:
            _lost(entry, f"{self.max_entries} completions are already waiting for the store")
            return None
        return entry

    def _retry(self, entry: _Pending) -> None:
        try:
            recorded = entry.store.complete(entry.key, entry.token, entry.retain_for)
        except Exception as exc:  # StoreUnavailable, or a bug: retried the same, then logged
            if self._again(entry, exc):
                _timers.call_later(entry.delay, lambda: self._retry(entry))
            return
        self._settled(entry, recorded)

    def _aretry_soon(self, entry: _Pending, loop: asyncio.AbstractEventLoop) -> None:
        task = loop.create_task(self._aretry(entry, loop))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _aretry(self, entry: _Pending, loop: asyncio.AbstractEventLoop) -> None:
        try:
            recorded = await entry.store.acomplete(entry.key, entry.token, entry.retain_for)
        except Exception as exc:
            if self._again(entry, exc):
                loop.call_later(entry.delay, self._aretry_soon, entry, loop)
            return
        self._settled(entry, recorded)

    def _again(self, entry: _Pending, exc: Exception) -> bool:
        """Whether to try once more (after a longer delay); else give up, and say so."""
        if time.monotonic() + entry.delay >= entry.give_up_at:
            self._forget(entry)
            _lost(entry, f"the store stayed unavailable ({exc})")
            return False
        entry.delay = min(entry.delay * 2, self.max_delay)
        return True

    def _settled(self, entry: _Pending, recorded: bool) -> None:
        self._forget(entry)
        if recorded:
            logger.info(
                "recorded %s as handled once the store was back (delivery %s)",
                entry.key,
                entry.delivery_id,
            )
        else:
            _lost(entry, "another worker took it over after its lease")

    def _forget(self, entry: _Pending) -> None:
        with self._lock:
            if self._pending.get(entry.key) is entry:
                del self._pending[entry.key]

    def wait(self, timeout: float) -> bool:
        """Wait until no completion is pending (tests, shutdown); whether none is."""
        deadline = time.monotonic() + timeout
        while self._pending:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True


def _lost(entry: _Pending, why: str) -> None:
    logger.error(
        "could not record %s as handled (delivery %s): %s; the event may run again",
        entry.key,
        entry.delivery_id,
        why,
    )
