"""The demo's server: the app under uvicorn in a subprocess on loopback, its stdout (the
handlers' JSON lines) and its log (which must hold no token) read by threads."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .plan import DemoError

__all__ = ["drain", "free_port", "serve"]


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pump(stream: Any, into: queue.Queue[str]) -> None:
    for line in iter(stream.readline, ""):
        into.put(line.rstrip("\n"))
    stream.close()


@contextmanager
def serve(
    spec: str, port: int, env: dict[str, str]
) -> Iterator[tuple[queue.Queue[str], list[str]]]:
    """Run ``spec`` under uvicorn on ``127.0.0.1:port``; yield its stdout lines and its log.

    Raises:
        DemoError: the server exited or did not listen within 15 seconds.
    """
    command = [sys.executable, "-m", "uvicorn", "--no-proxy-headers", spec]
    command += ["--host", "127.0.0.1", "--port", str(port), "--app-dir", os.getcwd()]
    command += ["--log-level", "info"]  # the access log too: it must show no token
    process = subprocess.Popen(
        command,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    log: queue.Queue[str] = queue.Queue()
    threads = [
        threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True),
        threading.Thread(target=_pump, args=(process.stderr, log), daemon=True),
    ]
    for thread in threads:
        thread.start()
    logged: list[str] = []
    try:
        _wait_listening(process, port, log, logged)
        yield lines, logged
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        for thread in threads:
            thread.join(5)
        drain(log, logged)


def drain(source: queue.Queue[str], into: list[str]) -> None:
    """Move every line waiting in ``source`` to ``into``."""
    while True:
        try:
            into.append(source.get_nowait())
        except queue.Empty:
            return


def _wait_listening(
    process: subprocess.Popen[str], port: int, log: queue.Queue[str], logged: list[str]
) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            time.sleep(0.2)
            drain(log, logged)
            tail = "\n".join(logged[-15:])
            raise DemoError(f"the app exited with status {process.returncode}:\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise DemoError("the app did not start listening within 15 seconds")


def wait_for_interrupt(lines: queue.Queue[str]) -> None:
    """Until Ctrl-C (or SIGTERM), print what the app prints (handlers run by console
    replays); the server is stopped on the way out either way."""

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        while True:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                continue
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
