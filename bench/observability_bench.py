"""Observability's cost: the same Fax.Plus deliveries with metrics and tracing on and off, ASGI
and WSGI, in the same run (servers up together, rounds interleaved, medians).

    python bench/observability_bench.py                # wrk if installed, else a Python loop
    python bench/observability_bench.py --rounds 3 --duration 3
    python bench/observability_bench.py --smoke        # seconds; checks that it still works

"On": ``hooks.enable_metrics()`` and ``hooks.enable_tracing()`` with the OpenTelemetry SDK, a
batch span processor and an exporter that drops the spans (what is measured is making them).
"Off": the receiver as the main suite measures it; with neither extra installed the code path is
the same (one ``None`` test per delivery: see ``bench/harness/instructions.py``). The goal: the
"on" targets keep at least 90 % of the "off" targets' requests per second.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.config import Config
from harness.http_bench import run_http
from harness.load import wrk_available
from harness.servers import BENCH_DIR, ServerSpec

MODES = ("off", "metrics", "on", "handler_spans", "delivery_span", "sampled", "sampled_1")
LABELS = {
    "off": "off (neither)",
    "metrics": "metrics",
    "on": "metrics + tracing, every delivery",
    "handler_spans": 'metrics + tracing, delivery and handler spans (`steps="handlers"`)',
    "delivery_span": "metrics + tracing, delivery span only (`steps=False`)",
    "sampled": "metrics + tracing, 10 % sampled",
    "sampled_1": "metrics + tracing, 1 % sampled",
}
ASGI = tuple(ServerSpec(f"asgi_{m}", "asgi", f"apps.observed:asgi_{m}") for m in MODES)
WSGI = tuple(ServerSpec(f"wsgi_{m}", "wsgi", f"apps.observed:wsgi_{m}") for m in MODES)
GOAL = 0.90


def measure(config: Config) -> dict[str, Any]:
    """Both sections; each target with its ratio to "off" in the same run."""
    results: dict[str, Any] = {}
    for kind, targets in (("asgi", ASGI), ("wsgi", WSGI)):
        run = run_http(targets, config)
        off = run["targets"][f"{kind}_off"]
        for target in run["targets"].values():
            target["ratio_rps"] = target["rps"] / off["rps"]
            target["ratio_cpu"] = off["cpu_us_per_request"] / target["cpu_us_per_request"]
        results[kind] = run
    return results


def table(results: dict[str, Any]) -> str:
    """The markdown table of one run."""
    lines = [
        "| server | target | req/s | ÷ off (req/s) | CPU µs/req | ÷ off (by CPU) "
        "| goal ≥ 0.90× (both ratios) |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for kind, run in results.items():
        for mode in MODES:
            target = run["targets"][f"{kind}_{mode}"]
            # met only if both hold: req/s is noisy on a shared machine, CPU per request less so
            worst = min(target["ratio_rps"], target["ratio_cpu"])
            met = "—" if mode == "off" else ("yes" if worst >= GOAL else "**no**")
            lines.append(
                f"| {kind.upper()} | {LABELS[mode]} | {target['rps']:,.0f} "
                f"| {target['ratio_rps']:.2f}× | {target['cpu_us_per_request']:.1f} "
                f"| {target['ratio_cpu']:.2f}× | {met} |"
            )
    servers = "; ".join(f"{kind.upper()}: {run['server']}" for kind, run in results.items())
    load = next(iter(results.values()))["load"]
    return "\n".join([*lines, "", f"Servers: {servers}. Load: {load}."])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds; no wrk needed")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--processes", type=int, help="fresh server processes per target")
    parser.add_argument("--duration", type=float)
    parser.add_argument("--connections", type=int)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    args = parser.parse_args(argv)
    config = Config.for_smoke() if args.smoke else Config()
    if not args.smoke and not wrk_available():
        config = replace(config, load="python")
    changes = {k: getattr(args, k) for k in ("rounds", "processes", "duration", "connections")}
    config = replace(config, **{k: v for k, v in changes.items() if v is not None})
    results = measure(config)
    text = table(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "observability.json").write_text(json.dumps(results, indent=2, default=str))
    (args.out / "observability.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH_DIR))
    sys.exit(main())
