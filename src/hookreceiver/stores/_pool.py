"""Tiny connection pools for the SQLite and PostgreSQL stores (no extra dependency).

Each pool hands out one connection per caller, keeps up to ``max_size`` of them, and discards a
connection that raised (it may be broken, or in a failed transaction). A pool notices a fork:
connections made by the parent process are never used (nor closed) by a child, because closing
a shared socket from the child would break the parent's session.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

from ..errors import StoreUnavailable

__all__ = ["AsyncPool", "SyncPool"]

C = TypeVar("C")


class SyncPool(Generic[C]):
    """Connections for threads: take one, use it, give it back.

    Taking and giving back cost one lock each (a counter, not a semaphore); only a caller that
    finds all ``max_size`` connections in use waits, on a condition.

    Args:
        connect: opens a connection.
        close: closes one (errors are ignored).
        max_size: connections open at most; callers beyond it wait up to ``timeout``.
        timeout: seconds to wait for a free connection before :class:`StoreUnavailable`.
    """

    def __init__(
        self,
        connect: Callable[[], C],
        close: Callable[[C], None],
        *,
        max_size: int,
        timeout: float,
    ) -> None:
        self._connect = connect
        self._close = close
        self._max_size = max_size
        self._timeout = timeout
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._waiting = 0
        self._reset()

    def _reset(self) -> None:
        self._generation = _forks
        self._idle: list[C] = []
        self._in_use = 0

    def connection(self) -> _Borrowed[C]:
        """A connection for the duration of a ``with`` block; discarded if the block raises."""
        return _Borrowed(self)

    def _take(self) -> C:
        with self._lock:
            if self._generation != _forks:  # forked: the parent's connections are not ours
                _inherited.extend(self._idle)
                self._reset()
            if self._in_use >= self._max_size:
                self._wait_for_a_free_slot()
            self._in_use += 1
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            try:
                conn = self._connect()
            except BaseException:
                self._give_back(None)
                raise
        return conn

    def _wait_for_a_free_slot(self) -> None:
        # Called with the lock held.
        deadline = time.monotonic() + self._timeout
        self._waiting += 1
        try:
            while self._in_use >= self._max_size:
                left = deadline - time.monotonic()
                if left <= 0 or not self._freed.wait(left):
                    if self._in_use < self._max_size:
                        break
                    raise StoreUnavailable(f"no free store connection after {self._timeout:g} s")
        finally:
            self._waiting -= 1

    def _give_back(self, conn: C | None) -> None:
        with self._lock:
            if self._in_use > 0:  # not after a fork that happened while this was borrowed
                self._in_use -= 1
            if conn is not None and self._generation == _forks:
                self._idle.append(conn)
            if self._waiting:
                self._freed.notify()

    def _discard(self, conn: C) -> None:
        try:
            self._close(conn)
        except Exception:  # already broken: nothing more to do
            pass

    def close(self) -> None:
        """Close the idle connections (those in use are closed when given back broken)."""
        with self._lock:
            idle, self._idle = self._idle, []
            mine = self._generation == _forks
        if mine:
            for conn in idle:
                self._discard(conn)


class _Borrowed(Generic[C]):
    """``with pool.connection() as conn``: the connection goes back, or is discarded."""

    __slots__ = ("_pool", "_conn")

    def __init__(self, pool: SyncPool[C]) -> None:
        self._pool = pool

    def __enter__(self) -> C:
        self._conn = self._pool._take()
        return self._conn

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        conn = self._conn
        if kind is not None:
            self._pool._discard(conn)
            self._pool._give_back(None)
        else:
            self._pool._give_back(conn)


class AsyncPool(Generic[C]):
    """Connections for tasks of one event loop; a new loop gets fresh connections.

    Async connections belong to the loop that opened them, so the pool is keyed by loop: an app
    runs one loop and has one pool; tests that start loops one after another get one each.
    ``abandon`` closes a connection of a former loop without awaiting anything.
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[C]],
        close: Callable[[C], Awaitable[None]],
        abandon: Callable[[C], None],
        *,
        max_size: int,
        timeout: float,
    ) -> None:
        self._connect = connect
        self._close = close
        self._abandon = abandon
        self._max_size = max_size
        self._timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = os.getpid()
        self._idle: list[C] = []
        self._slots: asyncio.Semaphore | None = None

    def _for_this_loop(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._slots is None:
            if self._pid != os.getpid():
                _inherited.extend(self._idle)
                self._pid = os.getpid()
            else:
                # Connections of another loop cannot be awaited from this one: close them bluntly.
                for conn in self._idle:
                    try:
                        self._abandon(conn)
                    except Exception:
                        pass
            self._loop, self._idle = loop, []
            self._slots = asyncio.Semaphore(self._max_size)
        return self._slots

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[C]:
        """A connection for the duration of the block; discarded if the block raises."""
        slots = self._for_this_loop()
        try:
            await asyncio.wait_for(slots.acquire(), self._timeout)
        except asyncio.TimeoutError:
            raise StoreUnavailable(f"no free store connection after {self._timeout:g} s") from None
        try:
            conn = self._idle.pop() if self._idle else await self._connect()
            try:
                yield conn
            except BaseException:
                await self._discard(conn)
                raise
            self._idle.append(conn)
        finally:
            slots.release()

    async def _discard(self, conn: C) -> None:
        try:
            await self._close(conn)
        except Exception:
            pass

    async def close(self) -> None:
        """Close the idle connections of the running loop."""
        if self._loop is not asyncio.get_running_loop():
            return
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._discard(conn)


#: How many times this process is a forked child of the one that imported us: pools made before
#: a fork see a different number and start over, without a getpid() call per connection.
_forks = 0


def _after_fork_in_child() -> None:
    global _forks
    _forks += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


#: Connections a forked child inherited: never used, and kept referenced so that no finalizer
#: closes them (which would end the parent's sessions on the shared sockets).
_inherited: list[object] = []
