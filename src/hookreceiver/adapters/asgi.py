"""Pure ASGI middleware: webhook paths are handled by the receiver, all else passes through.

No ``BaseHTTPMiddleware``: the request that is not ours reaches the wrapped app with its
``receive`` untouched, so its body streams as if we were not there.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from ..core.delivery import Delivery, Headers
from ..core.flow import delivery_flow, run_async
from ..core.outcome import Response
from ..core.receiver import INTERNAL_ERROR, NOT_FOUND
from ..errors import RequestTimeout

if TYPE_CHECKING:
    from ..core.receiver import Receiver
    from ..core.routing import Route
    from ..parsing.body import BodySink

__all__ = ["ASGIApp", "ASGIMiddleware", "ClientDisconnected", "not_found_app"]

logger = logging.getLogger("hookreceiver")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ClientDisconnected(Exception):
    """The sender closed the connection before its body was read; nothing is answered."""


_CLOSE = (("connection", "close"),)


class _BodyStream:
    """The request body as an async iterator over ``http.request`` messages.

    ``timeout`` bounds the whole read by :meth:`read_into` (one timer per delivery, not one per
    chunk): a sender that stalls mid-body gets a 408 instead of holding the request forever.
    """

    __slots__ = ("_receive", "_done", "_timeout")

    def __init__(self, receive: Receive, timeout: float | None = None) -> None:
        self._receive = receive
        self._done = False
        self._timeout = timeout

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
        timeout = self._timeout
        if timeout is None:
            await self._read_all(sink)
            return
        try:
            if sys.version_info >= (3, 11):
                async with asyncio.timeout(timeout):
                    await self._read_all(sink)
            else:  # pragma: no cover - Python 3.10
                await asyncio.wait_for(self._read_all(sink), timeout)
        except TimeoutError:
            sink.abort()
            raise RequestTimeout(
                f"the body did not arrive within {timeout:g} s", headers=_CLOSE
            ) from None

    async def _read_all(self, sink: BodySink) -> None:
        while not self._done:
            body = await self._next_chunk()
            if body:
                sink.feed(body)

    async def _next_chunk(self) -> bytes:
        message = await self._receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        self._done = not message.get("more_body", False)
        body: bytes = message.get("body", b"")
        return body


def _encode_headers(response: Response) -> list[tuple[bytes, bytes]]:
    # A fresh list each time: middleware around us may edit the message's headers in place.
    return list(response.raw_headers)


def delivery_from_scope(
    scope: Scope, receive: Receive, body_timeout: float | None = None, path: str | None = None
) -> Delivery:
    """Translate an ASGI HTTP scope into a :class:`~hookreceiver.Delivery`.

    ``body_timeout`` bounds the reading of the body (seconds, ``None`` for no limit); ``path``
    is the path the endpoint matched (see :func:`match_scope`), ``scope["path"]`` by default.
    """
    client = scope.get("client")
    raw_path = scope.get("raw_path")
    return Delivery(
        method=scope["method"],
        path=scope["path"] if path is None else path,
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=Headers.from_raw(scope["headers"]),
        peer=client[0] if client else None,
        body=_BodyStream(receive, body_timeout),
        raw_path=raw_path.decode("latin-1") if raw_path is not None else None,
        scheme=scope.get("scheme", "http"),
    )


def _under(path: str, prefix: str) -> bool:
    return path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/")


def _raw_text(scope: Scope) -> str | None:
    raw = scope.get("raw_path")
    if not raw:
        return None
    if raw.isascii() and b"%" not in raw:
        return str(raw.decode("ascii"))
    return unquote_to_bytes(raw).decode("utf-8", "replace")


def match_scope(receiver: Receiver, scope: Scope) -> tuple[str, Route] | None:
    """The endpoint an HTTP scope is for, and the path that matched it (``None``: not ours).

    ``scope["path"]`` is tried first: one look-up, the common case. When it misses, the app
    may be mounted under a prefix, and frameworks disagree on where the prefix goes: Starlette's
    ``Mount`` (and uvicorn's ``--root-path``) keep it in ``path`` and set ``root_path``; the
    ASGI convention before spec 3.0 strips it from ``path`` into ``root_path``; Litestar's
    ``is_mount=True`` strips it and sets nothing, leaving only ``raw_path`` (the path the sender
    asked for) whole. So the full path is tried in those spellings, then the path below
    ``root_path`` (endpoints registered relative to the mount point, or an app whose proxy
    strips the prefix that ``--root-path`` puts back).
    """
    path: str = scope["path"]
    route = receiver.match(path)
    if route is not None:
        return path, route
    root: str = scope.get("root_path") or ""
    full = [path]
    if root and not _under(path, root):
        full.append(root + path)
    raw = _raw_text(scope)
    if raw is not None and raw not in full:
        full.append(raw)
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

    def __init__(self, app: ASGIApp, *, receiver: Receiver) -> None:
        self.app = app
        self.receiver = receiver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle a webhook delivery, or pass the request through."""
        if scope["type"] != "http":
            if scope["type"] == "lifespan" and self.receiver._worker_due:
                receive, send = self._with_worker(receive, send)
            await self.app(scope, receive, send)
            return
        matched = match_scope(self.receiver, scope)
        if matched is None:
            await self.app(scope, receive, send)
            return
        path, route = matched
        if self.receiver._worker_due:  # no lifespan ran: start the inbox worker now
            await self.receiver.astart_worker()
        delivery = delivery_from_scope(scope, receive, self.receiver.body_timeout, path)
        try:
            response = await run_async(delivery_flow(self.receiver, route, delivery))
        except ClientDisconnected:
            logger.info("sender disconnected before its body was read: %s", scope["path"])
            return
        except Exception:
            logger.exception("unexpected error handling %s %s", scope["method"], scope["path"])
            response = INTERNAL_ERROR
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": _encode_headers(response),
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
                await receiver.astop_worker()
            return message

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                await receiver.astart_worker()
            await send(message)

        return receive_wrapped, send_wrapped


async def not_found_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The app behind :attr:`Receiver.asgi_app`: 404 for HTTP, lifespan acknowledged."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": NOT_FOUND.status,
            "headers": _encode_headers(NOT_FOUND),
        }
    )
    await send({"type": "http.response.body", "body": NOT_FOUND.body})
