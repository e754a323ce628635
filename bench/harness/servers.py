"""Start one target application in its own real server process, pinned to one core."""

from __future__ import annotations

import http.client
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = [
    "BENCH_DIR",
    "Server",
    "ServerSpec",
    "cpu_seconds",
    "free_port",
    "pin_prefix",
    "wsgi_server_name",
]

BENCH_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ServerSpec:
    """One target: a name for the table, ``asgi`` or ``wsgi``, and ``module:attribute``."""

    name: str
    kind: str
    app: str
    path: str = "/hooks/faxplus"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pin_prefix(cpu: int | None) -> list[str]:
    """``taskset -c CPU`` when pinning is asked for and possible, else nothing."""
    if cpu is None or shutil.which("taskset") is None or (os.cpu_count() or 1) <= cpu:
        return []
    return ["taskset", "-c", str(cpu)]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wsgi_server_name() -> str:
    """``gunicorn`` when installed (the real server); else the standard library's wsgiref."""
    return "gunicorn" if importlib.util.find_spec("gunicorn") is not None else "wsgiref"


@dataclass
class Server:
    """A running server process for one :class:`ServerSpec`; a context manager.

    Args:
        spec: what to serve.
        cpu: the core to pin the server to, or ``None``.
        loop: uvicorn's event loop (``asyncio`` or ``uvloop``).
        threads: gunicorn gthread worker threads.
    """

    spec: ServerSpec
    cpu: int | None = None
    loop: str = "asyncio"
    threads: int = 4
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """The command line that serves the app."""
        if self.spec.kind == "asgi":
            server = [
                sys.executable, "-m", "uvicorn", self.spec.app, "--app-dir", str(BENCH_DIR),
                "--host", "127.0.0.1", "--port", str(self.port), "--http", "httptools",
                "--loop", self.loop, "--lifespan", "off", "--no-access-log",
                "--log-level", "warning", "--backlog", "1024",
            ]  # fmt: skip
        elif wsgi_server_name() == "gunicorn":
            server = [
                sys.executable, "-m", "gunicorn", "--chdir", str(BENCH_DIR),
                "--bind", f"127.0.0.1:{self.port}", "--workers", "1",
                "--worker-class", "gthread", "--threads", str(self.threads),
                "--log-level", "warning", "--backlog", "1024", self.spec.app,
            ]  # fmt: skip
        else:
            server = [
                sys.executable,
                str(BENCH_DIR / "harness" / "wsgiref_server.py"),
                self.spec.app,
                str(self.port),
            ]
        return pin_prefix(self.cpu) + server

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> None:
        """Start the process and wait until it accepts connections."""
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process; :meth:`wait_ready` waits for it."""
        self.log_path = (
            Path(tempfile.gettempdir()) / f"hookreceiver-bench-{self.spec.name}-{self.port}.log"
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), *sys.path[1:]])}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=BENCH_DIR, env=env
            )

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the server accepts connections; raise if it died or took too long."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.spec.name} exited: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.spec.name} did not start in {timeout}s: {self.log_tail()}")

    def stop(self) -> None:
        """Stop the process (and gunicorn's worker with it)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def log_tail(self) -> str:
        """The end of the server's log, for error messages."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-2000:]

    @property
    def pid(self) -> int:
        """The process that serves requests: gunicorn's worker, or the server itself.

        ``taskset`` executes the server in its own process, so the pid is the server's.
        """
        assert self.process is not None
        pid = self.process.pid
        if self.spec.kind == "wsgi":
            children = Path(f"/proc/{pid}/task/{pid}/children")
            text = children.read_text().split() if children.exists() else []
            return int(text[0]) if text else pid
        return pid

    def request(
        self, body: bytes, headers: dict[str, str], path: str | None = None
    ) -> tuple[int, bytes]:
        """One request on a fresh connection: ``(status, body)``."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("POST", path or self.spec.path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()
