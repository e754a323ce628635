"""What the bad-input tests share: a receiver serving every provider, and both adapters driven
in process (a WSGI environ and an ASGI scope built by hand, as a server would)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hookreceiver import Receiver, providers
from hookreceiver.inbox import Inbox

PEER = "127.0.0.1"
ALLOW = [PEER]

#: ``fast`` (the default) or ``long`` (see conftest.py).
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fast")
_LONG_EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "20000"))


def examples(fast: int) -> int:
    """A test's example count: ``fast`` by default, ``HYPOTHESIS_EXAMPLES`` in a long run."""
    return _LONG_EXAMPLES if PROFILE == "long" else fast


#: Endpoint paths, as the factories address them by default.
PATHS = {
    "documo": "/hooks/documo",
    "faxplus": "/hooks/faxplus",
    "updox": "/hooks/updox/{event}",
    "wirecloud": "/hooks/wirecloud",
    "zipwhip": "/hooks/zipwhip/{event}",
}


def every_provider(inbox: Inbox | None = None) -> Receiver:
    """A receiver with one endpoint per provider, verified by the test peer's address, and a
    catch-all handler that succeeds."""
    hooks = Receiver(inbox=inbox, worker=False, log_events=False)
    hooks.endpoint(PATHS["documo"], providers.Documo(allow_ips=ALLOW))
    hooks.endpoint(PATHS["faxplus"], providers.FaxPlus(allow_ips=ALLOW))
    hooks.endpoint(PATHS["updox"], providers.Updox(allow_ips=ALLOW))
    hooks.endpoint(PATHS["wirecloud"], providers.Wirecloud(allow_ips=ALLOW))
    hooks.endpoint(PATHS["zipwhip"], providers.Zipwhip(allow_ips=ALLOW))

    @hooks.on("*")
    def handled(event: Any, ctx: Any) -> None:
        pass

    return hooks


@dataclass(frozen=True)
class Request:
    """One HTTP request as a server hands it over: text header values are latin-1."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    #: How the body arrives in ASGI ``http.request`` messages (sizes; the rest in one).
    chunks: tuple[int, ...] = ()


@dataclass(frozen=True)
class Answer:
    """The response an adapter gave."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call_wsgi(app: Any, request: Request) -> Answer:
    """Call a WSGI app with ``request``; ``Content-Length``/``Content-Type`` go where PEP 3333
    puts them (the last one sent wins, as in servers that join nothing)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": request.path.encode("utf-8", "surrogateescape").decode("latin-1"),
        "QUERY_STRING": request.query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": PEER,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in request.headers:
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            environ[f"HTTP_{key}"] = value
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))
        return lambda data: None

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    assert len(started) == 1, started
    status, headers = started[0]
    return Answer(int(status.split(" ", 1)[0]), tuple(headers), body)


_loop: asyncio.AbstractEventLoop | None = None


def event_loop() -> asyncio.AbstractEventLoop:
    """One event loop for every in-process ASGI call of the session (a loop per example would
    spend most of the time creating loops)."""
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop


def call_asgi(app: Any, request: Request) -> Answer:
    """Call an ASGI app with ``request`` on the shared loop, the body in ``request.chunks``."""
    return event_loop().run_until_complete(acall_asgi(app, request))


async def acall_asgi(app: Any, request: Request) -> Answer:
    raw_path = request.path.encode("utf-8", "surrogateescape")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": raw_path.decode("utf-8", "replace"),
        "raw_path": raw_path,
        "query_string": request.query.encode("latin-1"),
        "root_path": "",
        "headers": [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in request.headers],
        "client": (PEER, 50000),
        "server": ("testserver", 80),
    }
    messages = list(_split(request.body, request.chunks))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(0)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"], sent
    headers = tuple((n.decode("latin-1"), v.decode("latin-1")) for n, v in sent[0]["headers"])
    return Answer(sent[0]["status"], headers, sent[1].get("body", b""))


def _split(body: bytes, sizes: Sequence[int]) -> Iterator[dict[str, Any]]:
    start = 0
    for size in sizes:
        if start >= len(body):
            break
        yield {"type": "http.request", "body": body[start : start + size], "more_body": True}
        start += size
    yield {"type": "http.request", "body": body[start:], "more_body": False}


class BugLog(logging.Handler):
    """Collects every log record that carries a traceback: a bug of the receiver's (no
    handler of these tests fails)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@contextmanager
def bug_log() -> Iterator[BugLog]:
    """Collect the ``hookreceiver`` log's tracebacks while the block runs."""
    handler = BugLog()
    logger = logging.getLogger("hookreceiver")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
