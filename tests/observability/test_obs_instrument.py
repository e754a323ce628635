"""The Starlette example under ``opentelemetry-instrument`` (the OTel distro's auto-configuration,
console exporter): unchanged, it traces each delivery and still serves ``/metrics``."""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from pathlib import Path

import httpx
import pytest

from hookreceiver.testing import faxplus, send_http
from support.servers import free_port
from test_examples import Server, example_env

pytestmark = pytest.mark.slow


def _spans(lines: list[str]) -> list[dict]:
    """The console exporter's spans: pretty-printed JSON objects in the output."""
    spans, block = [], []
    for line in lines:
        if line == "{":
            block = [line]
        elif block:
            block.append(line)
            if line == "}":
                try:
                    spans.append(json.loads("\n".join(block)))
                except json.JSONDecodeError:
                    pass
                block = []
    return spans


def test_the_example_runs_under_opentelemetry_instrument(tmp_path: Path) -> None:
    pytest.importorskip("opentelemetry.distro")
    pytest.importorskip("prometheus_client")
    instrument = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    if instrument is None:
        pytest.skip("opentelemetry-instrument is not installed (opentelemetry-distro)")
    port = free_port()
    env = {
        **example_env(tmp_path),
        "OTEL_SERVICE_NAME": "hookreceiver-example",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    command = [instrument, sys.executable, "-m", "uvicorn", "--no-proxy-headers"]
    command += ["examples.starlette_app:app", "--host", "127.0.0.1", "--port", str(port)]
    server = Server(command, env, port)
    try:
        fax = faxplus.fax_received(sender="127.0.0.1")
        assert send_http(fax, server.base_url).status == 200
        assert send_http(fax, server.base_url).status == 200
        scraped = httpx.get(server.base_url + "/metrics", timeout=10).text
        for outcome in ("handled", "duplicate"):
            counted = rf'hookreceiver_deliveries_total{{[^}}]*outcome="{outcome}"[^}}]*}} 1.0'
            assert re.search(counted, scraped), outcome
        # The batch processor exports every 200 ms: wait for both deliveries' spans rather
        # than count on the exporter's flush at shutdown (a slow machine may not leave it time).
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            spans = _spans(list(server.lines))
            if sum(s.get("name") == "hookreceiver.delivery" for s in spans) >= 2:
                break
            time.sleep(0.1)
    finally:
        server.stop()  # the distro's processor exports what is left on shutdown
    ours = [s for s in _spans(server.lines) if s.get("name") == "hookreceiver.delivery"]
    assert [s["attributes"]["hookreceiver.outcome"] for s in ours] == ["handled", "duplicate"]
    assert {s["resource"]["attributes"]["service.name"] for s in ours} == {"hookreceiver-example"}
    assert all(s["attributes"]["hookreceiver.event"] == "faxplus.fax_received" for s in ours)
    names = {s.get("name") for s in _spans(server.lines)}
    assert {"hookreceiver.handler", "hookreceiver.store.claim", "hookreceiver.parse"} <= names
