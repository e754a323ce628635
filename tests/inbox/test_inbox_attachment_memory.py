"""A fax in inbox mode costs the server about as little memory as in sync mode, at any size:
its bytes go from the request's spooled file to the inbox and back to the handler a chunk at a
time (a 20 MiB one used to cost about 150 MiB: three copies on the way in, more on the way out).

Measured from outside, as the benchmark does: uvicorn serving the benchmark's inbox app, a
real Documo delivery posted to it, the server's peak RSS until its handler has read the file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GROWTH = ROOT / "bench" / "harness" / "growth.py"
BOUND_MIB = 12.0

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc")
def test_a_20_mib_fax_in_inbox_mode_keeps_rss_flat(tmp_path: Path) -> None:
    modes = "sqlite,postgres" if os.environ.get("HOOKRECEIVER_POSTGRES_DSN") else "sqlite"
    out = tmp_path / "growth.json"
    command = [sys.executable, str(GROWTH), "--stores", "", "--inboxes", "", "--rows", "1000"]
    command += ["--attachments", "20", "--modes", modes, "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(out.read_text())["attachments"]
    assert len(found) == len(modes.split(","))
    for mode, sizes in found.items():
        growth = sizes["20"]["rss_growth_mib"]
        assert growth < BOUND_MIB, f"{mode}: {growth:.1f} MiB for a 20 MiB fax"
