"""One structured line per delivery on the ``hookreceiver.events`` logger: the same fields as
the metrics and spans, and the trace id when a span is current.

Never a secret, a token, a body or a raw path: the endpoint is its template.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import TYPE_CHECKING, Any

from ..core.outcome import Outcome
from .labels import refusal_reason

if TYPE_CHECKING:
    from ..engine import DeliveryReport

__all__ = ["DeliveryLog", "current_trace_ids"]


def current_trace_ids() -> tuple[str, str] | None:
    """The current OpenTelemetry span's ``(trace_id, span_id)`` in hex, or ``None`` (no span,
    or opentelemetry-api not imported by anyone: then it costs a dict look-up)."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


class DeliveryLog:
    """A report observer: one JSON line per delivery, handled or refused, live or from the
    inbox, at INFO (refusals and failures at WARNING).

    Fields: ``event``, ``provider``, ``endpoint`` (the template), ``outcome``, ``status``,
    ``reason`` (of a refusal), ``delivery_id``, ``idempotency_key``, ``source``
    (``http``/``inbox``), ``duration_ms``, ``trace_id`` and ``span_id`` (when a span is current:
    ours, or the host app's).

    Args:
        logger: where to log (``hookreceiver.events`` if omitted).
    """

    __slots__ = ("logger",)

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("hookreceiver.events")

    def on_report(self, report: DeliveryReport) -> None:
        """Log ``report`` as one JSON line."""
        level = logging.INFO
        if report.outcome is not Outcome.HANDLED and report.outcome is not Outcome.DUPLICATE:
            if report.outcome is not Outcome.ACCEPTED:
                level = logging.WARNING
        if self.logger.isEnabledFor(level):
            self.logger.log(level, json.dumps(self.fields(report), separators=(", ", ": ")))

    def fields(self, report: DeliveryReport) -> dict[str, Any]:
        """The fields of ``report``'s line."""
        ctx = report.context
        event = report.event_name
        fields: dict[str, Any] = {
            "event": event,
            "provider": report.provider,
            "endpoint": report.endpoint,
            "outcome": report.outcome.value,
            "status": report.response.status,
            "delivery_id": report.delivery_id,
            "idempotency_key": ctx.idempotency_key if ctx is not None else None,
            "source": report.source,
        }
        if report.outcome is Outcome.REJECTED:
            fields["reason"] = refusal_reason(report.error)
        if report.duration:
            fields["duration_ms"] = round(report.duration * 1000, 3)
        ids = current_trace_ids()
        if ids is not None:
            fields["trace_id"], fields["span_id"] = ids
        return fields
