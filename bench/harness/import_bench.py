"""Section 5: the time ``import hookreceiver`` takes, against ``from pydantic import BaseModel``.

Each import runs in a fresh interpreter (bytecode already cached), timed inside the process so
interpreter start-up is not counted; the statements alternate and the minimum is reported, the
least noisy estimate of what an import costs. The time is the process's CPU time, which other
work on a shared machine hardly moves (wall time is kept in the JSON too).
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
    "faxplus": "from hookreceiver.providers import FaxPlus",
    "receiver_faxplus": (
        "from hookreceiver import Receiver; from hookreceiver.providers import FaxPlus"
    ),
    # what a web app pays before serving: the imports plus the receiver and its endpoint built
    # (the engine and asyncio load with the first Receiver(), not with the import)
    "receiver_built": (
        "from hookreceiver import Receiver; from hookreceiver.providers import FaxPlus; "
        "Receiver().endpoint('/hooks/faxplus', FaxPlus())"
    ),
}

_TIMER = (
    "import time; _c = time.process_time(); _t = time.perf_counter(); {statement}; "
    "print((time.process_time() - _c) * 1000, (time.perf_counter() - _t) * 1000)"
)


def _once(statement: str) -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, "-c", _TIMER.format(statement=statement)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    cpu, wall = done.stdout.strip().splitlines()[-1].split()
    return float(cpu), float(wall)


def run_imports(runs: int) -> dict[str, Any]:
    """Time each statement ``runs`` times, alternating; report min and median milliseconds."""
    for statement in STATEMENTS.values():
        _once(statement)  # writes bytecode caches, warms the file system cache
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in STATEMENTS}
    for _ in range(max(1, runs)):
        for name, statement in STATEMENTS.items():
            times[name].append(_once(statement))
    targets: dict[str, dict[str, Any]] = {
        name: {
            "min_ms": min(cpu for cpu, _ in values),
            "median_ms": statistics.median(cpu for cpu, _ in values),
            "min_wall_ms": min(wall for _, wall in values),
            "cpu_ms": [cpu for cpu, _ in values],
            "wall_ms": [wall for _, wall in values],
        }
        for name, values in times.items()
    }
    return {
        "runs": runs,
        "clock": "process CPU time",
        "targets": targets,
        "ratio": min(c for c, _ in times["hookreceiver"]) / min(c for c, _ in times["pydantic"]),
    }
