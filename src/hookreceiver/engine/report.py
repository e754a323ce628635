"""What became of one delivery (:class:`DeliveryReport`), and who hears of it (observers).

Every delivery the engine answers, handled or refused, live or from the inbox, ends in one
report handed to the receiver's observers: the one place to hang a log line, a metric or a
trace. The JSON event log is the first observer (:class:`EventLog`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..core.outcome import Outcome, Response
from ..errors import DeliveryRejected

if TYPE_CHECKING:
    from ..core.events import DeliveryContext

__all__ = ["DeliveryReport", "EventLog", "Observer", "notify", "observer_failed"]

logger = logging.getLogger("hookreceiver")


@dataclass(slots=True)
class DeliveryReport:
    """What became of one delivery.

    Attributes:
        outcome: what happened (``REJECTED`` for any refusal before parsing, and for a path
            that is no endpoint).
        response: the answer sent (for a delivery from the inbox: the answer it would get).
        context: what the handlers received; ``None`` when the delivery never got that far.
        error: the refusal, the handler's exception, or the receiver's bug; else ``None``.
        endpoint: the endpoint's path template, or ``None`` for an unknown path.
        provider: the provider's name, or ``None`` for an unknown path.
        delivery_id: the delivery's id (an inbox record's id), or ``None`` for an unknown path.
        started: ``time.perf_counter()`` when the engine took the delivery.
        duration: seconds the engine spent on it.
        source: ``"http"`` for a live delivery, ``"inbox"`` for one the worker processed.
        event: the full event name of a delivery accepted into the inbox (which has no
            ``context`` yet); else ``None`` (see :attr:`event_name`).
    """

    outcome: Outcome
    response: Response
    context: DeliveryContext | None = None
    error: BaseException | None = None
    endpoint: str | None = None
    provider: str | None = None
    delivery_id: str | None = None
    started: float = 0.0
    duration: float = 0.0
    source: str = "http"
    event: str | None = None

    @property
    def event_name(self) -> str | None:
        """The full event name, when the delivery got as far as one (from its context, its
        refusal, or the accepted event)."""
        if self.context is not None:
            return self.context.event_name
        if self.event is not None:
            return self.event
        name = getattr(self.error, "event", None)
        return name if isinstance(name, str) else None

    @property
    def code(self) -> str:
        """The outcome as the sender's answer names it: the refusal's error code
        (``unauthorized``, ``payload_too_large``...), else the outcome's value."""
        error = self.error
        if not isinstance(error, DeliveryRejected):
            return str(self.outcome.value)
        if self.outcome is Outcome.QUARANTINED and self.response.status < 400:
            return str(self.outcome.value)  # answered by the provider's declared status (Kazoo)
        return str(error.error)


class Observer(Protocol):
    """Hears of every delivery's report. Keep ``on_report`` quick: it runs before the answer
    is sent. An exception it raises is logged and changes nothing."""

    def on_report(self, report: DeliveryReport) -> None:
        """Called once per delivery, handled or refused."""


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
        if report.outcome is Outcome.HANDLED and ctx is not None:
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
