"""The receiver's tracer (the engine's step hook), feeding :class:`~.tracing.Tracing` spans
and the per-step :class:`~.metrics.Metrics` (each handler's duration, store errors).

Set as ``receiver.tracer`` by :meth:`Receiver.enable_metrics
<hookreceiver.Receiver.enable_metrics>` or :meth:`~hookreceiver.Receiver.enable_tracing`;
without either, the engine never calls it.

What a delivery costs depends on what it needs, decided once when it starts:

- metrics alone: one shared, stateless trace (:class:`_Counted`); the engine's timed driver
  times each handler and reports failed effects, nothing else is called per step;
- a delivery span that a sampler dropped: the same, plus the delivery's span made current
  and detached (:class:`_Dropped`); no child span, no ``traceparent`` formatted;
- ``Tracing(steps=False)``: the delivery's span, described and ended (:class:`_SpanTrace`);
- ``Tracing(steps="handlers")``: that, and a child span per handler (:class:`_HandlerTrace`);
- a recorded delivery span with its steps: :class:`_Trace`, a call before and after each
  effect, a child span for each.
"""

from __future__ import annotations

import logging
from time import perf_counter
from typing import TYPE_CHECKING, Any, cast

from ..engine.effects import ClaimKey, CompleteKey, Effect, Keep, ReadBody, ReleaseKey, RunHandler
from ..errors import StoreUnavailable
from .labels import store_kind
from .tracing import effect_span_name

if TYPE_CHECKING:
    from ..core.routing import Endpoint
    from ..delivery import Delivery
    from ..engine import DeliveryReport, DeliveryTrace
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

    __slots__ = ("_counted", "metrics", "tracing")

    def __init__(self, *, metrics: Metrics | None = None, tracing: Tracing | None = None) -> None:
        self.metrics = metrics
        self.tracing = tracing
        self._counted = _Counted(metrics)

    def start(
        self,
        delivery: Delivery | None,
        endpoint: Endpoint | None,
        *,
        source: str = "http",
        link: str | None = None,
    ) -> DeliveryTrace:
        """A delivery begins (see :meth:`hookreceiver.engine.Tracer.start`)."""
        tracing = self.tracing
        if tracing is None:
            return self._counted
        try:
            span, ctx, token, more = tracing.start_delivery(delivery, endpoint, source, link)
        except Exception:  # telemetry never changes an answer: this one goes untraced
            _failed("start")
            return self._counted
        if more is None:  # the sampler dropped it
            return _Dropped(self.metrics, tracing, token)
        steps = tracing.steps
        if steps is True:
            return _Trace(self.metrics, tracing, span, ctx, token, more)
        if steps:  # "handlers"
            return _HandlerTrace(self.metrics, tracing, span, ctx, token, more)
        return _SpanTrace(self.metrics, tracing, span, ctx, token, more)


class _Counted:
    """What a delivery needs of the metrics alone: each handler's duration and the failed
    calls to a store. Stateless, so one serves every delivery (and every thread)."""

    __slots__ = ("metrics", "timed")

    steps = False

    def __init__(self, metrics: Metrics | None) -> None:
        self.metrics = metrics
        self.timed = metrics is not None

    def phase(self, name: str | None) -> None:
        """Nothing: phases are spans."""

    def enter(self, effect: Effect[Any]) -> object:
        """Not called (no steps)."""
        return effect

    def exit(self, entered: object, error: BaseException | None) -> None:
        """Not called (no steps)."""

    def ran(self, effect: RunHandler, seconds: float, error: BaseException | None) -> None:
        """Observe the handler's duration."""
        metrics = self.metrics
        if metrics is not None:
            try:
                metrics.spec_ran(effect.spec, seconds, error is not None)
            except Exception:  # telemetry never changes an answer
                _failed("ran")

    def keeping(self, effect: Keep) -> None:
        """Nothing: no span to link to."""

    def failed(self, effect: Effect[Any], error: BaseException) -> None:
        """Count a failed call to a store or the inbox."""
        metrics = self.metrics
        if metrics is not None:
            try:
                _store_failed(metrics, effect, error)
            except Exception:  # telemetry never changes an answer
                _failed("failed")

    def reported(self, report: DeliveryReport) -> None:
        """Nothing to keep."""

    def end(self, report: DeliveryReport | None, error: BaseException | None = None) -> None:
        """Nothing to end."""


def _store_failed(metrics: Metrics, effect: Effect[Any], error: BaseException) -> None:
    if isinstance(error, StoreUnavailable) and isinstance(effect, _STORE_EFFECTS):
        metrics.store_failed(store_kind(effect.store))
    elif type(effect) is Keep:
        assert isinstance(effect, Keep)
        metrics.store_failed(store_kind(effect.keeper))


class _Dropped(_Counted):
    """A delivery whose span the sampler dropped: no child span, no ``traceparent``; its
    context (made current so that the handlers' own spans follow the decision) is detached
    at the end."""

    __slots__ = ("token", "tracing")

    def __init__(self, metrics: Metrics | None, tracing: Tracing, token: object) -> None:
        self.metrics, self.tracing, self.token = metrics, tracing, token
        self.timed = metrics is not None

    def end(self, report: DeliveryReport | None, error: BaseException | None = None) -> None:
        """Detach the span's context."""
        try:
            self.tracing.drop_delivery(self.token)
        except Exception:  # telemetry never changes an answer
            _failed("end")


class _SpanTrace(_Counted):
    """A recorded delivery with its span only (``Tracing(steps=False)``)."""

    __slots__ = ("ctx", "more", "report", "span", "token", "tracing")

    def __init__(
        self,
        metrics: Metrics | None,
        tracing: Tracing,
        span: Any,
        ctx: Any,
        token: object,
        more: dict[str, Any],
    ) -> None:
        self.metrics, self.tracing, self.span, self.ctx, self.token, self.more = (
            metrics, tracing, span, ctx, token, more,
        )  # fmt: skip
        self.timed = True  # for keeping()
        self.report: DeliveryReport | None = None

    def keeping(self, effect: Keep) -> None:
        """Keep the span's ``traceparent`` with the delivery: the worker's span links to it."""
        try:
            effect.traceparent = self.tracing.traceparent(self.ctx)
        except Exception:  # telemetry never changes an answer
            _failed("keeping")

    def reported(self, report: DeliveryReport) -> None:
        """Keep the report for :meth:`end` (an inbox delivery's)."""
        self.report = report

    def end(self, report: DeliveryReport | None, error: BaseException | None = None) -> None:
        """Describe the span by the report, end it and detach its context."""
        try:
            self.tracing.end_delivery(
                self.span, self.token, report or self.report, error, self.more
            )
        except Exception:  # telemetry never changes an answer
            _failed("end")


class _Trace:
    """One recorded delivery with its steps: a child span for each phase and effect (reading
    the body gets none of its own: it is inside ``verify``), handler durations and store
    errors for the metrics. The drivers run one effect at a time: the one under way is kept
    here (its span, a handler's context token and start), not in an object per effect."""

    __slots__ = (
        "ctx", "metrics", "more", "phase_ctx", "phase_span", "report", "span", "started",
        "step", "step_token", "token", "tracing",
    )  # fmt: skip

    steps = True
    timed = True

    def __init__(
        self,
        metrics: Metrics | None,
        tracing: Tracing,
        span: Any,
        ctx: Any,
        token: object,
        more: dict[str, Any],
    ) -> None:
        self.metrics, self.tracing, self.span, self.ctx, self.token, self.more = (
            metrics, tracing, span, ctx, token, more,
        )  # fmt: skip
        self.report: DeliveryReport | None = None
        self.phase_span: Any = None
        self.phase_ctx: Any = None
        self.step: Any = None  # the span of the effect under way
        self.step_token: object = None  # a handler's: its span made current
        self.started = 0.0

    def phase(self, name: str | None) -> None:
        """End the open phase's span; start ``name``'s."""
        try:
            tracing = self.tracing
            if self.phase_span is not None:
                tracing.end_child(self.phase_span, None)
                self.phase_span = self.phase_ctx = None
            if name is not None:  # its context is made when an effect runs in it (rarely)
                span_name = _PHASES.get(name) or f"hookreceiver.{name}"
                self.phase_span = tracing.start_child(span_name, self.ctx)
        except Exception:  # telemetry never changes an answer
            _failed("phase")

    def enter(self, effect: Effect[Any]) -> object:
        """An effect begins: its span (a handler's made current, and timed)."""
        try:
            if type(effect) is ReadBody:  # inside verify's span
                return effect
            tracing = self.tracing
            parent = self.ctx
            if self.phase_span is not None:  # an effect inside a phase: a quarantined delivery
                if self.phase_ctx is None:
                    self.phase_ctx = tracing.context_with(self.phase_span, self.ctx)
                parent = self.phase_ctx
            if type(effect) is RunHandler:
                span = tracing.start_handler(effect.spec, parent)
                self.step = span
                self.step_token = tracing.current(span, parent)
                self.started = perf_counter()
                return effect
            if type(effect) is Keep:
                effect.traceparent = tracing.traceparent(self.ctx)
            self.step = tracing.start_child(effect_span_name(effect), parent)
        except Exception:  # telemetry never changes an answer
            _failed("enter")
        return effect

    def exit(self, entered: object, error: BaseException | None) -> None:
        """An effect has ended."""
        try:
            span, self.step = self.step, None
            if type(entered) is RunHandler:
                if self.metrics is not None:
                    seconds = perf_counter() - self.started
                    self.metrics.spec_ran(entered.spec, seconds, error is not None)
                token, self.step_token = self.step_token, None
                if token is not None:
                    self.tracing.restore(token)
            if span is not None:
                self.tracing.end_child(span, error)
            if error is not None and self.metrics is not None:
                _store_failed(self.metrics, cast(Effect[Any], entered), error)
        except Exception:  # telemetry never changes an answer
            _failed("exit")

    def ran(self, effect: RunHandler, seconds: float, error: BaseException | None) -> None:
        """Not called (steps)."""

    def keeping(self, effect: Keep) -> None:
        """Not called (steps)."""

    def failed(self, effect: Effect[Any], error: BaseException) -> None:
        """Not called (steps)."""

    def reported(self, report: DeliveryReport) -> None:
        """Keep the report for :meth:`end` (an inbox delivery's)."""
        self.report = report

    def end(self, report: DeliveryReport | None, error: BaseException | None = None) -> None:
        """End the delivery's spans."""
        try:
            if self.phase_span is not None:
                phase_error = error
                if phase_error is None and report is not None:
                    phase_error = report.error if report.context is None else None
                self.tracing.end_child(self.phase_span, phase_error)
                self.phase_span = None
            self.tracing.end_delivery(
                self.span, self.token, report or self.report, error, self.more
            )
        except Exception:  # telemetry never changes an answer
            _failed("end")


class _HandlerTrace(_Trace):
    """A recorded delivery with a child span for each handler only (``Tracing(steps=
    "handlers")``): no phase or store span; the inbox still gets the ``traceparent``."""

    __slots__ = ()

    def phase(self, name: str | None) -> None:
        """Nothing: no phase span."""

    def enter(self, effect: Effect[Any]) -> object:
        """A handler's span, made current and timed; an inbox write's ``traceparent``."""
        kind = type(effect)
        if kind is RunHandler:
            return _Trace.enter(self, effect)
        if kind is Keep:
            try:
                cast(Keep, effect).traceparent = self.tracing.traceparent(self.ctx)
            except Exception:  # telemetry never changes an answer
                _failed("enter")
        return effect


#: Each phase's span name, made once.
_PHASES = {name: f"hookreceiver.{name}" for name in ("verify", "parse")}
