"""The example apps, started for real on loopback ports, take a delivery of every provider."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hookreceiver.testing import documo, faxplus, send_http, updox, wirecloud, zipwhip
from support.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def example_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DOCUMO_BASIC_AUTH": "documo:example-pass",
        "UPDOX_URL_KEYS": "updox-key-for-the-example-tests-0001",
        "WIRECLOUD_URL_KEYS": "wirecloud-key-for-the-example-tests-01",
        "HOOKRECEIVER_STORE": str(tmp_path / "dedup.db"),
        "HOOKRECEIVER_INBOX": f"sqlite:///{tmp_path / 'inbox.db'}",
        "HOOKRECEIVER_ALLOW_IPS": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }


class Server:
    """A subprocess serving an example, with its stdout collected line by line."""

    def __init__(self, command: list[str], env: dict[str, str], port: int) -> None:
        self.base_url = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(self.base_url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("example did not start:\n" + "\n".join(self.lines))
            time.sleep(0.1)

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def events(self) -> list[dict[str, Any]]:
        found = []
        for line in list(self.lines):
            if line.startswith("{"):
                record = json.loads(line)
                if "idempotency_key" in record:
                    found.append(record)
        return found

    def wait_for_events(self, count: int, timeout: float = 15) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.events()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.events()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self._reader.join(5)
        assert self.process.stdout is not None
        self.process.stdout.close()


def registration_urls(env: dict[str, str]) -> dict[str, str]:
    output = subprocess.run(
        [sys.executable, "-m", "examples.webhooks"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.rsplit(None, 1) for line in output.splitlines() if line.strip())  # type: ignore[misc]


def commands(port: int) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "starlette": [
            python,
            "-m",
            "uvicorn",
            "--no-proxy-headers",  # as its docstring says
            "examples.starlette_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        "flask": [
            python,
            "-m",
            "flask",
            "--app",
            "examples/flask_app.py",
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
    }


@pytest.fixture(params=["starlette", "flask"])
def example(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, dict]]:
    env = example_env(tmp_path)
    port = free_port()
    server = Server(commands(port)[request.param], env, port)
    try:
        yield server, env
    finally:
        server.stop()


def test_example_handles_every_provider_over_http(example: tuple[Server, dict]) -> None:
    server, env = example
    urls = {
        name.replace(" ", "."): url.replace("http://127.0.0.1:8000", server.base_url)
        for name, url in ((" ".join(k.split()[:2]), v) for k, v in registration_urls(env).items())
    }
    sent = [
        faxplus.fax_received(sender="127.0.0.1"),
        zipwhip.receive(sender="127.0.0.1", path="/hooks/zipwhip/receive"),
        documo.fax_inbound(sender="127.0.0.1", basic_auth=("documo", "example-pass"), pages=2),
        # An account event names no event in its body: the URL does.
        documo.user_create(
            sender="127.0.0.1",
            basic_auth=("documo", "example-pass"),
            path="/hooks/documo/{event}",
        ),
        updox.inbound_fax(url=urls["updox.inbound_fax"]),
        wirecloud.channel_destroy(url=urls["wirecloud.channel_destroy"]),
    ]
    statuses = []
    for delivery in sent:
        statuses.append(send_http(delivery, server.base_url).status)
    assert statuses == [200] * 6, server.lines[-20:]

    events = server.wait_for_events(6)
    assert sorted(e["event"].split(".")[0] for e in events) == sorted(
        ["faxplus", "zipwhip", "documo", "documo", "updox", "wirecloud"]
    ), server.lines[-30:]
    assert "documo.user.create" in {e["event"] for e in events}
    for record in events:
        assert set(record) == {"event", "provider", "idempotency_key", "delivery_id"}
    seen = [json.loads(line) for line in server.lines if line.startswith('{"handler"')]
    fax = next(s for s in seen if s["event"] == "documo.fax.inbound")
    assert fax["pages"] == 2 and fax["attachment"] > 0

    # A duplicate is answered as handled and runs nothing; a spoofed sender and wrong
    # credentials are refused; no secret reaches the output.
    assert send_http(sent[0], server.base_url).status == 200
    forged = httpx.post(
        server.base_url + "/hooks/documo",
        headers={"authorization": "Basic ZG9jdW1vOm5vcGU="},
    )
    assert forged.status_code == 401
    time.sleep(0.3)
    assert len(server.events()) == 6
    assert "example-pass" not in "\n".join(server.lines)

    # The signed URLs' tokens are credentials: the access log shows the path, not them.
    log = "\n".join(server.lines)
    for name in ("updox.inbound_fax", "wirecloud.channel_destroy"):
        token = urls[name].rsplit("/", 1)[1]
        assert token not in log
    assert "/hooks/updox/inbound_fax/[redacted]" in log, server.lines[-30:]
    assert "/hooks/wirecloud/channel_destroy/[redacted]" in log


SERVERS = "(?:uvicorn|gunicorn|hypercorn|granian)"


def documented_commands() -> list[str]:
    """Every command that serves an app, as the README and the examples' docstrings print it."""
    texts = [(ROOT / "README.md").read_text()]
    texts += [path.read_text() for path in sorted((ROOT / "examples").glob("*.py"))]
    found = []
    for text in texts:
        found += re.findall(rf"`({SERVERS} [^`\n]*)`", text)  # inline
        found += re.findall(rf"^ {{4,}}({SERVERS} .*)$", text, flags=re.M)  # a code block
    return found


def test_every_documented_server_command_keeps_the_servers_proxy_handling_off() -> None:
    commands = documented_commands()
    assert any(c.startswith("uvicorn ") for c in commands)
    assert any(c.startswith("gunicorn ") for c in commands)
    for command in commands:
        if command.startswith("uvicorn "):
            assert "--no-proxy-headers" in command or "--forwarded-allow-ips" in command, command
        if "uvicorn.workers.UvicornWorker" in command or "uvicorn_worker" in command:
            assert "--forwarded-allow-ips" in command, command


def _store_urls(tmp_path: Path) -> list[str]:
    urls = [f"sqlite:///{tmp_path / 'dedup-url.db'}"]
    dsn = os.environ.get("HOOKRECEIVER_POSTGRES_DSN")
    if dsn:
        table = f"ex_claims_{os.getpid()}_{time.monotonic_ns()}"
        urls.append(f"{dsn}{'&' if '?' in dsn else '?'}table={table}")
    return urls


def test_example_reads_hookreceiver_store_as_a_url(tmp_path: Path) -> None:
    """HOOKRECEIVER_STORE is a store URL, as `hookreceiver store cleanup` reads it: a
    ``sqlite:///`` URL or a PostgreSQL URL with ``?table=`` dedups deliveries (not 503s)."""
    for url in _store_urls(tmp_path):
        env = {**example_env(tmp_path), "HOOKRECEIVER_STORE": url}
        port = free_port()
        server = Server(commands(port)["starlette"], env, port)
        try:
            delivery = faxplus.fax_received(sender="127.0.0.1")
            answers = [send_http(delivery, server.base_url).status for _ in range(2)]
            assert answers == [200, 200], (url, answers, server.lines[-5:])
            assert len(server.wait_for_events(1)) == 1, (url, server.lines[-5:])
        finally:
            server.stop()
    assert not (ROOT / "sqlite:").exists()
