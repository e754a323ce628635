"""What became of one delivery (:class:`DeliveryReport`), and who hears of it (observers).

Every delivery the engine answers, handled or refused, live or from the inbox, ends in one
report handed to the receiver's observers: the one place to hang a log line, a metric or a
trace. The JSON event log is the first observer (:class:`EventLog`). The report's type and
the observers' interface are defined in the core (``core/report.py``) and re-exported here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..core.outcome import Outcome
from ..core.report import DeliveryReport, Observer

if TYPE_CHECKING:
    from ..core.events import DeliveryContext

__all__ = ["DeliveryReport", "EventLog", "Observer", "notify", "observer_failed"]

logger = logging.getLogger("hookreceiver")
_HANDLED = Outcome.HANDLED  # (an enum member looked up on its class costs a call each time)


def notify(observers: Iterable[Observer], report: DeliveryReport) -> None:
    """Hand ``report`` to each observer; one that raises is logged and skipped."""
    for observer in observers:
        try:
            observer.on_report(report)
        except Exception:
            observer_failed(observer, report)


def observer_failed(observer: Observer, report: DeliveryReport) -> None:
    """Log an observer's exception: it changes nothing else."""
    logger.exception("observer %r failed on delivery %s", observer, report.delivery_id)


class EventLog:
    """One JSON line per handled event on the ``hookreceiver.events`` logger."""

    __slots__ = ("logger",)

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("hookreceiver.events")

    def on_report(self, report: DeliveryReport) -> None:
        """Log a handled event (refusals and duplicates have their own log lines)."""
        ctx = report.context
        if report.outcome is _HANDLED and ctx is not None:
            if self.logger.isEnabledFor(logging.INFO):
                self.write(ctx)

    def write(self, ctx: DeliveryContext) -> None:
        """Log ``ctx``'s event as one JSON line."""
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info(
                json.dumps(
                    {
                        "event": ctx.event_name,
                        "provider": ctx.provider,
                        "idempotency_key": ctx.idempotency_key,
                        "delivery_id": ctx.delivery_id,
                    }
                )
            )
