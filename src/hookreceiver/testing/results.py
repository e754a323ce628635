"""What a testing send gives back: the :class:`DeliveryResult` of one delivery, the
:class:`HandlerCall` of each handler that ran, and :class:`TransportError` when no answer came."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.events import DeliveryContext
from ..engine import DeliveryReport
from .factories._base import SimulatedDelivery

__all__ = ["CapturedFile", "DeliveryResult", "HandlerCall", "TransportError"]


class TransportError(ConnectionError):
    """The delivery never got an HTTP answer (connection refused, reset, timed out)."""


@dataclass(frozen=True)
class CapturedFile:
    """A copy of an attachment as a handler saw it (the receiver deletes the original)."""

    field: str
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class HandlerCall:
    """One handler run during a delivery.

    Attributes:
        handler: the registered function.
        name: its qualified name.
        event: what it received: the provider's model, or the normalized view.
        context: the :class:`~hookreceiver.DeliveryContext` it received.
        normalized: whether it received the normalized view.
        files: copies of the attachments, taken before the handler ran.
        error: what it raised, or ``None``.
    """

    handler: Callable[..., Any]
    name: str
    event: Any
    context: DeliveryContext
    normalized: bool
    files: list[CapturedFile] = field(default_factory=list)
    error: BaseException | None = None

    def __repr__(self) -> str:
        failed = f", raised {self.error!r}" if self.error is not None else ""
        return f"HandlerCall({self.name} <- {self.context.event_name}{failed})"


@dataclass
class DeliveryResult:
    """What became of one delivery.

    Attributes:
        delivery: what was sent.
        status: the HTTP status answered.
        headers: the response headers, names lower-case.
        body: the response body.
        calls: the handlers that ran, in order; ``None`` when they cannot be seen (over HTTP,
            or an app whose receiver was not found).
        elapsed: seconds from sending to the complete response.
        report: the receiver's :class:`~hookreceiver.engine.DeliveryReport` of it (outcome,
            context, error...); ``None`` when it cannot be seen, as ``calls``.
    """

    delivery: SimulatedDelivery
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    calls: list[HandlerCall] | None = None
    elapsed: float = 0.0
    report: DeliveryReport | None = None

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)

    @property
    def outcome(self) -> str | None:
        """The receiver's outcome (``handled``, ``duplicate``, ``in_flight``...) or error code
        (``unauthorized``, ``address_not_allowed``...): from the report in-process, else from
        the short JSON body."""
        if self.report is not None:
            return self.report.code
        try:
            data = self.json()
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        value = data.get("status", data.get("error"))
        return value if isinstance(value, str) else None

    def header(self, name: str) -> str | None:
        """The first value of response header ``name``, or ``None``."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k == lowered), None)

    @property
    def events(self) -> list[Any]:
        """The events handlers received, in order (one per handler call)."""
        return [call.event for call in self._seen()]

    @property
    def handlers(self) -> list[Callable[..., Any]]:
        """The handlers that ran, in order."""
        return [call.handler for call in self._seen()]

    def ran(self, handler: Callable[..., Any]) -> bool:
        """Whether ``handler`` ran for this delivery."""
        return any(call.handler is handler for call in self._seen())

    def _seen(self) -> list[HandlerCall]:
        if self.calls is None:
            raise LookupError(
                "handler calls are not visible for this delivery: it went over HTTP, or the "
                "app's Receiver was not found (pass receiver= to the client)"
            )
        return self.calls

    def __repr__(self) -> str:
        ran = "?" if self.calls is None else ", ".join(c.name for c in self.calls) or "none"
        return f"DeliveryResult({self.delivery.event}: {self.status} {self.outcome}, ran: {ran})"
