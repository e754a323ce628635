"""Send simulated deliveries: in-process to a receiver, an ASGI app or a WSGI app, or over HTTP.

In-process, the delivery goes through the same adapter and flow as in production, and the result
records which handlers ran with which events (the receiver is found inside the app: its
middleware, ``app.wsgi_app`` or Starlette's middleware list). Over HTTP, the result holds the
response only: the handlers run in another process.

::

    result = deliver(documo.fax_inbound(pages=3), app)
    assert result.status == 200
    assert result.calls[0].handler is fax_in

The client is here; what it gives back is in ``results.py``, how it sees handler calls in
``recording.py``, and how it reaches an app or a server in ``transports.py`` (every name is
importable from this module too, as it always was).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from ..core.loop import run_in_background_loop
from ..core.protocols import ReceiverState
from ..delivery import Delivery
from ..engine import DeliveryReport, adispatch, dispatch
from .factories._base import SimulatedDelivery
from .recording import find_receiver, instrument, recording
from .results import CapturedFile, DeliveryResult, HandlerCall, TransportError
from .transports import Answer, call_asgi, call_wsgi, from_response, is_asgi, send_http

__all__ = [
    "CapturedFile",
    "DeliveryResult",
    "HandlerCall",
    "TransportError",
    "WebhookClient",
    "adeliver",
    "deliver",
    "find_receiver",
    "send_http",
]


# Choosing the path -----------------------------------------------------------------------------


def route_path(delivery: SimulatedDelivery, receiver: ReceiverState | None) -> str:
    """The path to send to: the given one, or the receiver's endpoint for the provider.

    A delivery whose path was not chosen goes to the endpoint that serves its provider (its
    ``{event}`` placeholder filled), when the receiver is known and its default path is not
    already served by that provider.
    """
    if delivery.path_given or receiver is None:
        return delivery.path
    route = receiver.match(delivery.path)
    if route is not None and route.endpoint.provider.name == delivery.provider:
        return delivery.path
    for endpoint in receiver.router.endpoints:
        if endpoint.provider.name != delivery.provider:
            continue
        if "{" not in endpoint.path:
            return endpoint.path
        if delivery.url_event is not None and endpoint.path.count("{") == 1:
            head, _, rest = endpoint.path.partition("{")
            return head + delivery.url_event + rest.partition("}")[2]
    return delivery.path


# The client --------------------------------------------------------------------------------------


class WebhookClient:
    """Sends simulated deliveries to one target, sync (:meth:`send`) or async (:meth:`asend`).

    Args:
        target: a :class:`~hookreceiver.Receiver`, an ASGI app, a WSGI app, or a base URL
            (``http://127.0.0.1:8000``).
        receiver: the receiver inside ``target``, when it cannot be found on its own; it is
            used to see handler calls and to route deliveries to the provider's endpoint.
        interface: ``"asgi"`` or ``"wsgi"`` when the kind of app cannot be told from it.
        forward_sender: over HTTP, send the delivery's sender address in this header (e.g.
            ``"X-Forwarded-For"``) for a server that trusts the client as its proxy.
        timeout: seconds to wait for an HTTP answer.
    """

    def __init__(
        self,
        target: Any,
        *,
        receiver: ReceiverState | None = None,
        interface: str | None = None,
        forward_sender: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.target = target
        self.forward_sender = forward_sender
        self.timeout = timeout
        if isinstance(target, str):
            self.kind = "http"
        elif isinstance(target, ReceiverState):
            self.kind = "receiver"
        else:
            self.kind = interface or ("asgi" if is_asgi(target) else "wsgi")
        if self.kind not in ("http", "receiver", "asgi", "wsgi"):
            raise ValueError(f"interface is 'asgi' or 'wsgi', not {interface!r}")
        found = receiver if receiver is not None else None
        if found is None and self.kind != "http":
            found = find_receiver(target)
        self.receiver = found
        if found is not None:
            instrument(found)

    def __call__(self, delivery: SimulatedDelivery, **options: Any) -> DeliveryResult:
        """Same as :meth:`send`."""
        return self.send(delivery, **options)

    def send(
        self, delivery: SimulatedDelivery, *, path: str | None = None, peer: str | None = None
    ) -> DeliveryResult:
        """Deliver and wait for the response; ``path``/``peer`` override the delivery's."""
        if self.kind == "http":
            return send_http(
                delivery,
                self.target,
                path=path,
                forward_sender=self.forward_sender,
                timeout=self.timeout,
            )
        if self.kind == "asgi":
            return run_in_background_loop(self.asend(delivery, path=path, peer=peer))
        chosen, sender = self._where(delivery, path, peer)
        calls: list[HandlerCall] | None = [] if self.receiver is not None else None
        reports: list[DeliveryReport] = []
        started = time.perf_counter()
        with recording(calls, reports):
            if self.kind == "receiver":
                response = dispatch(self.target, _delivery(delivery, chosen, sender)).response
                raw = from_response(response)
            else:
                raw = call_wsgi(self.target, delivery, chosen, sender)
        return _result(delivery, chosen, raw, calls, started, reports)

    async def asend(
        self, delivery: SimulatedDelivery, *, path: str | None = None, peer: str | None = None
    ) -> DeliveryResult:
        """Deliver from async code (the handlers run on the current event loop for ASGI)."""
        if self.kind in ("http", "wsgi"):
            return await asyncio.to_thread(self.send, delivery, path=path, peer=peer)
        chosen, sender = self._where(delivery, path, peer)
        calls: list[HandlerCall] | None = [] if self.receiver is not None else None
        reports: list[DeliveryReport] = []
        started = time.perf_counter()
        with recording(calls, reports):
            if self.kind == "receiver":
                report = await adispatch(self.target, _delivery(delivery, chosen, sender))
                raw = from_response(report.response)
            else:
                raw = await call_asgi(self.target, delivery, chosen, sender)
        return _result(delivery, chosen, raw, calls, started, reports)

    def send_all(self, deliveries: Iterable[SimulatedDelivery]) -> list[DeliveryResult]:
        """Send each delivery in turn (duplicates, out-of-order sequences)."""
        return [self.send(delivery) for delivery in deliveries]

    def _where(
        self, delivery: SimulatedDelivery, path: str | None, peer: str | None
    ) -> tuple[str, str | None]:
        chosen = path if path is not None else route_path(delivery, self.receiver)
        return chosen, peer if peer is not None else delivery.sender

    def __repr__(self) -> str:
        return f"WebhookClient({self.kind}: {self.target!r})"


def _delivery(delivery: SimulatedDelivery, path: str, peer: str | None) -> Delivery:
    return delivery.to_delivery(path=path, peer=peer)


def _result(
    delivery: SimulatedDelivery,
    path: str,
    raw: Answer,
    calls: list[HandlerCall] | None,
    started: float,
    reports: list[DeliveryReport],
) -> DeliveryResult:
    sent = delivery if path == delivery.path else delivery.replace(path=path, path_given=False)
    status, headers, body = raw
    # The report of this delivery, when the receiver answered it (not the wrapped app).
    report = reports[-1] if len(reports) == 1 and reports[0].response.status == status else None
    elapsed = time.perf_counter() - started
    return DeliveryResult(sent, status, headers, body, calls, elapsed, report)


def deliver(delivery: SimulatedDelivery, target: Any, **options: Any) -> DeliveryResult:
    """Send one delivery to ``target`` (see :class:`WebhookClient`) and wait for the answer."""
    return WebhookClient(target).send(delivery, **options)


async def adeliver(delivery: SimulatedDelivery, target: Any, **options: Any) -> DeliveryResult:
    """Send one delivery to ``target`` from async code."""
    return await WebhookClient(target).asend(delivery, **options)
