"""Send simulated deliveries: in-process to a receiver, an ASGI app or a WSGI app, or over HTTP.

In-process, the delivery goes through the same adapter and flow as in production, and the result
records which handlers ran with which events (the receiver is found inside the app: its
middleware, ``app.wsgi_app`` or Starlette's middleware list). Over HTTP, the result holds the
response only: the handlers run in another process.

::

    result = deliver(documo.fax_inbound(pages=3), app)
    assert result.status == 200
    assert result.calls[0].handler is fax_in
"""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import wraps
from typing import Any
from urllib.parse import quote, urlsplit

from ..core.events import DeliveryContext
from ..core.handlers import HandlerSpec
from ..core.loop import run_in_background_loop
from ..core.outcome import Response
from ..core.protocols import ReceiverState
from ..delivery import Delivery
from ..engine import DeliveryReport, adispatch, dispatch
from .factories._base import SimulatedDelivery

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


# Seeing which handlers run -------------------------------------------------------------------

_recording: ContextVar[list[HandlerCall] | None] = ContextVar(
    "hookreceiver_testing_calls", default=None
)
_reports: ContextVar[list[DeliveryReport] | None] = ContextVar(
    "hookreceiver_testing_reports", default=None
)
_INSTRUMENTED = "_hookreceiver_testing_resolve"


class _ReportRecorder:
    """The observer that hands a testing send the report of its delivery."""

    def on_report(self, report: DeliveryReport) -> None:
        reports = _reports.get()
        if reports is not None and report.source == "http":
            reports.append(report)


def _capture(ctx: DeliveryContext) -> list[CapturedFile]:
    return [CapturedFile(a.field, a.filename, a.content_type, a.read()) for a in ctx.attachments]


def _recording_spec(spec: HandlerSpec, normalized: bool, calls: list[HandlerCall]) -> HandlerSpec:
    def begin(event: Any, ctx: DeliveryContext) -> HandlerCall:
        call = HandlerCall(spec.fn, spec.name, event, ctx, normalized, _capture(ctx))
        calls.append(call)
        return call

    if spec.is_async:

        @wraps(spec.fn)
        async def run_async(event: Any, ctx: DeliveryContext) -> Any:
            call = begin(event, ctx)
            try:
                return await spec.fn(event, ctx)
            except BaseException as exc:
                call.error = exc
                raise

        return HandlerSpec(run_async, True)

    @wraps(spec.fn)
    def run_sync(event: Any, ctx: DeliveryContext) -> Any:
        call = begin(event, ctx)
        try:
            return spec.fn(event, ctx)
        except BaseException as exc:
            call.error = exc
            raise

    return HandlerSpec(run_sync, False)


def instrument(receiver: ReceiverState) -> None:
    """Let deliveries sent by this module see ``receiver``'s handler calls (done once).

    Outside a testing send, the wrapped resolver returns the usual handlers untouched.
    """
    registry = receiver.handlers
    if getattr(registry, _INSTRUMENTED, False):
        return
    original = registry.resolve

    def resolve(event: Any) -> list[tuple[HandlerSpec, bool]]:
        found = original(event)
        calls = _recording.get()
        if calls is None:
            return found
        return [(_recording_spec(spec, norm, calls), norm) for spec, norm in found]

    setattr(registry, "resolve", resolve)  # noqa: B010 - instance attribute shadows the method
    setattr(registry, _INSTRUMENTED, True)
    receiver.add_observer(_ReportRecorder())


def find_receiver(app: Any, *, depth: int = 8) -> ReceiverState | None:
    """The :class:`~hookreceiver.Receiver` inside ``app``, when it can be found.

    Looks through hookreceiver's middleware, ``app.wsgi_app`` (Flask), Starlette's
    ``user_middleware`` and ``middleware_stack``, and wrapped ``app`` attributes.
    """
    seen: set[int] = set()
    todo: list[tuple[Any, int]] = [(app, 0)]
    while todo:
        item, level = todo.pop(0)
        if item is None or id(item) in seen or level > depth:
            continue
        seen.add(id(item))
        if isinstance(item, ReceiverState):
            return item
        owner = getattr(item, "__self__", None)  # a bound method such as hooks.asgi_middleware
        if isinstance(owner, ReceiverState):
            return owner
        children = [getattr(item, name, None) for name in ("receiver", "wsgi_app", "app")]
        children.append(getattr(item, "middleware_stack", None))
        for entry in getattr(item, "user_middleware", None) or ():
            children.append(getattr(entry, "cls", None))
            kwargs = getattr(entry, "kwargs", None)
            if isinstance(kwargs, Mapping):
                children.extend(kwargs.values())
        todo.extend((child, level + 1) for child in children if child is not None)
    return None


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


# In-process transports ---------------------------------------------------------------------------


def _is_asgi(app: Any) -> bool:
    return inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(
        getattr(app, "__call__", None)  # noqa: B004 - objects with an async __call__
    )


def _scope(delivery: SimulatedDelivery, path: str, peer: str | None) -> dict[str, Any]:
    headers = [(b"host", b"testserver")] + [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in delivery.headers
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": delivery.method,
        "scheme": "http",
        "path": path,
        "raw_path": quote(path).encode("ascii"),
        "query_string": delivery.query.encode("latin-1"),
        "root_path": "",
        "headers": headers,
        "client": (peer, 50000) if peer else None,
        "server": ("testserver", 80),
        "state": {},
    }


async def _call_asgi(
    app: Any, delivery: SimulatedDelivery, path: str, peer: str | None
) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
    sent_body = False
    start: dict[str, Any] = {}
    chunks: list[bytes] = []
    finished = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": delivery.body, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: Mapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                finished.set()

    await app(_scope(delivery, path, peer), receive, send)
    finished.set()
    if not start:
        raise RuntimeError("the ASGI app returned without sending a response")
    headers = tuple(
        (bytes(k).decode("latin-1").lower(), bytes(v).decode("latin-1"))
        for k, v in start.get("headers", [])
    )
    return int(start["status"]), headers, b"".join(chunks)


def _environ(delivery: SimulatedDelivery, path: str, peer: str | None) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": delivery.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": delivery.query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": peer or "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(delivery.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "HTTP_HOST": "testserver",
    }
    for name, value in delivery.headers:
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            previous = environ.get(f"HTTP_{key}")
            environ[f"HTTP_{key}"] = f"{previous},{value}" if previous else value
    if delivery.body and "CONTENT_LENGTH" not in environ:
        environ["CONTENT_LENGTH"] = str(len(delivery.body))
    return environ


def _call_wsgi(
    app: Any, delivery: SimulatedDelivery, path: str, peer: str | None
) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    iterable = app(_environ(delivery, path, peer), start_response)
    try:
        body = b"".join(iterable)
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    headers = tuple((k.lower(), v) for k, v in captured["headers"])
    return int(str(captured["status"]).split(" ", 1)[0]), headers, body


def _from_response(response: Response) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
    return response.status, response.headers, response.body


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
            self.kind = interface or ("asgi" if _is_asgi(target) else "wsgi")
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
        token, reports_token = _recording.set(calls), _reports.set(reports)
        started = time.perf_counter()
        try:
            if self.kind == "receiver":
                response = dispatch(self.target, _delivery(delivery, chosen, sender)).response
                raw = _from_response(response)
            else:
                raw = _call_wsgi(self.target, delivery, chosen, sender)
        finally:
            _recording.reset(token)
            _reports.reset(reports_token)
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
        token, reports_token = _recording.set(calls), _reports.set(reports)
        started = time.perf_counter()
        try:
            if self.kind == "receiver":
                report = await adispatch(self.target, _delivery(delivery, chosen, sender))
                raw = _from_response(report.response)
            else:
                raw = await _call_asgi(self.target, delivery, chosen, sender)
        finally:
            _recording.reset(token)
            _reports.reset(reports_token)
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
    raw: tuple[int, tuple[tuple[str, str], ...], bytes],
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


# Over HTTP ---------------------------------------------------------------------------------------


def send_http(
    delivery: SimulatedDelivery,
    base_url: str,
    *,
    path: str | None = None,
    forward_sender: str | None = None,
    timeout: float = 10.0,
) -> DeliveryResult:
    """Send ``delivery`` to a running server under ``base_url``, byte for byte.

    Args:
        base_url: ``http://host:port`` (a path in it is a prefix).
        path: send here instead of the delivery's own path.
        forward_sender: put the delivery's sender address in this header (a server that
            trusts this client as a proxy then sees the provider's address).
        timeout: seconds to wait for connecting and for the answer.

    Raises:
        TransportError: no HTTP answer came back.
    """
    import http.client

    sent = delivery if path is None else delivery.replace(path=path)
    url = urlsplit(sent.url(base_url))
    if url.scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {base_url!r}")
    connection_type = (
        http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    )
    target = url.path + (f"?{url.query}" if url.query else "")
    headers = list(sent.headers)
    if forward_sender and sent.sender:
        headers.append((forward_sender, sent.sender))
    started = time.perf_counter()
    connection = connection_type(url.netloc, timeout=timeout)
    try:
        connection.putrequest(sent.method, target, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        if sent.body and not any(n.lower() == "content-length" for n, _ in headers):
            connection.putheader("content-length", str(len(sent.body)))
        connection.endheaders(sent.body or None)
        response = connection.getresponse()
        body = response.read()
        answer = tuple((k.lower(), v) for k, v in response.getheaders())
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        raise TransportError(f"{sent.method} {url.geturl()}: {exc}") from exc
    finally:
        connection.close()
    return DeliveryResult(sent, status, answer, body, None, time.perf_counter() - started)
