"""Instructions per request, counted by valgrind's callgrind: deterministic on a shared machine.

Seconds on a shared 2-core machine move by 10-20 % from run to run; the number of instructions a
process executes for the same inputs does not. Each target is driven in process (no server, no
socket): a fresh ASGI scope per request, the same Fax.Plus body with a unique hook id, on the
asyncio loop. The interpreter's start-up and the imports are taken out by difference: each target
runs twice under callgrind, with ``short`` and with ``long`` measured requests after the same
warm-up, and

    instructions per request = (I(long) - I(short)) / (long - short)

``PYTHONHASHSEED`` is fixed so that both runs (and every later run) hash alike.

    python bench/harness/instructions.py                       # every target, a table
    python bench/harness/instructions.py --targets hookreceiver_app,starlette_app
    python bench/harness/instructions.py --check bench/instructions_baseline.json
    python bench/harness/instructions.py --write-baseline bench/instructions_baseline.json

``--check`` fails (exit 1) when a hookreceiver target costs more than ``--tolerance`` (10 %) above
its committed baseline: the CI gate of the hot path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["TARGETS", "callgrind_total", "count_instructions", "instructions_per_request"]

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO = BENCH_DIR.parent

#: Target name -> attribute of ``apps.asgi_apps`` (the same apps the HTTP section serves), or
#: ``module:attribute`` of another module of ``apps``.
TARGETS = {
    "raw_app": "raw_app",
    "starlette_app": "starlette_app",
    "fastapi_app": "fastapi_app",
    "hookreceiver_app": "hookreceiver_app",
    "hookreceiver_asgi_app": "hookreceiver_asgi_app",
    "hookreceiver_in_starlette_app": "hookreceiver_in_starlette_app",
    "hookreceiver_recorded_app": "hookreceiver_recorded_app",
    "hookreceiver_recorded_queue_app": "hookreceiver_recorded_queue_app",
    "hookreceiver_inbox_sync_app": "hookreceiver_inbox_sync_app",
}
#: Observability's cost (needs ``hookreceiver[prometheus,otel]`` and the OpenTelemetry SDK):
#: the receiver's own ASGI app as ``hookreceiver_asgi_app``, with ``enable_metrics()``; with
#: ``enable_tracing()`` too (SDK, batch processor, an exporter that drops the spans), every
#: delivery traced; with the delivery's span only; with a sampler that drops every delivery
#: (``ParentBased(ALWAYS_OFF)``: the nine in ten a 10 % sampler drops); tracing without metrics.
#: Run them with ``--targets observability``; they are not gated.
OBSERVABILITY = {
    "hookreceiver_asgi_off": "observed:bare_off",
    "hookreceiver_asgi_metrics": "observed:bare_metrics",
    "hookreceiver_asgi_traced": "observed:bare_on",
    "hookreceiver_asgi_traced_handler_spans": "observed:bare_handler_spans",
    "hookreceiver_asgi_traced_delivery_span": "observed:bare_delivery_span",
    "hookreceiver_asgi_traced_sampled_out": "observed:bare_sampled_out",
    "hookreceiver_asgi_traced_only": "observed:bare_traced_only",
}
#: What a run without ``--targets`` counts.
DEFAULT = tuple(TARGETS)
TARGETS.update(OBSERVABILITY)
#: The targets whose cost the CI gate watches.
GATED = ("hookreceiver_app", "hookreceiver_asgi_app")
WARMUP = 300
SHORT = 200
LONG = 1200

_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


# The driver: runs inside valgrind ------------------------------------------------------------


def _load(target: str) -> Callable[..., Any]:
    import importlib

    sys.path.insert(0, str(BENCH_DIR))
    module, _, name = TARGETS[target].rpartition(":")
    found = importlib.import_module(f"apps.{module or 'asgi_apps'}")
    app: Callable[..., Any] = getattr(found, name)
    return app


async def _drive(app: Callable[..., Any], start: int, count: int) -> None:
    from apps.payloads import faxplus_body

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for number in range(start, start + count):
        body = faxplus_body(f"{number:032x}")
        sent = False

        async def receive(body: bytes = body) -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/hooks/faxplus",
            "raw_path": b"/hooks/faxplus",
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"127.0.0.1:8000"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
        }
        await app(scope, receive, send)
    if any(status != 200 for status in statuses):
        raise SystemExit(f"a request was not answered 200: {sorted(set(statuses))}")


def drive(target: str, count: int) -> None:
    """Warm up, then answer ``count`` requests: what callgrind counts."""
    app = _load(target)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(_drive(app, 0, WARMUP))
    loop.run_until_complete(_drive(app, WARMUP, count))
    loop.close()


# The measurement -----------------------------------------------------------------------------


def count_instructions(target: str, count: int) -> int:
    """Total instructions of one driver process under callgrind."""
    return callgrind_total(Path(__file__).resolve(), ["--drive", target, str(count)])


def callgrind_total(script: Path, args: Sequence[str]) -> int:
    """Total instructions of ``python script *args`` under callgrind (the same environment
    for every measurement: a fixed hash seed, no bytecode written, ``bench/`` importable)."""
    if shutil.which("valgrind") is None:
        raise RuntimeError("valgrind is not installed (apt-get install -y valgrind)")
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH_DIR), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            str(script),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        cwd=REPO,
    )
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(
            f"callgrind run of {script.name} {' '.join(args)} failed:\n{done.stderr[-3000:]}"
        )
    return int(found.group(1))


def instructions_per_request(target: str, short: int = SHORT, long: int = LONG) -> float:
    """Instructions per request of ``target``, start-up and imports taken out by difference."""
    return (count_instructions(target, long) - count_instructions(target, short)) / (long - short)


def measure(targets: Sequence[str]) -> dict[str, float]:
    """Instructions per request of each target."""
    return {target: instructions_per_request(target) for target in targets}


def table(results: dict[str, float]) -> str:
    """A markdown table with ratios against the bare Starlette route where it was measured."""
    off = results.get("hookreceiver_asgi_off")
    if off:  # observability's targets: each against the same receiver with neither
        lines = ["| target | instructions/request | over off | ÷ off |", "|---|---:|---:|---:|"]
        for target, value in results.items():
            lines.append(f"| {target} | {value:,.0f} | {value - off:+,.0f} | {off / value:.3f}× |")
        return "\n".join(lines)
    lines = ["| target | instructions/request | vs bare Starlette |", "|---|---:|---:|"]
    anchor = results.get("starlette_app")
    for target, value in results.items():
        ratio = f"{anchor / value:.2f}×" if anchor else ""
        lines.append(f"| {target} | {value:,.0f} | {ratio} |")
    return "\n".join(lines)


def check(results: dict[str, float], baseline: dict[str, float], tolerance: float) -> list[str]:
    """The gated targets that cost more than ``tolerance`` above their baseline."""
    failures = []
    for target in GATED:
        if target in results and target in baseline:
            limit = baseline[target] * (1 + tolerance)
            if results[target] > limit:
                failures.append(
                    f"{target}: {results[target]:,.0f} instructions/request, over "
                    f"{limit:,.0f} (baseline {baseline[target]:,.0f} + {tolerance:.0%})"
                )
    return failures


def main(argv: list[str] | None = None) -> int:
    """Measure, print, and optionally check against or write a baseline."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--drive", nargs=2, metavar=("TARGET", "COUNT"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--targets", help=f"comma-separated of {', '.join(TARGETS)}; or observability"
    )
    parser.add_argument("--check", type=Path, help="fail if a gated target regressed")
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--write-baseline", type=Path)
    args = parser.parse_args(argv)
    if args.drive:
        drive(args.drive[0], int(args.drive[1]))
        return 0
    targets = args.targets.split(",") if args.targets else list(DEFAULT)
    if targets == ["observability"]:
        targets = list(OBSERVABILITY)
    if args.check and not args.targets:
        targets = list(GATED)
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    results = measure(targets)
    print(table(results))
    if args.write_baseline:
        args.write_baseline.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    if args.check:
        failures = check(results, json.loads(args.check.read_text()), args.tolerance)
        for failure in failures:
            print(f"REGRESSION {failure}", file=sys.stderr)
        if failures:
            return 1
        print(f"instructions per request within {args.tolerance:.0%} of {args.check}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
