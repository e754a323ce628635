"""One background event loop per process, for async handlers called from WSGI threads.

WSGI servers call us from plain threads. Creating an event loop per request (``asyncio.run``)
costs a loop's set-up and tear-down each time and breaks clients that cache a loop; instead one
daemon thread runs one loop for the life of the process, and each call waits for its result.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_in_background_loop"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_pid = 0


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop, _pid
    with _lock:
        # A forked worker (gunicorn pre-fork) inherits the variable but not the thread.
        if _loop is None or _pid != os.getpid():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="hookreceiver-loop", daemon=True
            )
            thread.start()
            _loop, _pid = loop, os.getpid()
        return _loop


def run_in_background_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the process's background loop and wait for its result.

    Leaner than ``asyncio.run_coroutine_threadsafe(...).result()``: no concurrent future to
    chain, and no done-callback round: the task itself releases a lock this thread waits on as
    it finishes. The hop between threads remains the cost of async handlers under WSGI.
    """
    loop = _background_loop()
    finished = threading.Lock()
    finished.acquire()
    outcome: list[Any] = []

    async def run() -> None:
        try:
            outcome.append(await coro)
        except BaseException as exc:  # handed to the caller's thread, cancellation included
            outcome.append(_Failed(exc))
        finally:
            finished.release()

    def start() -> None:
        task = loop.create_task(run())
        _running.add(task)  # the loop keeps only weak references to its tasks
        task.add_done_callback(_running.discard)

    try:
        loop.call_soon_threadsafe(start)
    except BaseException:
        coro.close()
        raise
    finished.acquire()
    result = outcome[0]
    if isinstance(result, _Failed):
        raise result.exc
    return result  # type: ignore[no-any-return]


class _Failed:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_running: set[asyncio.Task[None]] = set()
