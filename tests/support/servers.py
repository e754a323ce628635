"""Real servers on loopback ports, in threads, for tests that go over a socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_asgi(app: Any, host: str = "127.0.0.1", **options: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn (httptools) in a thread; yield its base URL. ``options`` go
    to ``uvicorn.Config`` (``root_path=``)."""
    import uvicorn

    port = free_port(host)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="auto", **options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def serve_gunicorn(app: str, *options: str) -> Iterator[str]:
    """Run ``app`` (``module:name`` or ``module:factory()``, importable from tests/) under
    gunicorn in a subprocess; yield its base URL."""
    port = free_port()
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    process = subprocess.Popen(
        [*command, "--log-level", "warning", *options, app], cwd=tests, env=env
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_wsgi(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Run ``app`` under the standard library's threading WSGI server; yield its base URL."""
    server = make_server(
        host, 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def exchange(url: str, head: bytes, body: bytes = b"", *, timeout: float = 10.0) -> bytes:
    """Send ``head`` (and ``body``) over a raw socket; return all the server sent until its
    response was complete, it closed, or ``timeout`` passed.

    "Complete" means a final (non-1xx) status line, its headers and as many body bytes as its
    ``Content-Length`` says; interim ``100 Continue`` responses stay in the returned bytes.
    """
    host, port = url.removeprefix("http://").rsplit(":", 1)
    received = b""
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head + body)
        deadline = time.monotonic() + timeout
        while not _complete(received):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionError):
                break
            if not chunk:
                break
            received += chunk
    return received


def _complete(data: bytes) -> bool:
    rest = data
    while b"\r\n\r\n" in rest:
        head, rest = rest.split(b"\r\n\r\n", 1)
        if head.split(b" ", 2)[1:2] and head.split(b" ", 2)[1].startswith(b"1"):
            continue  # an interim response: the final one follows
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        return len(rest) >= length
    return False


def final_status(data: bytes) -> tuple[int, list[int], bytes]:
    """The final status of a raw response, the interim statuses before it, and its body."""
    interim: list[int] = []
    rest = data
    while b"\r\n\r\n" in rest:
        head, rest = rest.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ", 2)[1])
        if 100 <= status < 200:
            interim.append(status)
            continue
        return status, interim, rest
    raise AssertionError(f"no complete response in {data[:200]!r}")
