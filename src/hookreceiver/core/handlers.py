"""Handler registration and resolution: by event name, by model class, by provider, or all.

Resolution order for one event: handlers of its exact name, then of its model class (or a base
class), then of its normalized view (by name or class), then the provider wildcard
(``"documo.*"``), then catch-alls (``"*"``). Within a tier, registration order. The result is
cached per event shape, so resolving costs one dict look-up on the hot path.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .events import DeliveryContext, ParsedEvent
from .loop import run_in_background_loop

__all__ = ["ErrorHandler", "Handler", "HandlerRegistry", "HandlerSpec"]

E = TypeVar("E")

#: A handler: ``(event, ctx) -> None``, sync or async.
Handler = Callable[[E, DeliveryContext], "Awaitable[None] | None"]
#: An error handler: ``(exception, ctx) -> None``, sync or async.
ErrorHandler = Callable[[BaseException, DeliveryContext], "Awaitable[None] | None"]

CATCH_ALL = "*"


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
    )


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """A registered function with its sync and async ways of being called.

    :meth:`call` runs it from a WSGI worker thread (an async handler goes to the one background
    event loop of the process); :attr:`acall` runs it on the server's event loop (a sync
    handler goes to the default thread pool, so it never blocks the loop). The ``a`` prefix is
    the project's one convention for the async twin of a call.
    """

    fn: Callable[..., Any]
    is_async: bool
    #: Call from the event loop: ``await spec.acall(*args)``. The coroutine function itself
    #: (no coroutine around it), or a sync function sent to a thread.
    acall: Callable[..., Awaitable[Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "acall", self.fn if self.is_async else self._in_thread)

    @classmethod
    def of(cls, fn: Callable[..., Any]) -> HandlerSpec:
        """Inspect ``fn`` once, at registration."""
        return cls(fn, _is_async(fn))

    def call(self, *args: Any) -> Any:
        """Call from synchronous code."""
        if self.is_async:
            return run_in_background_loop(self.fn(*args))
        return self.fn(*args)

    async def _in_thread(self, *args: Any) -> Any:
        import asyncio  # not at module level: importing asyncio costs ~20 ms

        return await asyncio.to_thread(self.fn, *args)

    @property
    def name(self) -> str:
        """The function's qualified name, for logs."""
        return getattr(self.fn, "__qualname__", repr(self.fn))


class HandlerRegistry:
    """Holds handlers and error handlers; resolves which run for an event."""

    def __init__(self) -> None:
        self._by_name: dict[str, list[HandlerSpec]] = {}
        self._by_type: list[tuple[type, HandlerSpec]] = []
        self._on_error: list[HandlerSpec] = []
        self._cache: dict[tuple[str, type, str | None, type | None], list[tuple[HandlerSpec, bool]]]
        self._cache = {}

    def add(self, target: str | type, fn: Callable[..., Any]) -> None:
        """Register ``fn`` for an event name, ``"provider.*"``, ``"*"``, or a model class."""
        spec = HandlerSpec.of(fn)
        if isinstance(target, str):
            self._by_name.setdefault(target, []).append(spec)
        else:
            self._by_type.append((target, spec))
        self._cache.clear()

    def add_error_handler(self, fn: Callable[..., Any]) -> None:
        """Register ``fn(exception, ctx)`` to be called when a handler raises."""
        self._on_error.append(HandlerSpec.of(fn))

    @property
    def error_handlers(self) -> list[HandlerSpec]:
        """The registered error handlers, in order."""
        return self._on_error

    def resolve(self, event: ParsedEvent) -> list[tuple[HandlerSpec, bool]]:
        """The handlers for ``event``, each with whether it takes the normalized view."""
        cache_key = (event.name, type(event.model), event.normalized_name, event.normalized_type)
        found = self._cache.get(cache_key)
        if found is None:
            found = self._cache[cache_key] = self._resolve(event)
        return found

    def _resolve(self, event: ParsedEvent) -> list[tuple[HandlerSpec, bool]]:
        chosen: list[tuple[HandlerSpec, bool]] = []
        seen: set[int] = set()

        def take(specs: list[HandlerSpec], normalized: bool) -> None:
            for spec in specs:
                if id(spec) not in seen:
                    seen.add(id(spec))
                    chosen.append((spec, normalized))

        take(self._by_name.get(event.name, []), False)
        take([s for t, s in self._by_type if isinstance(event.model, t)], False)
        view_type = event.normalized_type  # the view itself is not built to resolve
        if view_type is not None:
            if event.normalized_name is not None:
                take(self._by_name.get(event.normalized_name, []), True)
            take([s for t, s in self._by_type if issubclass(view_type, t)], True)
        take(self._by_name.get(f"{event.provider}.*", []), False)
        take(self._by_name.get(CATCH_ALL, []), False)
        return chosen
