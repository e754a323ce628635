"""WSGI middleware: the same flow as ASGI, driven with blocking calls, no event loop per request.

Async handlers, when registered, run on one background event loop per process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, BinaryIO

from ..core.outcome import NOT_FOUND, Response
from ..delivery import Delivery, Headers
from ..engine import dispatch
from ..errors import DeliveryRejected, MalformedBody

if TYPE_CHECKING:
    from ..core.protocols import ReceiverState
    from ..core.routing import Route

__all__ = ["WSGIApp", "WSGIMiddleware", "not_found_wsgi_app"]

logger = logging.getLogger("hookreceiver")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

CHUNK = 64 * 1024


class _InputStream:
    """``wsgi.input`` as an iterator of chunks, reading no further than ``Content-Length``."""

    __slots__ = ("_stream", "_remaining")

    def __init__(self, stream: BinaryIO, length: int | None) -> None:
        self._stream = stream
        self._remaining = length

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        remaining = self._remaining
        if remaining is not None and remaining <= 0:
            raise StopIteration
        try:
            chunk = self._stream.read(CHUNK if remaining is None else min(CHUNK, remaining))
        except DeliveryRejected:
            raise
        except Exception as exc:
            # The server could not read the body the client sent (gunicorn: a broken chunked
            # encoding, or the client gone before its declared length): the sender's fault,
            # a 400, never a 500.
            raise MalformedBody(
                f"the request body could not be read ({type(exc).__name__})"
            ) from None
        if not chunk:
            raise StopIteration
        if remaining is not None:
            self._remaining = remaining - len(chunk)
        return chunk


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def delivery_from_environ(environ: Environ, path: str | None = None) -> Delivery:
    """Translate a WSGI environ into a :class:`~hookreceiver.Delivery`.

    ``path`` is the path the endpoint matched (``SCRIPT_NAME`` + ``PATH_INFO`` when mounted
    under a prefix), ``PATH_INFO`` by default.
    """
    headers: list[tuple[str, str]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append((key[5:].replace("_", "-").lower(), value))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers.append((key.replace("_", "-").lower(), value))
    length_text = environ.get("CONTENT_LENGTH") or ""
    # ASCII digits only ("³".isdigit() is true, int() refuses it); a malformed or absurd length
    # reads nothing here, and the flow answers it 400 or 413 before reading.
    length = (
        int(length_text)
        if length_text.isdigit() and length_text.isascii() and len(length_text) < 19
        else None
    )
    if length is None and not environ.get("wsgi.input_terminated"):
        length = 0  # no length and no chunked support from the server: no body to read
    return Delivery(
        method=environ.get("REQUEST_METHOD", "GET").upper(),
        path=_path(environ.get("PATH_INFO", "")) if path is None else path,
        query=environ.get("QUERY_STRING", ""),
        headers=Headers.from_lower(tuple(headers)),
        peer=environ.get("REMOTE_ADDR") or None,
        body=_InputStream(environ["wsgi.input"], length),
        raw_path=environ.get("RAW_URI") or environ.get("REQUEST_URI"),
        scheme=environ.get("wsgi.url_scheme", "http"),
    )


def _path(path_info: str) -> str:
    # PEP 3333: PATH_INFO is the raw bytes decoded as latin-1; URLs are UTF-8.
    if path_info.isascii():
        return path_info
    return path_info.encode("latin-1").decode("utf-8", "replace")


def _under(path: str, prefix: str) -> bool:
    return path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/")


def _match_mounted(
    receiver: ReceiverState, route: Route | None, path: str, script: str
) -> tuple[Route | None, str]:
    """Mounted under a prefix (Werkzeug's ``DispatcherMiddleware``, a server's ``SCRIPT_NAME``):
    the endpoint is found by the full path ``SCRIPT_NAME + PATH_INFO`` (or, registered relative
    to the mount point, by ``PATH_INFO``); an endpoint under the prefix is reached by its full
    path only, so ``/hooks/faxplus`` mounted at ``/hooks`` is not also ``/hooks/hooks/faxplus``.
    """
    if route is not None and not _under(route.endpoint.path, script):
        return route, path
    full = script + path
    return receiver.match(full), full


def _respond(response: Response, start_response: StartResponse) -> list[bytes]:
    start_response(_status_line(response.status), list(response.headers))
    return [response.body]


class WSGIMiddleware:
    """Wrap a WSGI ``app``; deliveries to the receiver's endpoints never reach it.

    Args:
        app: the WSGI application to wrap.
        receiver: the :class:`~hookreceiver.Receiver` whose endpoints are served.
    """

    def __init__(self, app: WSGIApp, *, receiver: ReceiverState) -> None:
        self.app = app
        self.receiver = receiver

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Handle a webhook delivery, or pass the request through."""
        path = _path(environ.get("PATH_INFO", ""))
        route = self.receiver.match(path)
        script = environ.get("SCRIPT_NAME")
        if script:
            route, path = _match_mounted(self.receiver, route, path, _path(script))
        if route is None:
            return self.app(environ, start_response)
        if self.receiver.worker_lifecycle.due:  # the worker's threads start with the first delivery
            self.receiver.worker_lifecycle.start()
        delivery = delivery_from_environ(environ, path)
        return _respond(dispatch(self.receiver, delivery, route).response, start_response)


def not_found_wsgi_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """The app behind :attr:`Receiver.wsgi_app`: 404 for every other path."""
    return _respond(NOT_FOUND, start_response)
