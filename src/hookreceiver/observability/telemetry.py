"""The receiver's tracer (the engine's step hook), feeding :class:`~.tracing.Tracing` spans
and the per-step :class:`~.metrics.Metrics` (each handler's duration, store errors).

Set as ``receiver.tracer`` by :meth:`Receiver.enable_metrics
<hookreceiver.Receiver.enable_metrics>` or :meth:`~hookreceiver.Receiver.enable_tracing`;
without either, the engine never calls it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..engine.effects import ClaimKey, CompleteKey, Effect, Keep, ReadBody, ReleaseKey, RunHandler
from ..errors import StoreUnavailable
from .labels import store_kind
from .tracing import effect_span_name

if TYPE_CHECKING:
    from ..core.routing import Endpoint
    from ..delivery import Delivery
    from ..engine import DeliveryReport
    from .metrics import Metrics
    from .tracing import Tracing

__all__ = ["Telemetry"]

_STORE_EFFECTS = (ClaimKey, CompleteKey, ReleaseKey)

logger = logging.getLogger("hookreceiver")


def _failed(step: str) -> None:
    logger.exception("telemetry failed in %s; the delivery goes on unchanged", step)


class Telemetry:
    """The engine's :class:`~hookreceiver.engine.Tracer`: spans when ``tracing`` is set,
    handler durations and store errors when ``metrics`` is."""

    __slots__ = ("metrics", "tracing")

    def __init__(self, *, metrics: Metrics | None = None, tracing: Tracing | None = None) -> None:
        self.metrics = metrics
        self.tracing = tracing

    def start(
        self,
        delivery: Delivery | None,
        endpoint: Endpoint | None,
        *,
        source: str = "http",
        link: str | None = None,
    ) -> _Trace:
        """A delivery begins (see :meth:`hookreceiver.engine.Tracer.start`)."""
        return _Trace(self.metrics, self.tracing, delivery, endpoint, source, link)


class _Entered:
    """An effect under way: its span (or ``None``), the token of its context, its start."""

    __slots__ = ("effect", "span", "started", "token")

    def __init__(self, effect: Effect[Any], span: Any, token: object, started: float) -> None:
        self.effect, self.span, self.token, self.started = effect, span, token, started


class _Trace:
    """One delivery's :class:`~hookreceiver.engine.DeliveryTrace`.

    Child spans are made only when the delivery's span records (a sampler may drop it) and the
    tracing wants them (``Tracing(steps=True)``); reading the body gets none of its own (it is
    inside ``verify``). Effects that need nothing are handed back as they are, unwrapped.
    """

    __slots__ = (
        "ctx", "metrics", "phase_ctx", "phase_span", "report", "span", "token", "tracing", "tree",
    )  # fmt: skip

    def __init__(
        self,
        metrics: Metrics | None,
        tracing: Tracing | None,
        delivery: Delivery | None,
        endpoint: Endpoint | None,
        source: str,
        link: str | None,
    ) -> None:
        self.metrics, self.tracing = metrics, tracing
        self.report: DeliveryReport | None = None
        self.phase_span: Any = None
        self.span: Any = None
        self.ctx: Any = None
        self.phase_ctx: Any = None
        self.token: object = None
        self.tree: Tracing | None = None
        if tracing is not None:
            try:
                self.span, self.ctx, self.token = tracing.start_delivery(
                    delivery, endpoint, source, link
                )
                if tracing.steps and self.span.is_recording():
                    self.tree = tracing
            except Exception:  # telemetry never changes an answer: this one goes untraced
                _failed("start")
                self.tracing = None

    def phase(self, name: str | None) -> None:
        """End the open phase's span; start ``name``'s."""
        try:
            tree = self.tree
            if tree is None:
                return
            if self.phase_span is not None:
                tree.end_child(self.phase_span, None)
                self.phase_span = self.phase_ctx = None
            if name is not None:
                self.phase_span = tree.start_child(f"hookreceiver.{name}", self.ctx)
                self.phase_ctx = tree.context_with(self.phase_span, self.ctx)
        except Exception:  # telemetry never changes an answer
            _failed("phase")

    def enter(self, effect: Effect[Any]) -> object:
        """An effect begins: its span (a handler's made current), a handler's start time."""
        try:
            kind = type(effect)
            tree = self.tree
            if kind is Keep and self.tracing is not None:
                assert isinstance(effect, Keep)
                effect.traceparent = self.tracing.traceparent(self.ctx)
            if tree is None or kind is ReadBody:
                if kind is RunHandler and self.metrics is not None:
                    return _Entered(effect, None, None, time.perf_counter())
                return effect
            parent = self.phase_ctx if self.phase_ctx is not None else self.ctx
            token = None
            if kind is RunHandler:
                assert isinstance(effect, RunHandler)
                span = tree.start_child(
                    "hookreceiver.handler", parent, {"hookreceiver.handler": effect.spec.name}
                )
                _, token = tree.current(span, parent)
            else:
                span = tree.start_child(effect_span_name(effect), parent)
            return _Entered(effect, span, token, time.perf_counter())
        except Exception:  # telemetry never changes an answer
            _failed("enter")
            return effect

    def exit(self, entered: object, error: BaseException | None) -> None:
        """An effect has ended."""
        try:
            if type(entered) is _Entered:
                effect: Any = entered.effect
                if self.metrics is not None and type(effect) is RunHandler:
                    seconds = time.perf_counter() - entered.started
                    self.metrics.handler_ran(effect.spec.name, seconds, error is not None)
                if entered.span is not None:
                    assert self.tree is not None
                    if entered.token is not None:
                        self.tree.restore(entered.token)
                    self.tree.end_child(entered.span, error)
            else:
                effect = entered
            if error is not None and self.metrics is not None:
                if isinstance(error, StoreUnavailable) and isinstance(effect, _STORE_EFFECTS):
                    self.metrics.store_failed(store_kind(effect.store))
                elif type(effect) is Keep:
                    self.metrics.store_failed(store_kind(effect.keeper))
        except Exception:  # telemetry never changes an answer
            _failed("exit")

    def reported(self, report: DeliveryReport) -> None:
        """Keep the report for :meth:`end` (an inbox delivery's)."""
        self.report = report

    def end(self, report: DeliveryReport | None, error: BaseException | None = None) -> None:
        """End the delivery's spans."""
        try:
            tracing = self.tracing
            if tracing is None:
                return
            if self.phase_span is not None and self.tree is not None:
                phase_error = error
                if phase_error is None and report is not None:
                    phase_error = report.error if report.context is None else None
                self.tree.end_child(self.phase_span, phase_error)
                self.phase_span = None
            tracing.end_delivery(self.span, self.token, report or self.report, error)
        except Exception:  # telemetry never changes an answer
            _failed("end")
