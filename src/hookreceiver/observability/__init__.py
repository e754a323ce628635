"""Observability: Prometheus metrics, OpenTelemetry traces and structured logs of every delivery.

Everything here plugs into the engine's two hooks, the report observers and the step tracer
(``engine.Tracer``); the engine imports none of these libraries, and a receiver that enables
none of it pays nothing. Usually switched on from the receiver::

    hooks.enable_metrics()            # pip install 'hookreceiver[prometheus]'
    hooks.enable_tracing()            # pip install 'hookreceiver[otel]'
    hooks.enable_delivery_log()       # one JSON line per delivery, with the trace id

and ``/metrics`` served by ``hooks.metrics_asgi_app()`` or ``hooks.metrics_wsgi_app()``. See
``docs/observability.md`` for the metrics, the alert rules and the Grafana dashboard.

The inbox is this package's sibling: the metrics read its counts at scrape time through the
object they are handed (:class:`InboxCounter`), never by importing it.
"""

from __future__ import annotations

from .._lazy import lazy_names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .labels import OTHER, REFUSAL_REASONS, refusal_reason
    from .logs import DeliveryLog, current_trace_ids
    from .metrics import DURATION_BUCKETS, InboxCounter, Metrics, multiprocess_mode
    from .telemetry import Telemetry
    from .tracing import SPAN_NAMES, Tracing

__all__ = [
    "DURATION_BUCKETS",
    "OTHER",
    "REFUSAL_REASONS",
    "SPAN_NAMES",
    "DeliveryLog",
    "InboxCounter",
    "Metrics",
    "Telemetry",
    "Tracing",
    "current_trace_ids",
    "multiprocess_mode",
    "refusal_reason",
]

__getattr__, __dir__ = lazy_names(
    __name__,
    {
        "DURATION_BUCKETS": "metrics",
        "OTHER": "labels",
        "REFUSAL_REASONS": "labels",
        "SPAN_NAMES": "tracing",
        "DeliveryLog": "logs",
        "InboxCounter": "metrics",
        "Metrics": "metrics",
        "Telemetry": "telemetry",
        "Tracing": "tracing",
        "current_trace_ids": "logs",
        "multiprocess_mode": "metrics",
        "refusal_reason": "labels",
    },
    globals(),
)
