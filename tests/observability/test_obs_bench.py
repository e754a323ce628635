"""bench/observability_bench.py's smoke run: its fourteen targets serve the benchmark's deliveries
(each answers 2xx and deduplicates a repeat) and the table reports each ratio. No number is
compared with a goal here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client")
pytest.importorskip("opentelemetry.sdk")

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_the_observability_bench_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "observability_bench.py"), "--smoke"]
        + ["--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "observability.json").read_text())
    for kind in ("asgi", "wsgi"):
        run = results[kind]
        modes = ("off", "metrics", "on", "handler_spans", "delivery_span", "sampled", "sampled_1")
        assert set(run["targets"]) == {f"{kind}_{mode}" for mode in modes}
        for name, target in run["targets"].items():
            assert target["errors"] == 0 and target["rps"] > 0, name
            assert target["ratio_rps"] > 0
        for name, seen in run["checks"].items():
            assert seen["repeat"] == {"status": "duplicate"}, name
    assert done.stdout.count("| ASGI |") == 7 and done.stdout.count("| WSGI |") == 7
