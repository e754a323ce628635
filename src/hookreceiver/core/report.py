"""What became of one delivery (:class:`DeliveryReport`), and the interface of those who hear of
it (:class:`Observer`).

Defined in the core, below the engine that builds reports, so that the core's
:class:`~hookreceiver.core.protocols.ReceiverState` can name the report its observers receive
without importing upward. The engine re-exports both (``hookreceiver.engine.DeliveryReport``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..errors import DeliveryRejected
from .outcome import Outcome, Response

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..delivery import Delivery
    from .events import DeliveryContext

__all__ = ["DeliveryReport", "Observer"]


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
        delivery: the live request a handled delivery came in (a reference, not a copy: its
            method and query string); else ``None``.
        fields: the form fields of a handled multipart delivery's body (a reference); else
            ``None``.
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
    delivery: Delivery | None = None
    fields: Mapping[str, str] | None = None

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
