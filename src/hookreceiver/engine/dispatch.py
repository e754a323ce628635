"""The one entry point of the engine: a delivery in, a report out.

ASGI, WSGI, :meth:`Receiver.handle <hookreceiver.Receiver.handle>`, the testing client all call
:func:`dispatch` or :func:`adispatch`; the route match, the 404 for a path that is no endpoint,
the last-resort 500 and the observers' call live here once.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from ..core.outcome import INTERNAL_ERROR, NOT_FOUND, Outcome
from ..delivery import Delivery
from .drivers import drive_sync
from .flow import adeliver, delivery_flow
from .report import DeliveryReport, notify, observer_failed
from .tracing import drive_async_traced, drive_sync_traced

if TYPE_CHECKING:
    from ..core.protocols import ReceiverState
    from ..core.routing import Route
    from .tracing import Tracer

__all__ = ["INTERNAL_ERROR", "NOT_FOUND", "DeliveryAbandoned", "adispatch", "dispatch"]

logger = logging.getLogger("hookreceiver")


class DeliveryAbandoned(Exception):
    """The sender went away before its delivery could be answered: nothing is answered, and
    no report is made (the adapters raise subclasses, such as ``ClientDisconnected``)."""


def dispatch(
    receiver: ReceiverState, delivery: Delivery, route: Route | None = None
) -> DeliveryReport:
    """Handle one delivery with blocking I/O; ``route`` when the caller matched it already.

    Raises:
        DeliveryAbandoned: the sender went away; nothing is to be answered.
    """
    started = time.perf_counter()
    if route is None:
        route = receiver.match(delivery.path)
        if route is None:
            return _notified(receiver, _not_found(started))
    if receiver.tracer is not None:  # the one test an app without telemetry pays
        return _traced(receiver, receiver.tracer, delivery, route, started)
    try:
        report = drive_sync(delivery_flow(receiver, route, delivery, started))
    except DeliveryAbandoned:
        raise
    except Exception as exc:
        report = _failed(delivery, route, exc, started)
    for observer in receiver.observers:  # notify(), inlined: this runs for every delivery
        try:
            observer.on_report(report)
        except Exception:
            observer_failed(observer, report)
    return report


async def adispatch(
    receiver: ReceiverState, delivery: Delivery, route: Route | None = None
) -> DeliveryReport:
    """Handle one delivery on the running event loop (see :func:`dispatch`)."""
    started = time.perf_counter()
    if route is None:
        route = receiver.match(delivery.path)
        if route is None:
            return _notified(receiver, _not_found(started))
    if receiver.tracer is not None:  # the one test an app without telemetry pays
        return await _atraced(receiver, receiver.tracer, delivery, route, started)
    try:
        report = await adeliver(receiver, route, delivery, started)  # the flow, as a coroutine
    except DeliveryAbandoned:
        raise
    except Exception as exc:
        report = _failed(delivery, route, exc, started)
    for observer in receiver.observers:  # notify(), inlined: this runs for every delivery
        try:
            observer.on_report(report)
        except Exception:
            observer_failed(observer, report)
    return report


def _traced(
    receiver: ReceiverState, tracer: Tracer, delivery: Delivery, route: Route, started: float
) -> DeliveryReport:
    """:func:`dispatch` told to ``tracer``: the same steps, through the traced driver."""
    trace = tracer.start(delivery, route.endpoint)
    steps = trace.steps  # else no phase to tell of
    try:
        if steps:
            trace.phase("verify")
        try:
            flow = delivery_flow(receiver, route, delivery, started, trace)
            report = drive_sync_traced(flow, trace)
        except DeliveryAbandoned:
            raise
        except Exception as exc:
            report = _failed(delivery, route, exc, started)
        for observer in receiver.observers:  # notify(), inlined
            try:
                observer.on_report(report)
            except Exception:
                observer_failed(observer, report)
    except BaseException as exc:
        trace.end(None, exc)
        raise
    trace.end(report)
    return report


async def _atraced(
    receiver: ReceiverState, tracer: Tracer, delivery: Delivery, route: Route, started: float
) -> DeliveryReport:
    """:func:`adispatch` told to ``tracer``."""
    trace = tracer.start(delivery, route.endpoint)
    try:
        try:
            if trace.steps:
                trace.phase("verify")
                report = await drive_async_traced(
                    delivery_flow(receiver, route, delivery, started, trace), trace
                )
            else:  # metrics, a dropped span, a span alone: the coroutine flow, told as needed
                report = await adeliver(
                    receiver, route, delivery, started, trace if trace.timed else None
                )
        except DeliveryAbandoned:
            raise
        except Exception as exc:
            report = _failed(delivery, route, exc, started)
        for observer in receiver.observers:  # notify(), inlined
            try:
                observer.on_report(report)
            except Exception:
                observer_failed(observer, report)
    except BaseException as exc:
        trace.end(None, exc)
        raise
    trace.end(report)
    return report


def _not_found(started: float) -> DeliveryReport:
    return DeliveryReport(Outcome.REJECTED, NOT_FOUND, started=started)


def _failed(delivery: Delivery, route: Route, exc: Exception, started: float) -> DeliveryReport:
    """The last resort: a bug of the receiver's outside the places that answer by policy."""
    logger.error("unexpected error handling %s %s", delivery.method, delivery.path, exc_info=exc)
    endpoint = route.endpoint
    return DeliveryReport(
        Outcome.RECEIVER_ERROR,
        INTERNAL_ERROR,
        error=exc,
        endpoint=endpoint.path,
        provider=endpoint.provider.name,
        started=started,
        duration=time.perf_counter() - started,
    )


def _notified(receiver: ReceiverState, report: DeliveryReport) -> DeliveryReport:
    notify(receiver.observers, report)
    return report
