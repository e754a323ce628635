"""OpenTelemetry spans of every delivery, with opentelemetry-api (``pip install
'hookreceiver[otel]'``; configure an SDK, or run under ``opentelemetry-instrument``).

One span per delivery, ``hookreceiver.delivery``: a child of the host app's server span when
there is one (FastAPI/Starlette/Flask instrumentation), else a server span of its own that
continues a ``traceparent`` the sender sent. Its children: ``hookreceiver.verify`` (the guards,
reading the body included), ``hookreceiver.parse``,
``hookreceiver.store.claim`` / ``.complete`` / ``.release``, ``hookreceiver.inbox.keep`` and one
``hookreceiver.handler`` per handler, current while the handler runs (its own spans nest under
it), with a failed handler's exception recorded. The inbox worker's span links to the span that
received the delivery (its ``traceparent`` is kept with the record).

Attributes never hold a secret, a token, a body or a raw path: the route is the endpoint's
template, the query string is left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, cast

from ..core.outcome import Outcome
from ..engine.effects import (
    ClaimKey,
    CompleteKey,
    Keep,
    ReleaseKey,
    RunCallback,
    RunHandler,
)
from .labels import refusal_reason

if TYPE_CHECKING:
    from ..core.handlers import HandlerSpec
    from ..core.routing import Endpoint
    from ..delivery import Delivery
    from ..engine import DeliveryReport
    from ..engine.effects import Effect

__all__ = ["SPAN_NAMES", "Tracing"]

#: The span name of each kind of effect; other effects get ``hookreceiver.<class name>``.
SPAN_NAMES: dict[type, str] = {
    ClaimKey: "hookreceiver.store.claim",
    CompleteKey: "hookreceiver.store.complete",
    ReleaseKey: "hookreceiver.store.release",
    Keep: "hookreceiver.inbox.keep",
    RunHandler: "hookreceiver.handler",
    RunCallback: "hookreceiver.callback",
}


def _otel() -> Any:
    try:
        from opentelemetry import trace
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "hookreceiver's traces need opentelemetry-api: pip install 'hookreceiver[otel]'"
        ) from exc
    return trace


def _version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hookreceiver")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return None


class _Getter:
    """Reads W3C trace headers from a delivery's headers (for ``propagate.extract``)."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        value = carrier.get(key)
        return None if value is None else [value]

    def keys(self, carrier: Any) -> list[str]:
        return list(carrier)


class Tracing:
    """Makes the spans of deliveries (see the module's description).

    Usually made by :meth:`Receiver.enable_tracing <hookreceiver.Receiver.enable_tracing>`.

    Args:
        tracer_provider: the OpenTelemetry ``TracerProvider`` (the global one, as
            ``opentelemetry-instrument`` or your SDK set-up installs it, if omitted).
        steps: which child spans each recorded delivery span gets: ``True`` (the default) all
            of them (verify, parse, store, handlers, inbox); ``"handlers"`` one per handler
            only (current while it runs, its exception recorded: the user's own spans nest
            under it), about a third of the default's cost; ``False`` none, the delivery's
            span alone, about a sixth.
    """

    def __init__(
        self, tracer_provider: Any | None = None, *, steps: bool | Literal["handlers"] = True
    ) -> None:
        if steps not in (True, False, "handlers"):
            raise ValueError(f"steps must be True, False or 'handlers', not {steps!r}")
        self.steps = steps
        trace = _otel()
        from opentelemetry import context, propagate
        from opentelemetry.trace import Link, SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.tracer = trace.get_tracer("hookreceiver", _version(), tracer_provider=tracer_provider)
        self._trace, self._context, self._propagate = trace, context, propagate
        self._link, self._kind, self._status, self._code = Link, SpanKind, Status, StatusCode
        self._w3c = TraceContextTextMapPropagator()
        self._getter = _Getter()
        self._textmap: Any = None
        self._fields: frozenset[str] = frozenset()
        self._internal = SpanKind.INTERNAL
        # Each handler's span attributes, by the spec's identity (the spec kept: its id stays
        # its own).
        self._handlers: dict[int, tuple[HandlerSpec, dict[str, Any]]] = {}

    # The delivery's span ---------------------------------------------------------------------

    def start_delivery(
        self, delivery: Delivery | None, endpoint: Endpoint | None, source: str, link: str | None
    ) -> tuple[Any, Any, object, dict[str, Any] | None]:
        """Start the delivery's span and make it current: ``(span, context, token, more)``,
        ``more`` the attributes for :meth:`end_delivery` to set with the report's (``None``:
        the sampler dropped the span).

        A span the sampler dropped under a current span of the host app's is not made current
        (``context`` and ``token`` are ``None``): the host's span carries the same decision to
        the handlers' own spans. Without a parent, a dropped span is made current all the same,
        so that the handlers' spans follow it (a parent-based sampler drops them too) rather
        than start traces of their own. :meth:`drop_delivery` or :meth:`end_delivery` ends it.
        """
        trace, kind = self._trace, self._kind
        current = self._context.get_current()
        # An empty context (the usual case without a host app's instrumentation) has no span.
        has_parent = bool(current) and trace.get_current_span(current).get_span_context().is_valid
        attributes: dict[str, Any] = {"hookreceiver.source": source}
        if endpoint is not None:
            attributes["hookreceiver.provider"] = endpoint.provider.name
            attributes["http.route"] = endpoint.path
        links = None
        if source == "http":
            span_kind = kind.INTERNAL if has_parent else kind.SERVER
            parent = current if has_parent or delivery is None else self._extract(delivery)
            if delivery is not None:
                attributes["http.request.method"] = delivery.method
        else:
            span_kind, parent = kind.CONSUMER, current
            received = self.context_of(link)
            if received is not None:
                links = [self._link(received, {"hookreceiver.link": "received"})]
        span = self.tracer.start_span("hookreceiver.delivery", parent, span_kind, attributes, links)
        if not span.is_recording():
            if has_parent:
                return span, None, None, None
            ctx = trace.set_span_in_context(span, parent)
            return span, ctx, self._context.attach(ctx), None
        # What a sampler does not look at: set with the report's attributes, in one call.
        more: dict[str, Any] = {}
        if delivery is not None and source == "http":
            if delivery.peer:
                more["network.peer.address"] = delivery.peer
            agent = delivery.headers.get("user-agent")
            if agent:
                more["user_agent.original"] = agent[:256]
        ctx = trace.set_span_in_context(span, parent)
        return span, ctx, self._context.attach(ctx), more

    def _extract(self, delivery: Delivery) -> Any:
        textmap = self._propagate.get_global_textmap()
        if textmap is not self._textmap:  # the headers the configured propagators read
            self._fields = frozenset(name.lower() for name in textmap.fields)
            self._textmap = textmap
        if not delivery.headers.has_any(self._fields):  # most senders send none: skip
            return self._context.get_current()
        getter: Any = self._getter
        return self._propagate.extract(delivery.headers, getter=getter)

    def context_of(self, traceparent: str | None) -> Any | None:
        """The span context a W3C ``traceparent`` names, or ``None``."""
        if not traceparent:
            return None
        ctx = self._w3c.extract({"traceparent": traceparent})
        span_context = self._trace.get_current_span(ctx).get_span_context()
        return span_context if span_context.is_valid else None

    def traceparent(self, ctx: Any) -> str | None:
        """The W3C ``traceparent`` of the span current in ``ctx``."""
        carrier: dict[str, str] = {}
        self._w3c.inject(carrier, ctx)
        return carrier.get("traceparent")

    def end_delivery(
        self,
        span: Any,
        token: object,
        report: DeliveryReport | None,
        error: BaseException | None,
        more: dict[str, Any] | None = None,
    ) -> None:
        """Describe the delivery on its (recorded) span from its report and ``more`` (what
        :meth:`start_delivery` returned), end it, and detach its context."""
        try:
            if report is not None:
                self.describe(span, report, more)
            elif more:
                span.set_attributes(more)
            if error is not None:
                span.record_exception(error)
                span.set_status(self._status(self._code.ERROR, type(error).__name__))
            span.end()
        finally:
            self._context.detach(cast(Any, token))

    def drop_delivery(self, token: object) -> None:
        """End a delivery whose span the sampler dropped: detach its context, if it was made
        current (a dropped span has nothing to describe or end)."""
        if token is not None:
            self._context.detach(token)  # type: ignore[arg-type]

    def describe(
        self, span: Any, report: DeliveryReport, more: dict[str, Any] | None = None
    ) -> None:
        """Set a report's attributes (and ``more``) on the delivery's span, in one call (its
        provider was set when it started: the report's is the endpoint's)."""
        attributes: dict[str, Any] = {
            "hookreceiver.outcome": report.outcome.value,
            "http.response.status_code": report.response.status,
        }
        if more:
            attributes.update(more)
        if report.delivery_id is not None:
            attributes["hookreceiver.delivery_id"] = report.delivery_id
        event = report.event_name
        if event:
            attributes["hookreceiver.event"] = event
        if report.outcome is Outcome.REJECTED:
            attributes["hookreceiver.refusal"] = refusal_reason(report.error)
        span.set_attributes(attributes)
        if report.response.status >= 500 or report.outcome is Outcome.HANDLER_FAILED:
            span.set_status(self._status(self._code.ERROR, report.outcome.value))

    # Child spans -------------------------------------------------------------------------------

    def start_child(self, name: str, parent: Any, attributes: dict[str, Any] | None = None) -> Any:
        """A child span of the span current in ``parent``."""
        return self.tracer.start_span(name, parent, self._internal, attributes)

    def start_handler(self, spec: HandlerSpec, parent: Any) -> Any:
        """The span of one handler's run, a child of the span current in ``parent``."""
        found = self._handlers.get(id(spec))
        if found is None or found[0] is not spec:  # its attributes made once per handler
            found = self._handlers[id(spec)] = (spec, {"hookreceiver.handler": spec.name})
        return self.tracer.start_span("hookreceiver.handler", parent, self._internal, found[1])

    def end_child(self, span: Any, error: BaseException | None) -> None:
        """End a child span, with ``error`` recorded on it."""
        if error is not None:
            span.record_exception(error)
            span.set_status(self._status(self._code.ERROR, type(error).__name__))
        span.end()

    def context_with(self, span: Any, parent: Any) -> Any:
        """``parent`` with ``span`` as its current span."""
        return self._trace.set_span_in_context(span, parent)

    def current(self, span: Any, parent: Any) -> object:
        """Make ``span`` current (in ``parent``'s context): the token :meth:`restore` takes."""
        return self._context.attach(self._trace.set_span_in_context(span, parent))

    def restore(self, token: object) -> None:
        """Undo :meth:`current`."""
        self._context.detach(token)  # type: ignore[arg-type]


#: Span names of the inbox's own effects (a sibling package: known by class name).
_NAMED = {"FinishRecord": "hookreceiver.inbox.finish", "ReadRecord": "hookreceiver.inbox.read"}


def effect_span_name(effect: Effect[Any]) -> str:
    """The span name of an effect."""
    name = SPAN_NAMES.get(type(effect))
    if name is None:
        kind = type(effect).__name__
        name = _NAMED.get(kind) or f"hookreceiver.{kind}"
    return name
