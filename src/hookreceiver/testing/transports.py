"""The in-process transports of a testing send: an ASGI scope or a WSGI environ built from a
simulated delivery, the app called, its answer collected; and :func:`send_http` over a socket."""

from __future__ import annotations

import asyncio
import inspect
import io
import sys
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from ..core.outcome import Response
from .factories._base import SimulatedDelivery
from .results import DeliveryResult, TransportError

__all__ = ["Answer", "call_asgi", "call_wsgi", "from_response", "is_asgi", "send_http"]

#: ``(status, headers with lower-case names, body)``: an answer, whatever carried it.
Answer = tuple[int, tuple[tuple[str, str], ...], bytes]


# In-process ---------------------------------------------------------------------------------------


def is_asgi(app: Any) -> bool:
    """Whether ``app`` is an ASGI app (an async callable), not a WSGI one."""
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


async def call_asgi(app: Any, delivery: SimulatedDelivery, path: str, peer: str | None) -> Answer:
    """Call ASGI ``app`` with ``delivery`` at ``path`` from ``peer``; its answer."""
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


def call_wsgi(app: Any, delivery: SimulatedDelivery, path: str, peer: str | None) -> Answer:
    """Call WSGI ``app`` with ``delivery`` at ``path`` from ``peer``; its answer."""
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


def from_response(response: Response) -> Answer:
    """The answer of a receiver's own :class:`~hookreceiver.Response`."""
    return response.status, response.headers, response.body


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
