"""The benchmark suite's smoke run: every section still runs end to end, in a few seconds.

Not a timed test: no number is compared with a goal here. It checks that each target serves the
benchmark's deliveries (every answer a 2xx, the receiver deduplicating), that every section
reports, and that the JSON and markdown results are written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "bench" / "run.py"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench")
    stores = ["memory", "sqlite"]
    if os.environ.get("HOOKRECEIVER_REDIS_URL"):
        stores.append("redis")
    if os.environ.get("HOOKRECEIVER_POSTGRES_DSN"):
        stores.append("postgres")
    done = subprocess.run(
        [
            sys.executable,
            str(RUNNER),
            "--smoke",
            "--processes",
            "2",  # each HTTP target served by two server processes in turn
            "--out",
            str(out),
            "--stores",
            ",".join(stores),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "latest.json").read_text())
    assert (out / "latest.md").read_text() == done.stdout.rstrip("\n") + "\n"
    return results, done.stdout


def test_every_section_reports(smoke: tuple[dict, str]) -> None:
    results, table = smoke
    assert {"asgi", "wsgi", "multipart", "stores", "imports", "machine", "goals"} <= set(results)
    assert results["config"]["smoke"] is True
    for heading in ("## 1. ASGI", "## 2. WSGI", "## 3. Multipart", "## 4. Stores", "## 5. Import"):
        assert heading in table


@pytest.mark.parametrize(
    ("section", "targets"),
    [
        ("asgi", {"hookreceiver", "starlette", "fastapi", "raw_asgi"}),
        ("wsgi", {"hookreceiver_flask", "hookreceiver_flask_sync", "flask"}),
    ],
)
def test_http_targets_served_every_request(
    smoke: tuple[dict, str], section: str, targets: set[str]
) -> None:
    results = smoke[0][section]
    assert set(results["targets"]) == targets
    for name, row in results["targets"].items():
        assert row["errors"] == 0, name
        assert all(run["requests"] > 0 for run in row["runs"]), name
        assert [run["process"] for run in row["runs"]] == [0, 1], name  # a round on each
        assert row["rps"] > 0 and row["p99_ms"] >= row["p50_ms"] > 0, name


def test_receivers_deduplicate_under_the_benchmark(smoke: tuple[dict, str]) -> None:
    results = smoke[0]
    receivers = [("asgi", "hookreceiver"), ("wsgi", "hookreceiver_flask")]
    receivers.append(("wsgi", "hookreceiver_flask_sync"))
    for section, name in receivers:
        check = results[section]["checks"][name]
        assert check == {"first": {"status": "handled"}, "repeat": {"status": "duplicate"}}


def test_multipart_measures_memory_and_speed(smoke: tuple[dict, str]) -> None:
    targets = smoke[0]["multipart"]["targets"]
    assert set(targets) == {"hookreceiver_documo", "starlette_form"}
    for row in targets.values():
        assert row["mb_per_s"] > 0
        assert row["peak_rss_growth_mib"] >= 0


def test_stores_compare_with_raw_commands(smoke: tuple[dict, str]) -> None:
    backends = smoke[0]["stores"]["backends"]
    expected = {"memory", "sqlite"}
    expected |= {"redis"} if os.environ.get("HOOKRECEIVER_REDIS_URL") else set()
    expected |= {"postgres"} if os.environ.get("HOOKRECEIVER_POSTGRES_DSN") else set()
    assert set(backends) == expected
    for name, row in backends.items():
        assert "skipped" not in row, row
        assert row["cost_ratio"] > 0, name
        assert row["hookreceiver"]["pairs_per_s"] > 0 and row["raw"]["pairs_per_s"] > 0


def test_goals_cover_every_target_of_the_issue(smoke: tuple[dict, str]) -> None:
    names = [goal["name"] for goal in smoke[0]["goals"]]
    assert "ASGI req/s vs starlette" in names and "ASGI req/s vs fastapi" in names
    assert "WSGI req/s vs Flask (async handler)" in names
    assert "WSGI req/s vs Flask (sync handler)" in names
    assert "import time vs pydantic BaseModel" in names
    assert "import of a provider vs pydantic BaseModel" in names
    assert any("peak RSS growth" in n for n in names) and any("MB/s" in n for n in names)
    assert all(goal["measured"] is not None for goal in smoke[0]["goals"])


def test_readme_shows_the_targets_of_the_latest_full_run() -> None:
    readme = (ROOT / "README.md").read_text()
    results = (ROOT / "bench" / "RESULTS.md").read_text()
    shown = readme.split("<!-- results:start -->\n", 1)[1].split("<!-- results:end -->", 1)[0]
    when = results.split("\n")[2]  # "<date> UTC, full run. Machine: ..."
    assert "full run" in when and "Machine:" in when
    assert shown.startswith(f"Latest run: {when}\n")
    targets = results[results.index("## Targets") :].split("\n", 2)[2]
    targets = targets.split("\n## ", 1)[0].strip()  # up to the next section
    assert targets in shown and "| ASGI req/s vs starlette |" in targets


INSTRUCTIONS = ROOT / "bench" / "harness" / "instructions.py"


@pytest.mark.parametrize(
    "target", ["raw_app", "starlette_app", "hookreceiver_asgi_app", "hookreceiver_recorded_app"]
)
def test_instruction_driver_answers_every_request_200(target: str) -> None:
    # What callgrind counts, run without valgrind: the driver exits non-zero on any non-200.
    done = subprocess.run(
        [sys.executable, str(INSTRUCTIONS), "--drive", target, "50"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_instruction_gate_flags_a_regression_over_the_tolerance() -> None:
    sys.path.insert(0, str(INSTRUCTIONS.parent.parent))
    try:
        from harness.instructions import check
    finally:
        sys.path.remove(str(INSTRUCTIONS.parent.parent))
    baseline = {"hookreceiver_app": 200_000.0, "hookreceiver_asgi_app": 190_000.0}
    assert check({"hookreceiver_app": 219_000.0}, baseline, 0.10) == []
    measured = {"hookreceiver_app": 221_000.0, "hookreceiver_asgi_app": 100.0}
    failures = check(measured, baseline, 0.10)
    assert len(failures) == 1 and failures[0].startswith("hookreceiver_app: 221,000")


def test_pyprofile_names_each_trampoline_and_counts_it_inclusively(tmp_path: Path) -> None:
    """The per-function profile's own steps on a small made-up run: trampolines renamed from
    perf's map (an address outside every entry left as it is), inclusive counts read back
    through valgrind's callgrind_annotate."""
    sys.path.insert(0, str(INSTRUCTIONS.parent.parent))
    try:
        from harness import pyprofile
    finally:
        sys.path.remove(str(INSTRUCTIONS.parent.parent))
    perf_map = tmp_path / "perf-1.map"
    perf_map.write_text("1000 b py::outer:/x/app.py\n2000 b py::inner:/x/app.py\n")
    out = tmp_path / "callgrind.out"
    out.write_text(
        "version: 1\ncreator: test\npid: 1\ncmd: python\npart: 1\n\n"
        "positions: line\nevents: Ir\n\n"
        "ob=(1) ???\nfl=(1) ???\n"
        "fn=(1) 0x0000000000001004\n0 10\n"
        "cfn=(2) 0x0000000000002000\ncalls=3 0\n0 90\n\n"
        "fn=(2)\n0 90\n\n"
        "fn=(3) 0x0000000000009000\n0 5\n\n"
        "totals: 105\n"
    )
    named = pyprofile._rename(out, perf_map)
    text = named.read_text()
    assert "fn=(1) PY outer:/x/app.py" in text and "cfn=(2) PY inner:/x/app.py" in text
    assert "fn=(3) 0x0000000000009000" in text  # no trampoline there: left alone
    if shutil.which("callgrind_annotate") is None:
        if os.environ.get("CI"):
            pytest.fail("callgrind_annotate (valgrind) is missing on CI")
        pytest.skip("callgrind_annotate (valgrind) is not installed")
    counts = pyprofile._inclusive(named)
    assert counts == {"outer:/x/app.py": 100, "inner:/x/app.py": 90}
