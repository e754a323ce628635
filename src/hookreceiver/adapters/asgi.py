"""Pure ASGI middleware: webhook paths are handled by the receiver, all else passes through.

No ``BaseHTTPMiddleware``: the request that is not ours reaches the wrapped app with its
``receive`` untouched, so its body streams as if we were not there.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote_to_bytes

from .._asgi import acknowledge_lifespan
from ..core.outcome import NOT_FOUND, Response
from ..delivery import Delivery, Headers
from ..engine import DeliveryAbandoned, adispatch
from ..errors import RequestTimeout

if TYPE_CHECKING:
    from ..core.protocols import ReceiverState
    from ..core.routing import Route
    from ..parsing.body import BodySink

__all__ = ["ASGIApp", "ASGIMiddleware", "ClientDisconnected", "not_found_app"]

logger = logging.getLogger("hookreceiver")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
T = TypeVar("T")


class ClientDisconnected(DeliveryAbandoned):
    """The sender closed the connection before its body was read; nothing is answered."""


_CLOSE = (("connection", "close"),)
_Coroutine = types.CoroutineType
_blank = object.__new__


@types.coroutine
def _resumed(coroutine: Coroutine[Any, Any, T], pending: Any) -> Generator[Any, Any, T]:
    """Await ``coroutine``, already run up to its first wait on ``pending`` (what it yielded):
    ``pending`` goes to the task, and whatever the task sends or throws back goes on to the
    coroutine, as ``await`` would have done from the start."""
    while True:
        try:
            sent = yield pending
        except GeneratorExit:
            coroutine.close()
            raise
        except BaseException as exc:  # a cancellation, thrown in by the task
            try:
                pending = coroutine.throw(exc)
            except StopIteration as done:
                result: T = done.value
                return result
        else:
            try:
                pending = coroutine.send(sent)
            except StopIteration as done:
                result = done.value
                return result


class _Deadlines:
    """The deadlines of the body reads in progress on one event loop, watched by one timer.

    A timer per read (``asyncio.timeout``) cost about a third of a small delivery's time; here
    a read that waits costs two dict operations, and one that does not wait is not watched.
    Every read has the same timeout, so the dict (in insertion order) is also in deadline
    order, and the one timer is set for the oldest read's deadline.
    """

    __slots__ = ("loop", "timeout", "_reads", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self._reads: dict[_BodyStream, tuple[float, asyncio.Task[Any]]] = {}
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, stream: _BodyStream) -> bool:
        """Start the clock on ``stream``'s read, in the current task (``False``: no task)."""
        task = asyncio.current_task(self.loop)
        if task is None:
            return False
        deadline = self.loop.time() + self.timeout
        self._reads[stream] = (deadline, task)
        if self._timer is None:
            self._timer = self.loop.call_at(deadline, self._expire)
        return True

    def unwatch(self, stream: _BodyStream) -> None:
        self._reads.pop(stream, None)

    def _expire(self) -> None:
        now = self.loop.time()
        self._timer = None
        reads = self._reads
        for stream, (deadline, task) in list(reads.items()):
            if deadline > now:
                self._timer = self.loop.call_at(deadline, self._expire)
                return
            del reads[stream]
            stream._expired = True
            task.cancel()


class _BodyStream:
    """The request body as an async iterator over ``http.request`` messages.

    With ``deadlines`` (what finds the running loop's :class:`_Deadlines`), a read by
    :meth:`read_into` that has to wait for the sender is bounded: from its first wait, the rest
    of the body must arrive within the timeout, or the read ends in a 408 instead of holding the
    request forever. A read whose messages are all there already (a small body, received
    whole with the headers) never waits, so it arms nothing.
    """

    __slots__ = ("_receive", "_done", "_deadlines", "_expired")

    def __init__(
        self, receive: Receive, deadlines: Callable[[], _Deadlines | None] | None = None
    ) -> None:
        self._receive = receive
        self._done = False
        self._deadlines = deadlines
        self._expired = False

    def __aiter__(self) -> _BodyStream:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        return await self._next_chunk()

    async def read_into(self, sink: BodySink) -> None:
        """Feed every remaining chunk to ``sink`` (what ``async for`` does, a third cheaper).

        Raises:
            RequestTimeout: the body did not arrive within the deadline (``sink`` is aborted).
        """
        receive = self._receive
        probing = self._deadlines is not None  # until the first wait: then the clock starts
        deadlines: _Deadlines | None = None
        try:
            while not self._done:  # (_next_chunk's steps without a coroutine per chunk)
                if not probing:
                    message = await receive()
                else:
                    waiting = receive()
                    if type(waiting) is not _Coroutine:  # an awaitable of another kind
                        probing = False
                        deadlines = self._watch()
                        message = await waiting
                    else:  # run it up to its first wait, if it has one
                        try:
                            pending = waiting.send(None)
                        except StopIteration as answered:  # the message was there: no wait
                            message = answered.value
                        else:
                            probing = False
                            deadlines = self._watch()
                            message = await _resumed(waiting, pending)
                body = self._chunk(message)
                if body:
                    sink.feed(body)
        except asyncio.CancelledError:
            if not self._expired or deadlines is None:
                raise
            # Our own cancellation, unless the server cancelled the request at the same time.
            task = asyncio.current_task()
            if sys.version_info >= (3, 11) and task is not None and task.uncancel() > 0:
                raise
            sink.abort()
            raise RequestTimeout(
                f"the body did not arrive within {deadlines.timeout:g} s", headers=_CLOSE
            ) from None
        finally:
            if deadlines is not None:
                deadlines.unwatch(self)

    def _watch(self) -> _Deadlines | None:
        """Start the clock on this read (``None``: no timeout, or not in an asyncio task)."""
        assert self._deadlines is not None
        deadlines = self._deadlines()
        if deadlines is not None and not deadlines.watch(self):
            return None
        return deadlines

    async def _next_chunk(self) -> bytes:
        return self._chunk(await self._receive())

    def _chunk(self, message: Message) -> bytes:
        """The body bytes of one received message (raises if the sender went away)."""
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        self._done = not message.get("more_body", False)
        body: bytes = message.get("body", b"")
        return body


def _copy_headers(response: Response) -> list[tuple[bytes, bytes]]:
    # A fresh list each time: middleware around us may edit the message's headers in place.
    return list(response.raw_headers)


def delivery_from_scope(
    scope: Scope,
    receive: Receive,
    path: str | None = None,
    deadlines: Callable[[], _Deadlines | None] | None = None,
) -> Delivery:
    """Translate an ASGI HTTP scope into a :class:`~hookreceiver.Delivery`.

    ``path`` is the path the endpoint matched (see :func:`match_mounted`), ``scope["path"]`` by
    default; ``deadlines`` finds the deadlines that bound a read of the body that has to wait
    (none by default).
    """
    # Built slot by slot, without a call to each class's __init__: a quarter of the cost
    # (this runs for every delivery). The same values as the constructors would set.
    client = scope.get("client")
    raw_path = scope.get("raw_path")
    query = scope.get("query_string")
    headers: Headers = _blank(Headers)  # Headers.from_raw(scope["headers"])
    headers._items = None
    headers._raw = scope["headers"]
    stream: _BodyStream = _blank(_BodyStream)  # _BodyStream(receive, deadlines)
    stream._receive = receive
    stream._done = False
    stream._deadlines = deadlines
    stream._expired = False
    delivery: Delivery = _blank(Delivery)
    delivery.method = scope["method"]
    delivery.path = scope["path"] if path is None else path
    delivery.query = query.decode("latin-1") if query else ""
    delivery.headers = headers
    delivery.peer = client[0] if client else None
    delivery.body = stream
    delivery.raw_path = raw_path.decode("latin-1") if raw_path is not None else None
    delivery.scheme = scope.get("scheme", "http")
    return delivery


def _under(path: str, prefix: str) -> bool:
    return path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/")


def _raw_text(raw: bytes) -> str:
    if raw.isascii() and b"%" not in raw:
        return raw.decode("ascii")
    return unquote_to_bytes(raw).decode("utf-8", "replace")


def match_mounted(receiver: ReceiverState, scope: Scope) -> tuple[str, Route] | None:
    """The endpoint an HTTP scope is for when ``scope["path"]`` alone found none, and the path
    that matched it (``None``: not ours).

    The adapter tries ``scope["path"]`` first: one look-up, the common case. When it misses, the
    app may be mounted under a prefix, and frameworks disagree on where the prefix goes: Starlette's
    ``Mount`` (and uvicorn's ``--root-path``) keep it in ``path`` and set ``root_path``; the
    ASGI convention before spec 3.0 strips it from ``path`` into ``root_path``; Litestar's
    ``is_mount=True`` strips it and sets nothing, leaving only ``raw_path`` (the path the sender
    asked for) whole. So the full path is tried in those spellings, then the path below
    ``root_path`` (endpoints registered relative to the mount point, or an app whose proxy
    strips the prefix that ``--root-path`` puts back).
    """
    path: str = scope["path"]
    root: str = scope.get("root_path") or ""
    raw = scope.get("raw_path")
    if not root and (raw is None or raw == path.encode("utf-8", "replace")):
        return None  # not mounted: every request the app serves itself ends here
    return _match_mounted(receiver, path, root, raw)


def _match_mounted(
    receiver: ReceiverState, path: str, root: str, raw: bytes | None
) -> tuple[str, Route] | None:
    full = [path]
    if root and not _under(path, root):
        full.append(root + path)
    text = None if not raw else _raw_text(raw)
    if text is not None and text not in full:
        full.append(text)
    for candidate in full[1:]:
        route = receiver.match(candidate)
        if route is not None:
            return candidate, route
    if root:
        for candidate in full:
            if _under(candidate, root) and len(candidate) > len(root):
                below = candidate[len(root) :]
                route = receiver.match(below)
                # An endpoint under the prefix is reached by its full path only: /hooks/faxplus
                # mounted at /hooks is not also /hooks/hooks/faxplus.
                if route is not None and not _under(route.endpoint.path, root):
                    return below, route
    return None


class ASGIMiddleware:
    """Wrap ``app``; deliveries to the receiver's endpoints never reach it.

    Args:
        app: the ASGI application to wrap.
        receiver: the :class:`~hookreceiver.Receiver` whose endpoints are served.
    """

    def __init__(self, app: ASGIApp, *, receiver: ReceiverState) -> None:
        self.app = app
        self.receiver = receiver
        self._deadlines: _Deadlines | None = None
        # Asked only by a body read that has to wait (bound once, not per delivery).
        self._find_deadlines = self._deadlines_now

    def _deadlines_now(self) -> _Deadlines | None:
        """The body deadlines of the running loop (``None``: no timeout, or no asyncio loop)."""
        timeout = self.receiver.body_timeout
        if timeout is None:
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        deadlines = self._deadlines
        if deadlines is None or deadlines.loop is not loop or deadlines.timeout != timeout:
            deadlines = self._deadlines = _Deadlines(loop, timeout)
        return deadlines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle a webhook delivery, or pass the request through."""
        if scope["type"] != "http":
            if scope["type"] == "lifespan" and self.receiver.worker_lifecycle.due:
                receive, send = self._with_worker(receive, send)
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        route = self.receiver.match(path)
        if route is None:
            matched = match_mounted(self.receiver, scope)
            if matched is None:
                await self.app(scope, receive, send)
                return
            path, route = matched
        if self.receiver.worker_lifecycle.due:  # no lifespan ran: start the inbox worker now
            await self.receiver.worker_lifecycle.astart()
        delivery = delivery_from_scope(scope, receive, path, self._find_deadlines)
        try:
            response = (await adispatch(self.receiver, delivery, route)).response
        except ClientDisconnected:
            logger.info("sender disconnected before its body was read: %s", scope["path"])
            return
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                # _copy_headers(response), inlined: a fresh list, as middleware may edit it.
                "headers": list(response.raw_headers),
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    def _with_worker(self, receive: Receive, send: Send) -> tuple[Receive, Send]:
        """Lifespan channels that run the inbox worker between the app's start-up and its
        shut-down (so handlers can use what the app sets up), leaving the app's own intact."""
        receiver = self.receiver

        async def receive_wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await receiver.worker_lifecycle.astop()
            return message

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                await receiver.worker_lifecycle.astart()
            await send(message)

        return receive_wrapped, send_wrapped


async def not_found_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The app behind :attr:`Receiver.asgi_app`: 404 for HTTP, lifespan acknowledged."""
    if scope["type"] == "lifespan":
        await acknowledge_lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": NOT_FOUND.status,
            "headers": _copy_headers(NOT_FOUND),
        }
    )
    await send({"type": "http.response.body", "body": NOT_FOUND.body})
