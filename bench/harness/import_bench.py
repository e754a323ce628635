"""Section 5: the time ``import hookreceiver`` takes, against ``from pydantic import BaseModel``.

Each import runs in a fresh interpreter (bytecode already cached), timed inside the process so
interpreter start-up is not counted; the two statements alternate and the minimum is reported,
the least noisy estimate of what an import costs.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from typing import Any

__all__ = ["STATEMENTS", "run_imports"]

STATEMENTS = {
    "hookreceiver": "import hookreceiver",
    "pydantic": "from pydantic import BaseModel",
}

_TIMER = (
    "import time; _t = time.perf_counter(); {statement}; print((time.perf_counter() - _t) * 1000)"
)


def _once(statement: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _TIMER.format(statement=statement)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return float(done.stdout.strip().splitlines()[-1])


def run_imports(runs: int) -> dict[str, Any]:
    """Time each statement ``runs`` times, alternating; report min and median milliseconds."""
    for statement in STATEMENTS.values():
        _once(statement)  # writes bytecode caches, warms the file system cache
    times: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    for _ in range(max(1, runs)):
        for name, statement in STATEMENTS.items():
            times[name].append(_once(statement))
    return {
        "runs": runs,
        "targets": {
            name: {"min_ms": min(values), "median_ms": statistics.median(values), "all_ms": values}
            for name, values in times.items()
        },
        "ratio": min(times["hookreceiver"]) / min(times["pydantic"]),
    }
