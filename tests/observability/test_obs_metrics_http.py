"""``/metrics`` scraped over HTTP from real servers after a known mix of deliveries: the exact
counter values, under ASGI and WSGI, in one process and in two worker processes (gunicorn,
prometheus-client's multiprocess mode)."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from support.payloads import faxplus_payload  # noqa: E402
from support.servers import free_port, serve_asgi, serve_wsgi  # noqa: E402

pytestmark = pytest.mark.slow
TESTS = Path(__file__).resolve().parent.parent
EVENT = "faxplus.fax_received"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(base_url: str) -> Samples:
    response = httpx.get(base_url + "/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def matching(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def post(base_url: str, path: str, payload: object, **headers: str) -> int:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    response = httpx.post(
        base_url + path,
        content=body,
        headers={"content-type": "application/json", **headers},
        timeout=10,
    )
    return response.status_code


def send_mix(base_url: str) -> None:
    """handled, duplicate, refused by IP, refused by auth, invalid, handler failed, and two
    inbox deliveries: one retried then handled, one dead after its last attempt."""
    handled = faxplus_payload(hook_id="ok-1")
    assert post(base_url, "/hooks/faxplus", handled) == 200
    assert post(base_url, "/hooks/faxplus", handled) == 200  # duplicate
    assert post(base_url, "/hooks/faxplus-locked", faxplus_payload()) == 403
    wrong = base64.b64encode(b"documo:not-the-password").decode()
    assert post(base_url, "/hooks/documo", b"{}", authorization=f"Basic {wrong}") == 401
    assert post(base_url, "/hooks/faxplus", faxplus_payload(pages="many")) == 400
    assert post(base_url, "/hooks/faxplus", faxplus_payload(hook_id="boom-1")) == 500
    for hook_id in ("retry-1", "dead-1"):
        assert post(base_url, "/hooks/faxplus-inbox", faxplus_payload(hook_id=hook_id)) == 200


def _attempts(samples: Samples, outcome: str) -> float:
    return sum(
        v
        for labels, v in matching(samples, "hookreceiver_inbox_attempts_total").items()
        if dict(labels)["outcome"] == outcome
    )


def wait_for_inbox(base_url: str, timeout: float = 30.0) -> Samples:
    """Scrape until the inbox worker has finished both stored deliveries.

    The record turns dead in the store before the worker counts that last attempt
    (and under two workers, the other process may count it): wait for the counters
    too, not only the records.
    """
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(base_url)
        settled = (
            value(samples, "hookreceiver_inbox_records", state="dead") == 1
            and _attempts(samples, "handled") == 1
            and _attempts(samples, "handler_failed") == 3
        )
        if settled or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)


def check_mix(samples: Samples, more_handled: int = 0) -> None:
    deliveries = matching(samples, "hookreceiver_deliveries_total")
    expected = {
        ("faxplus", EVENT, "handled", "200"): 1 + more_handled,
        ("faxplus", EVENT, "duplicate", "200"): 1,
        ("faxplus", "", "rejected", "403"): 1,
        ("documo", "", "rejected", "401"): 1,
        ("faxplus", EVENT, "invalid_payload", "400"): 1,
        ("faxplus", EVENT, "handler_failed", "500"): 1,
        ("faxplus", EVENT, "accepted", "200"): 2,
    }
    found = {
        (d["provider"], d["event"], d["outcome"], d["status"]): v
        for d, v in ((dict(labels), v) for labels, v in deliveries.items())
    }
    assert found == expected
    refused = matching(samples, "hookreceiver_refusals_total")
    refusals = {(dict(k)["provider"], dict(k)["reason"]): v for k, v in refused.items()}
    assert refusals == {("faxplus", "ip"): 1, ("documo", "auth"): 1}
    attempts = {
        dict(k)["outcome"]: v
        for k, v in matching(samples, "hookreceiver_inbox_attempts_total").items()
    }
    # retry-1: failed, then handled; dead-1: failed twice, its last attempt.
    assert attempts == {"handler_failed": 3, "handled": 1}
    records = matching(samples, "hookreceiver_inbox_records")
    states = {dict(k)["state"]: v for k, v in records.items()}
    # The invalid payload was verified: the receiver keeps it in quarantine (and answers 400).
    assert states == {"pending": 0, "retrying": 0, "processing": 0, "dead": 1, "quarantined": 1}
    assert value(samples, "hookreceiver_inbox_oldest_pending_seconds") == 0
    assert value(samples, "hookreceiver_inbox_up") == 1
    handler_counts = {
        dict(k)["outcome"]: v
        for k, v in matching(samples, "hookreceiver_handler_duration_seconds_count").items()
    }
    # ok-1 and retry-1's second attempt succeeded; boom-1, retry-1's first and dead-1's two failed.
    assert handler_counts == {"ok": 2 + more_handled, "error": 4}
    durations = {
        (dict(k)["provider"], dict(k)["outcome"]): v
        for k, v in matching(samples, "hookreceiver_delivery_duration_seconds_count").items()
    }
    assert durations[("faxplus", "handled")] == 1 + more_handled
    assert durations[("faxplus", "accepted")] == 2
    assert sum(durations.values()) == 8 + more_handled
    assert matching(samples, "hookreceiver_store_errors_total") == {}
    # Bounded labels: no delivery id, hook id or token anywhere in a label value.
    for _, labels in samples:
        for _, label in labels:
            assert not re.search(r"ok-1|boom|retry-1|dead-1|not-the-password", label)


def test_asgi_metrics_after_a_known_mix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKRECEIVER_OBS_DIR", str(tmp_path))
    from support.obs_apps import asgi_app

    with serve_asgi(asgi_app()) as base_url:
        send_mix(base_url)
        check_mix(wait_for_inbox(base_url))


def test_wsgi_metrics_after_a_known_mix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKRECEIVER_OBS_DIR", str(tmp_path))
    from support.obs_apps import wsgi_app

    with serve_wsgi(wsgi_app()) as base_url:
        send_mix(base_url)
        check_mix(wait_for_inbox(base_url))


@contextmanager
def two_workers(server: str, app: str, tmp_path: Path, *options: str) -> Iterator[tuple[str, Path]]:
    """``app`` under gunicorn or uvicorn with 2 worker processes and PROMETHEUS_MULTIPROC_DIR
    set."""
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        "HOOKRECEIVER_OBS_DIR": str(tmp_path),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
    }
    if server == "gunicorn":
        command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
        command += ["--workers", "2", "--log-level", "warning", *options, app]
    else:  # uvicorn's own process manager: an app factory, 2 workers
        command = [sys.executable, "-m", "uvicorn", "--factory", app, "--port", str(port)]
        command += ["--workers", "2", "--log-level", "warning", *options]
    process = subprocess.Popen(command, cwd=TESTS, env=env)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 40
        while True:
            try:
                if httpx.get(base_url + "/metrics", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.1)
        yield base_url, multiproc
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _pids(multiproc: Path) -> set[str]:
    return {m.group(1) for f in multiproc.iterdir() if (m := re.search(r"_(\d+)\.db$", f.name))}


def until_both_processes_counted(base_url: str, multiproc: Path) -> int:
    """Send handled deliveries, ten at a time on parallel connections, until both worker
    processes have counted some; how many were sent."""
    sent = 0
    deadline = time.monotonic() + 30
    with ThreadPoolExecutor(10) as pool:
        while len(_pids(multiproc)) < 2 and time.monotonic() < deadline:
            ids = [f"spread-{sent + n}" for n in range(10)]
            paths = ["/hooks/faxplus"] * 10
            payloads = [faxplus_payload(hook_id=i) for i in ids]
            assert list(pool.map(post, [base_url] * 10, paths, payloads)) == [200] * 10
            sent += 10
    return sent


@pytest.mark.parametrize(
    ("server", "app", "options"),
    [
        ("gunicorn", "support.obs_apps:asgi_app()", ("-k", "uvicorn.workers.UvicornWorker")),
        ("gunicorn", "support.obs_apps:wsgi_app()", ("-k", "gthread", "--threads", "4")),
        ("uvicorn", "support.obs_apps:asgi_app", ()),
    ],
    ids=["gunicorn-uvicorn-workers", "gunicorn-wsgi-gthread", "uvicorn-workers"],
)
def test_two_worker_processes_share_their_counts(
    tmp_path: Path, server: str, app: str, options: tuple[str, ...]
) -> None:
    with two_workers(server, app, tmp_path, *options) as (base_url, multiproc):
        send_mix(base_url)
        more = until_both_processes_counted(base_url, multiproc)
        assert len(_pids(multiproc)) == 2, sorted(p.name for p in multiproc.iterdir())
        samples = wait_for_inbox(base_url)
        check_mix(samples, more_handled=more)
        for _ in range(4):  # whichever process answers, it sums both
            assert _counters(scrape(base_url)) == _counters(samples)


def _counters(samples: Samples) -> Samples:
    names = (
        "hookreceiver_deliveries_total",
        "hookreceiver_refusals_total",
        "hookreceiver_inbox_attempts_total",
        "hookreceiver_inbox_records",
    )
    return {k: v for k, v in samples.items() if k[0] in names}
