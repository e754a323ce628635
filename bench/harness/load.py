"""Load generators: wrk (the real one) and a small Python loop (smoke runs, no wrk installed).

Both send the Fax.Plus example with a unique hook id per request and report requests per
second, p50 and p99 latency, and how many answers were not 2xx.
"""

from __future__ import annotations

import http.client
import re
import shutil
import statistics
import subprocess
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from apps.payloads import faxplus_body

from .servers import BENCH_DIR, pin_prefix

__all__ = ["LoadResult", "percentile", "python_load", "wrk_available", "wrk_load"]

LUA_SCRIPT = BENCH_DIR / "apps" / "faxplus.lua"
JSON_HEADERS = {"content-type": "application/json"}


@dataclass(frozen=True)
class LoadResult:
    """One timed run against one target."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int

    def as_dict(self) -> dict[str, Any]:
        """For the JSON report."""
        return asdict(self)


def percentile(samples: list[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``samples`` (nearest rank)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def wrk_available() -> bool:
    """Whether the ``wrk`` binary is on ``PATH``."""
    return shutil.which("wrk") is not None


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency(output: str, label: str) -> float:
    match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no {label}% latency:\n{output}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> LoadResult:
    """Read requests/s, p50, p99 and the error counts from wrk's ``--latency`` output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    if rps is None or total is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if sockets is not None:
        # A read error is the server closing an idle keep-alive connection; count the rest.
        errors += int(sockets.group(1)) + int(sockets.group(3)) + int(sockets.group(4))
    return LoadResult(
        rps=float(rps.group(1)),
        p50_ms=_latency(output, "50"),
        p99_ms=_latency(output, "99"),
        requests=int(total.group(1)),
        errors=errors,
    )


def wrk_load(
    port: int, path: str, duration: float, *, connections: int, cpu: int | None
) -> LoadResult:
    """Run wrk (one thread, pinned to ``cpu``) for ``duration`` seconds."""
    command = [
        *pin_prefix(cpu), "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s",
        "--latency", "-s", str(LUA_SCRIPT), f"http://127.0.0.1:{port}{path}",
        "--", uuid.uuid4().hex[:12],
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


def python_load(port: int, path: str, duration: float, *, connections: int) -> LoadResult:
    """A keep-alive request loop in threads: slower than wrk, but needs nothing installed."""
    prefix = uuid.uuid4().hex[:12]
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    deadline = time.perf_counter() + duration

    def worker(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        count = 0
        try:
            while time.perf_counter() < deadline:
                count += 1
                body = faxplus_body(f"{prefix}-{slot}-{count}")
                started = time.perf_counter()
                conn.request("POST", path, body=body, headers=JSON_HEADERS)
                response = conn.getresponse()
                response.read()
                latencies[slot].append((time.perf_counter() - started) * 1000)
                if not 200 <= response.status < 300:
                    errors[slot] += 1
        finally:
            conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    merged = [value for per_thread in latencies for value in per_thread]
    return LoadResult(
        rps=len(merged) / elapsed,
        p50_ms=statistics.median(merged) if merged else float("nan"),
        p99_ms=percentile(merged, 0.99),
        requests=len(merged),
        errors=sum(errors),
    )
