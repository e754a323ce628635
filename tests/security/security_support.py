"""Shared pieces of the security tests: a tiny provider, fixed secrets, a settable clock, and
callers that drive the real ASGI and WSGI adapters in-process with exact peers and headers."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, unquote_to_bytes

from hookreceiver import GenericEvent, ParsedEvent, Receiver
from hookreceiver.delivery import Delivery
from hookreceiver.parsing.body import Body
from hookreceiver.parsing.json import decode_json_object
from hookreceiver.providers.base import Provider

NOW = 1_700_000_000.0

OLD_PASSWORD = "s3cret-old-Pw"
NEW_PASSWORD = "n3w-Pässwörd-ñ"
URL_KEYS = ["url-key-new-0123456789abcdef", "url-key-old-0123456789abcdef"]
HMAC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#: Every configured secret: none may ever appear in a response or a log line.
SECRETS = [OLD_PASSWORD, NEW_PASSWORD, *URL_KEYS, HMAC_SECRET, HMAC_SECRET[6:]]


class Clock:
    """A clock tests set by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Probe(Provider):
    """A minimal provider: JSON ``{"id": ...}``, event name from ``{event}`` or ``ping``."""

    name: ClassVar[str] = "probe"
    methods: ClassVar[tuple[str, ...]] = ("POST", "GET")

    def parse(self, delivery: Delivery, params: Mapping[str, str], body: Body) -> ParsedEvent:
        payload = decode_json_object(body.raw) if body.raw else dict(delivery.query_params())
        event = f"probe.{params.get('event', 'ping')}"
        model = GenericEvent(provider="probe", name=event, payload=payload)
        return ParsedEvent(event, "probe", f"probe:{payload.get('id')}", model)


@dataclass
class Seen:
    """What handlers received: ``(event name, payload id, ctx.client, ctx.signed)``."""

    calls: list[tuple[str, Any, str | None, Any]] = field(default_factory=list)

    def attach(self, receiver: Receiver) -> Receiver:
        @receiver.on("*")
        def record(event: GenericEvent, ctx: Any) -> None:
            self.calls.append((ctx.event_name, event.payload.get("id"), ctx.client, ctx.signed))

        return receiver


@dataclass
class Result:
    """One response, and how much of the request body the adapter read."""

    status: int
    headers: dict[str, str]
    body: bytes
    body_reads: int

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Request:
    """A request as a client sends it: raw path and query, header bytes as UTF-8."""

    path: str
    method: str = "POST"
    query: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    peer: str | None = "203.0.113.50"
    body: bytes = b'{"id": "evt-1"}'
    content_length: int | None = None

    def header_list(self) -> list[tuple[str, str]]:
        length = len(self.body) if self.content_length is None else self.content_length
        base = [("content-type", "application/json")] if self.method != "GET" else []
        return [*base, *self.headers, ("content-length", str(length))]


def call_asgi(app: Any, request: Request) -> Result:
    """Drive an ASGI app as uvicorn would: lower-case header names, decoded path, latin-1."""
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": request.body, "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": unquote(request.path),
        "raw_path": request.path.encode("latin-1"),
        "query_string": request.query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode()) for k, v in request.header_list()],
        "client": (request.peer, 40123) if request.peer is not None else None,
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))
    start, body = sent[0], sent[1]
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    return Result(start["status"], headers, body["body"], reads)


class _Input(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        return super().read(size)


def call_wsgi(app: Any, request: Request) -> Result:
    """Drive a WSGI app as wsgiref would: CGI names, duplicates joined with commas."""
    stream = _Input(request.body)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(request.path).decode("latin-1"),
        "QUERY_STRING": request.query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": stream,
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if request.peer is not None:
        environ["REMOTE_ADDR"] = request.peer
    for name, value in request.header_list():
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        wire = value.encode().decode("latin-1")
        environ[key] = environ[key] + "," + wire if key in environ else wire
    status_headers: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc: Any = None) -> None:
        status_headers[:] = [status, headers]

    body = b"".join(app(environ, start_response))
    status, headers = status_headers
    return Result(int(status.split()[0]), dict(headers), body, stream.reads)


ADAPTERS: dict[str, Callable[[Receiver, Request], Result]] = {
    "asgi": lambda receiver, request: call_asgi(receiver.asgi_app, request),
    "wsgi": lambda receiver, request: call_wsgi(receiver.wsgi_app, request),
}


class ServedProcess:
    """A server started as a subprocess the way the README says (``tests/security/apps``
    holds its app), with everything it prints collected line by line."""

    APPS = str(Path(__file__).resolve().parent / "apps")

    def __init__(self, command: list[str], port: int, env: Mapping[str, str]) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            command,
            cwd=self.APPS,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("server did not start:\n" + "\n".join(self.lines))
            time.sleep(0.05)

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def handled(self) -> list[dict[str, Any]]:
        """The JSON lines the app's handler printed."""
        return [json.loads(line) for line in list(self.lines) if line.startswith('{"handled"')]

    def output(self, settle: float = 0.5) -> str:
        """Everything printed so far, after ``settle`` seconds for the last lines to arrive."""
        time.sleep(settle)
        return "\n".join(self.lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def served(command: list[str], port: int, **env: str) -> Iterator[ServedProcess]:
    """Run ``command`` (which serves on ``port``) for the duration of the block."""
    server = ServedProcess(command, port, env)
    try:
        yield server
    finally:
        server.stop()


def uvicorn_command(port: int, *flags: str, app: str = "served:app") -> list[str]:
    """``uvicorn [flags] app`` on 127.0.0.1:port, as a module of this interpreter."""
    where = ["--host", "127.0.0.1", "--port", str(port)]
    return [sys.executable, "-m", "uvicorn", *flags, app, *where]


def gunicorn_command(port: int, *flags: str, app: str = "served:wsgi") -> list[str]:
    """``gunicorn [flags] app`` with one worker on 127.0.0.1:port."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        *flags,
        "--workers",
        "1",
        "--bind",
        f"127.0.0.1:{port}",
        app,
    ]
