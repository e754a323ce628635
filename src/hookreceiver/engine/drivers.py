"""The two drivers of the engine's flows: blocking (WSGI threads, the worker's threads, tests)
and on an event loop (ASGI, the worker's tasks).

A driver sets each effect's ``result`` and resumes the flow, or throws the effect's exception
in; the flow decides what an exception means. The one shortcut lives here: an effect that does
no I/O (a memory store) is run straight from the event loop instead of being awaited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any, TypeVar

from .effects import Effect

__all__ = ["drive_async", "drive_sync"]

T = TypeVar("T")


def drive_sync(flow: Generator[Effect[Any], None, T]) -> T:
    """Run ``flow`` to its end with blocking I/O; returns what it returns."""
    error: Exception | None = None
    while True:
        try:
            effect = flow.send(None) if error is None else flow.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        try:
            effect.result = effect.run()
            error = None
        except Exception as exc:  # handed back to the flow, which decides
            error = exc


async def drive_async(flow: Generator[Effect[Any], None, T]) -> T:
    """Run ``flow`` to its end on the running event loop.

    A cancellation (the server gave up on the request, or is shutting down) is thrown into the
    flow too, so that it can give back what it holds (a claim) before it propagates.
    """
    error: BaseException | None = None
    while True:
        try:
            effect = flow.send(None) if error is None else flow.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        try:
            if effect.nonblocking:
                effect.result = effect.run()
            else:
                effect.result = await effect.arun()
            error = None
        except Exception as exc:
            error = exc
        except asyncio.CancelledError as exc:
            error = exc
