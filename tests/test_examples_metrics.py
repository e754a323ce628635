"""The example apps serve ``/metrics`` when prometheus-client is installed: started for real,
sent deliveries over HTTP, scraped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from hookreceiver.testing import faxplus, send_http  # noqa: E402
from support.servers import free_port  # noqa: E402
from test_examples import Server, commands, example_env  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(params=["starlette", "flask"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    running = Server(commands(port)[request.param], example_env(tmp_path), port)
    try:
        yield running
    finally:
        running.stop()


def counts(base_url: str) -> dict[tuple[str, ...], float]:
    response = httpx.get(base_url + "/metrics", timeout=10)
    assert response.status_code == 200
    found: dict[tuple[str, ...], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name in ("hookreceiver_deliveries_total", "hookreceiver_refusals_total"):
                found[(sample.name, *sorted(sample.labels.values()))] = sample.value
    return found


def test_the_example_serves_its_metrics(server: Server) -> None:
    assert counts(server.base_url) == {}
    fax = faxplus.fax_received(sender="127.0.0.1")
    assert send_http(fax, server.base_url).status == 200
    assert send_http(fax, server.base_url).status == 200  # the duplicate
    forged = httpx.post(
        server.base_url + "/hooks/documo", headers={"authorization": "Basic ZG9jdW1vOm5vcGU="}
    )
    assert forged.status_code == 401
    handled = ("200", "faxplus", "faxplus.fax_received", "handled")
    duplicate = ("200", "duplicate", "faxplus", "faxplus.fax_received")
    assert counts(server.base_url) == {
        ("hookreceiver_deliveries_total", *sorted(handled)): 1,
        ("hookreceiver_deliveries_total", *sorted(duplicate)): 1,
        ("hookreceiver_deliveries_total", *sorted(("401", "", "documo", "rejected"))): 1,
        ("hookreceiver_refusals_total", "auth", "documo"): 1,
    }
    # The inbox's gauges are there too (the examples keep one).
    assert "hookreceiver_inbox_records{" in httpx.get(server.base_url + "/metrics").text
