"""The engine's one hook for step-by-step telemetry: a :class:`Tracer` told of each delivery's
phases and effects (spans, per-handler timings).

An app with no tracer pays one ``None`` test per delivery (in :mod:`.dispatch` and the inbox's
processing). With one, a live delivery whose trace has no :attr:`~DeliveryTrace.steps` takes
the untraced flow's shortcuts (the coroutine flow on an event loop, a store without I/O called
in place), which tell a :attr:`~DeliveryTrace.timed` trace what the drivers below would; the
rest runs through :func:`drive_sync_traced` or :func:`drive_async_traced`. Those drivers go
one of three ways, by what the delivery's
:class:`DeliveryTrace` asks for (:attr:`~DeliveryTrace.steps`, :attr:`~DeliveryTrace.timed`):
a call before and after each effect (a span per step); only each handler's duration and each
failed effect (metrics alone, or a span a sampler dropped: a type test per effect); or nothing
(the plain drivers). The first two share one loop per flavour (sync, async); the plain
drivers in :mod:`.drivers` stay apart so that an app without telemetry pays no test per
effect for them. The engine imports no telemetry library: ``hookreceiver.observability``
implements these protocols with OpenTelemetry and prometheus-client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from time import perf_counter
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .drivers import drive_async, drive_sync
from .effects import Effect, Keep, RunHandler

if TYPE_CHECKING:
    from ..core.routing import Endpoint
    from ..delivery import Delivery
    from .report import DeliveryReport

__all__ = ["DeliveryTrace", "Tracer", "drive_async_traced", "drive_sync_traced"]

T = TypeVar("T")


class DeliveryTrace(Protocol):
    """One delivery as a tracer follows it, from :meth:`Tracer.start` to :meth:`end`.

    Read once per delivery by the traced drivers: :attr:`steps` (:meth:`enter` and :meth:`exit`
    around every effect), else :attr:`timed` (:meth:`ran` after each handler, :meth:`keeping`
    before writing to the inbox, :meth:`failed` after any other effect that raised), else
    neither (the plain drivers). :meth:`phase`, :meth:`reported` and :meth:`end` are called
    either way.
    """

    #: Whether :meth:`enter` and :meth:`exit` are called around every effect.
    steps: bool
    #: Without :attr:`steps`: whether :meth:`ran` and :meth:`failed` are called.
    timed: bool

    def phase(self, name: str | None) -> None:
        """A phase of the flow begins (``"verify"``, ``"parse"``), ending the open one;
        ``None`` ends the open one."""

    def enter(self, effect: Effect[Any]) -> object:
        """``effect`` is about to run (in the task or thread that runs it); what this returns
        is handed to :meth:`exit`."""

    def exit(self, entered: object, error: BaseException | None) -> None:
        """The effect :meth:`enter` was told of has ended, with ``error`` if it raised."""

    def ran(self, effect: RunHandler, seconds: float, error: BaseException | None) -> None:
        """(:attr:`timed`, without :attr:`steps`) a handler ran for ``seconds``, raising
        ``error`` or not."""

    def keeping(self, effect: Keep) -> None:
        """(:attr:`timed`, without :attr:`steps`) ``effect`` is about to keep the delivery in
        the inbox: the place to set its ``traceparent``."""

    def failed(self, effect: Effect[Any], error: BaseException) -> None:
        """(:attr:`timed`, without :attr:`steps`) an effect other than a handler raised."""

    def reported(self, report: DeliveryReport) -> None:
        """The delivery's report, as the observers get it (an inbox delivery's steps go on
        after it: the record's new state is written then)."""

    def end(self, report: DeliveryReport | None, error: BaseException | None = None) -> None:
        """The delivery is over: its report (``None``: the one :meth:`reported` gave, or it
        escaped with ``error``)."""


class Tracer(Protocol):
    """Set as the receiver's ``tracer``: starts a :class:`DeliveryTrace` per delivery."""

    def start(
        self,
        delivery: Delivery | None,
        endpoint: Endpoint | None,
        *,
        source: str = "http",
        link: str | None = None,
    ) -> DeliveryTrace:
        """A delivery begins: live (``source="http"``) or from the inbox (``"inbox"``, with the
        W3C ``traceparent`` its receiving span left on the record as ``link``).

        Called in the task or thread the delivery runs in; the observers are called between
        this and :meth:`DeliveryTrace.end`, in the same task or thread.
        """


def drive_sync_traced(flow: Generator[Effect[Any], None, T], trace: DeliveryTrace) -> T:
    """:func:`~.drivers.drive_sync`, telling ``trace`` of each effect (or of what it asks)."""
    steps = trace.steps
    if not steps and not trace.timed:
        return drive_sync(flow)
    error: Exception | None = None
    while True:
        try:
            effect = flow.send(None) if error is None else flow.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        if steps:
            entered, handler = trace.enter(effect), None
        else:
            entered, handler = None, effect if type(effect) is RunHandler else None
            if type(effect) is Keep:
                trace.keeping(effect)
        started = perf_counter() if handler is not None else 0.0
        try:
            effect.result = effect.run()
            error = None
        except Exception as exc:  # handed back to the flow, which decides
            error = exc
        if steps:
            trace.exit(entered, error)
        elif handler is not None:
            trace.ran(handler, perf_counter() - started, error)
        elif error is not None:
            trace.failed(effect, error)


def drive_async_traced(
    flow: Generator[Effect[Any], None, T], trace: DeliveryTrace
) -> Coroutine[Any, Any, T]:
    """:func:`~.drivers.drive_async`, telling ``trace`` of each effect (or of what it asks):
    the driver's coroutine itself, to await (no coroutine around it)."""
    if trace.steps or trace.timed:
        return _drive_async_traced(flow, trace)
    return drive_async(flow)


async def _drive_async_traced(flow: Generator[Effect[Any], None, T], trace: DeliveryTrace) -> T:
    """:func:`~.drivers.drive_async`, telling ``trace`` of each effect (:attr:`~DeliveryTrace.
    steps`), or timing each handler and telling ``trace`` of failures."""
    steps = trace.steps
    error: BaseException | None = None
    while True:
        try:
            effect = flow.send(None) if error is None else flow.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        if steps:
            entered, handler = trace.enter(effect), None
        else:
            entered, handler = None, effect if type(effect) is RunHandler else None
            if type(effect) is Keep:
                trace.keeping(effect)
        started = perf_counter() if handler is not None else 0.0
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
        if steps:
            trace.exit(entered, error)
        elif handler is not None:
            trace.ran(handler, perf_counter() - started, error)
        elif isinstance(error, Exception):  # a cancellation is no failure of the effect's
            trace.failed(effect, error)
