"""Keeping leases alive while handlers run, and completions a store could not take yet.

A claim (in the dedup store) and an inbox delivery being processed are leases: held for a
while, taken over by another worker once they expire, so that the work of a process that died
is done again. A handler slower than the lease must not be taken over while it runs, so its
lease is renewed once a third of it has passed, and again every third, until the handlers end.
A process that dies stops renewing, and its work is taken over after the lease.

Holding a lease is cheap, since most handlers end long before a renewal is due: :func:`hold`
puts it in a dict and :func:`let_go` takes it out, with no lock, timer or task per delivery. One
timer thread per process looks at the held leases every half renewal interval and renews those
due: on a small thread pool, or as a task on the event loop the lease was taken on when its
store does I/O there (so an async app renews with its own async client).

:class:`PendingCompletions` keeps a completion the store refused because it was down: it is
retried with backoff until the store takes it (a late complete wins over an expired claim
nobody took over), and meanwhile a copy of the event reaching this process is a duplicate.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import StoreUnavailable

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from ..stores.base import Store

__all__ = ["Lease", "PendingCompletions", "hold", "hold_claim", "let_go", "renewal_interval"]

logger = logging.getLogger("hookreceiver")


class _Timers:
    """One daemon thread running delayed calls, on a few pool threads (so that one slow call,
    a renewal waiting for a store's timeout, does not hold the others back)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._due = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        when = time.monotonic() + delay
        with self._lock:
            if self._thread is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(4, thread_name_prefix="hookreceiver-lease")
                self._thread = threading.Thread(
                    target=self._run, name="hookreceiver-timers", daemon=True
                )
                self._thread.start()
            wake = not self._heap or when < self._heap[0][0]
            heapq.heappush(self._heap, (when, next(self._seq), fn))
            if wake:
                self._due.notify()

    def submit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the pool now."""
        assert self._pool is not None  # started by the call_later that led here
        try:
            self._pool.submit(_call, fn)
        except RuntimeError:  # the interpreter is shutting down
            pass

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._due.wait(timeout)
                _, _, fn = heapq.heappop(self._heap)
            self.submit(fn)


def _call(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:
        logger.exception("lease keeping failed")


def renewal_interval(lease: float) -> float:
    """How often a lease is renewed: a third of it, so that a renewal may fail or come late
    once before the lease runs out."""
    return max(0.01, lease / 3)


class Lease:
    """A lease held while handlers run, renewed when due (subclasses say how).

    ``loop``: the event loop to renew on (with :meth:`arenew`), or ``None`` for the pool (with
    :meth:`renew`).
    """

    __slots__ = ("interval", "renewed_at", "loop", "busy")

    def __init__(self, lease: float, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.interval = renewal_interval(lease)
        self.renewed_at = time.monotonic()
        self.loop = loop
        self.busy = False

    def renew(self) -> bool | None:
        """Renew now: ``True`` done, ``False`` lost (stop), ``None`` not reachable (retry)."""
        raise NotImplementedError

    async def arenew(self) -> bool | None:
        """Async :meth:`renew`, on :attr:`loop`."""
        return self.renew()


class _Keeper:
    """The held leases of this process, and the scans that renew them."""

    def __init__(self) -> None:
        # A held lease, or a claim's arguments (_ClaimArgs) until a scan finds it due.
        self._held: dict[int, Lease | _ClaimArgs] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        # Seconds between scans: half the shortest renewal interval held so far. It never
        # grows, so a lease that reads it without the lock is always looked at in time.
        self._tick = math.inf
        self._chain = 0
        self._lease_seen = math.nan  # the last claim lease checked against the tick

    def hold(self, lease: Lease) -> int:
        hold_id = next(self._ids)
        self._held[hold_id] = lease
        if lease.interval / 2 < self._tick:
            self._shorten(lease.interval / 2)
        return hold_id

    def hold_claim(self, args: _ClaimArgs) -> int:
        """Hold a claim as its arguments: its :class:`_Claim` is built by the scan that finds
        it due, which most deliveries end long before (a list costs a fraction of a Lease)."""
        hold_id = next(self._ids)
        self._held[hold_id] = args
        lease = args[4]
        if lease != self._lease_seen:  # the same lease every time, in practice
            interval = renewal_interval(lease)
            if interval / 2 < self._tick:
                self._shorten(interval / 2)
            self._lease_seen = lease
        return hold_id

    def let_go(self, hold_id: int) -> None:
        # One dict operation, atomic: no lock (a lock costs a delivery more than the rest of
        # its hold). A scan never puts an entry back: it builds a claim's lease into the
        # claim's own list (see _built), so an entry let go stays gone.
        self._held.pop(hold_id, None)

    def _built(self, args: _ClaimArgs, now: float) -> Lease | None:
        """The claim held as ``args`` as a :class:`_Claim` once it is due (``None``: not due
        yet). Kept as the last item of ``args`` itself, never put back in ``_held``: a claim
        let go meanwhile stays let go (its one renewal under way is refused by the store)."""
        if len(args) > 7:
            built: Lease = args[7]
            return built
        taken_at, store, key, token, lease, delivery_id, loop = args
        if now - taken_at < renewal_interval(lease):
            return None
        built = _Claim(store, key, token, lease, delivery_id, loop)
        built.renewed_at = taken_at
        args.append(built)
        return built

    def _shorten(self, tick: float) -> None:
        with self._lock:
            if tick >= self._tick:
                return
            self._tick = tick
            self._chain += 1
            chain = self._chain
        # A new chain of scans at the shorter tick; the former one ends at its next scan.
        _timers.call_later(tick, lambda: self._scan(chain))

    def _scan(self, chain: int) -> None:
        if chain != self._chain:
            return
        while True:
            try:
                held = list(self._held.items())
                break
            except RuntimeError:  # changed by another thread while copied: copy again
                continue
        now = time.monotonic()
        for hold_id, entry in held:
            if isinstance(entry, Lease):
                lease = entry
            else:
                built = self._built(entry, now)
                if built is None:
                    continue
                lease = built
            if lease.busy or now - lease.renewed_at < lease.interval:
                continue
            loop = lease.loop
            if loop is None:
                lease.busy = True
                _timers.submit(functools.partial(self._renew, hold_id, lease, now))
                continue
            if loop.is_closed():  # nothing left to renew for
                self.let_go(hold_id)
                continue
            if not loop.is_running():  # nor do its handlers run: look again next time
                continue
            lease.busy = True
            renewal = self._arenew(hold_id, lease, now)
            try:
                asyncio.run_coroutine_threadsafe(renewal, loop)
            except RuntimeError:  # closed meanwhile
                renewal.close()
                lease.busy = False
                self.let_go(hold_id)
        _timers.call_later(self._tick, lambda: self._scan(chain))

    def _renew(self, hold_id: int, lease: Lease, started: float) -> None:
        try:
            self._renewed(hold_id, lease, started, lease.renew())
        finally:
            lease.busy = False

    async def _arenew(self, hold_id: int, lease: Lease, started: float) -> None:
        try:
            self._renewed(hold_id, lease, started, await lease.arenew())
        finally:
            lease.busy = False

    def _renewed(self, hold_id: int, lease: Lease, started: float, result: bool | None) -> None:
        if result:
            lease.renewed_at = started
        elif result is False:
            self.let_go(hold_id)
        # None: not reachable; due again at the next scan


_timers = _Timers()
_keeper = _Keeper()
_all_pending: weakref.WeakSet[PendingCompletions] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # The timer thread, its pool and the parent's leases are not inherited: a child starts
    # its own on first use. Nor are the parent's pending completions: the parent retries them.
    global _timers, _keeper
    _timers = _Timers()
    _keeper = _Keeper()
    for pending in list(_all_pending):
        pending._pending.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def hold(lease: Lease) -> int:
    """Keep ``lease`` renewed until :func:`let_go` is called with the id returned."""
    return _keeper.hold(lease)


def let_go(hold_id: int) -> None:
    """Stop renewing a lease (a renewal under way finishes; the stores ignore it then)."""
    _keeper.let_go(hold_id)


class _Claim(Lease):
    __slots__ = ("store", "key", "token", "lease", "delivery_id")

    def __init__(
        self,
        store: Store,
        key: str,
        token: str,
        lease: float,
        delivery_id: str,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        super().__init__(lease, loop)
        self.store = store
        self.key = key
        self.token = token
        self.lease = lease
        self.delivery_id = delivery_id

    def renew(self) -> bool | None:
        return self._checked(self.store.renew)

    async def arenew(self) -> bool | None:
        try:
            renewed = await self.store.arenew(self.key, self.token, self.lease)
        except (StoreUnavailable, NotImplementedError) as exc:
            return self._failed(exc)
        return self._lost_unless(renewed)

    def _checked(self, renew: Callable[[str, str, float], bool]) -> bool | None:
        try:
            renewed = renew(self.key, self.token, self.lease)
        except (StoreUnavailable, NotImplementedError) as exc:
            return self._failed(exc)
        return self._lost_unless(renewed)

    def _failed(self, exc: Exception) -> bool | None:
        if isinstance(exc, NotImplementedError):
            return False  # a store of an older interface: its claims expire as before
        logger.warning(
            "could not renew the claim on %s (delivery %s): %s", self.key, self.delivery_id, exc
        )
        return None  # the store may be back before the lease ends

    def _lost_unless(self, renewed: bool) -> bool:
        if not renewed:
            logger.warning(
                "claim on %s (delivery %s) was lost while its handlers ran: another worker "
                "may run them too",
                self.key,
                self.delivery_id,
            )
        return renewed


def hold_claim(store: Store, key: str, token: str, lease: float, delivery_id: str) -> int:
    """Keep a dedup claim renewed while its handlers run; :func:`let_go` when they end.

    Taken on an event loop, a store that does I/O is renewed there with its async methods;
    otherwise (WSGI threads, the memory store) on the pool with the sync ones.
    """
    loop = asyncio._get_running_loop() if store.blocking else None
    return _keeper.hold_claim([time.monotonic(), store, key, token, lease, delivery_id, loop])


#: A held claim: when it was taken, then _Claim's arguments; its _Claim appended once built.
_ClaimArgs = list[Any]


# Completions the store could not take ------------------------------------------------------------


class _Pending:
    __slots__ = (
        "store",
        "key",
        "token",
        "retain_for",
        "delivery_id",
        "give_up_at",
        "delay",
        "loop",
    )

    def __init__(
        self,
        store: Store,
        key: str,
        token: str,
        retain_for: float,
        delivery_id: str,
        until: float,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        self.store = store
        self.key = key
        self.token = token
        self.retain_for = retain_for
        self.delivery_id = delivery_id
        self.give_up_at = until
        self.delay = PendingCompletions.first_delay
        self.loop = loop


class PendingCompletions:
    """Completions a store refused (it was down), retried in the background until it takes them.

    Retries back off from 0.1 s to 5 s between attempts, on the timer thread; a completion
    kept on an event loop is retried there, with the store's async methods (an async app's
    client), while that loop runs. Bounded: at most ``max_entries`` are kept, each for at most
    ``retry_for`` seconds. A completion that cannot be recorded (given up, or the key was taken
    over meanwhile) is logged at ERROR with its key and delivery id: its event may run again.

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
        _all_pending.add(self)

    def __contains__(self, key: object) -> bool:
        return key in self._pending

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, store: Store, key: str, token: str, retain_for: float, delivery_id: str) -> None:
        """Keep a completion ``store`` refused, and retry it with the store's sync methods."""
        self._keep(_Pending(store, key, token, retain_for, delivery_id, self._until(), None))

    async def aadd(
        self, store: Store, key: str, token: str, retain_for: float, delivery_id: str
    ) -> None:
        """Keep a completion ``store`` refused, and retry it on the running loop."""
        loop = asyncio.get_running_loop()
        self._keep(_Pending(store, key, token, retain_for, delivery_id, self._until(), loop))

    def _until(self) -> float:
        return time.monotonic() + self.retry_for

    def _keep(self, entry: _Pending) -> None:
        with self._lock:
            full = len(self._pending) >= self.max_entries and entry.key not in self._pending
            if not full:
                self._pending[entry.key] = entry
        if full:
            _lost(entry, f"{self.max_entries} completions are already waiting for the store")
            return
        self._schedule(entry)

    def _schedule(self, entry: _Pending) -> None:
        _timers.call_later(entry.delay, functools.partial(self._attempt, entry))

    def _attempt(self, entry: _Pending) -> None:
        loop = entry.loop
        if loop is not None and not loop.is_closed():
            if not loop.is_running():  # stopped for now: try again later
                if self._again(entry, StoreUnavailable("its event loop is not running")):
                    self._schedule(entry)
                return
            retry = self._aretry(entry)
            try:
                asyncio.run_coroutine_threadsafe(retry, loop)
                return
            except RuntimeError:  # closed meanwhile: the sync methods then
                retry.close()
        self._retry(entry)

    def _retry(self, entry: _Pending) -> None:
        try:
            recorded = entry.store.complete(entry.key, entry.token, entry.retain_for)
        except Exception as exc:  # StoreUnavailable, or a bug: retried the same, then logged
            if self._again(entry, exc):
                self._schedule(entry)
            return
        self._settled(entry, recorded)

    async def _aretry(self, entry: _Pending) -> None:
        try:
            recorded = await entry.store.acomplete(entry.key, entry.token, entry.retain_for)
        except Exception as exc:
            if self._again(entry, exc):
                self._schedule(entry)
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
