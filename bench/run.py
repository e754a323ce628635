"""Run the hookreceiver benchmark suite and write its results.

    python bench/run.py                 # the full run: a few minutes, needs wrk
    python bench/run.py --smoke         # a few seconds, no wrk: checks the suite still works
    python bench/run.py --only asgi,stores

Results go to ``bench/results/latest.json`` and ``bench/results/latest.md`` (or ``--out``), and
the markdown is printed. See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.config import Config
from harness.http_bench import ASGI_TARGETS, WSGI_TARGETS, run_http
from harness.import_bench import run_imports
from harness.load import wrk_available
from harness.multipart_bench import run_multipart
from harness.report import goals, machine, markdown
from harness.servers import BENCH_DIR
from harness.stores_bench import run_stores

SECTIONS = ("asgi", "wsgi", "multipart", "stores", "imports")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds; no wrk needed")
    parser.add_argument("--only", help=f"comma-separated sections of {', '.join(SECTIONS)}")
    parser.add_argument("--stores", help="comma-separated stores (memory,sqlite,redis,postgres)")
    parser.add_argument("--load", choices=["wrk", "python"], help="the load generator")
    parser.add_argument("--rounds", type=int, help="measured rounds per target")
    parser.add_argument(
        "--processes", type=int, help="fresh server processes per target, each with its rounds"
    )
    parser.add_argument("--duration", type=float, help="seconds per measured round")
    parser.add_argument("--connections", type=int, help="concurrent connections")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], help="uvicorn's event loop")
    parser.add_argument(
        "--out", type=Path, default=BENCH_DIR / "results", help="where latest.json/.md go"
    )
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help="also write the table to bench/RESULTS.md and into bench/README.md",
    )
    return parser.parse_args(argv)


def _config(args: argparse.Namespace) -> Config:
    config = Config.for_smoke() if args.smoke else Config()
    changes = {
        name: getattr(args, name)
        for name in ("load", "rounds", "processes", "duration", "connections", "loop")
        if getattr(args, name) is not None
    }
    config = replace(config, **changes)
    if config.load == "wrk" and not wrk_available():
        sys.exit("wrk is not installed (apt-get install -y wrk), or pass --load python")
    if (os.cpu_count() or 1) < 2:
        config = replace(config, server_cpu=None, load_cpu=None)
    return config


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections; print the table; write JSON and markdown."""
    args = _arguments(argv)
    config = _config(args)
    chosen = args.only.split(",") if args.only else list(SECTIONS)
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        sys.exit(f"unknown sections: {', '.join(sorted(unknown))}")
    if config.load_cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {config.load_cpu})  # this process is a client too: keep it off
    stores = args.stores.split(",") if args.stores else None
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "asgi": lambda: run_http(ASGI_TARGETS, config),
        "wsgi": lambda: run_http(WSGI_TARGETS, config),
        "multipart": lambda: run_multipart(config),
        "stores": lambda: run_stores(config, stores),
        "imports": lambda: run_imports(config.import_runs),
    }
    results: dict[str, Any] = {"machine": machine(), "config": config.as_dict()}
    for name in SECTIONS:
        if name in chosen:
            print(f"running {name}...", file=sys.stderr, flush=True)
            results[name] = steps[name]()
    results["goals"] = goals(results)
    table = markdown(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "latest.md").write_text(table)
    if args.update_docs:
        update_docs(table)
    print(table)
    return 0


START, END = "<!-- results:start -->", "<!-- results:end -->"


def update_docs(table: str) -> None:
    """Put the table in ``RESULTS.md`` and between the markers of ``bench/README.md``, and the
    run's machine, date and targets between the markers of the project's ``README.md``."""
    results = BENCH_DIR / "RESULTS.md"
    # Other harnesses write their own sections: growth (harness/growth.py) before the Targets,
    # and below the Targets table the task queues, the instruction counts and what follows
    # them. A new run's table replaces the rest and keeps those.
    old = results.read_text() if results.exists() else ""
    kept = re.search(r"<!-- growth:start -->.*?<!-- growth:end -->", old, re.S)
    written = table
    if kept and "## Targets" in table:
        at = table.index("## Targets")
        written = table[:at] + kept.group(0) + "\n\n" + table[at:]
    tail = ""
    if "## Targets" in old:
        after = old[old.index("## Targets") :]
        below = after.find("\n## ")
        tail = after[below:] if below != -1 else ""
    results.write_text(written.rstrip("\n") + "\n" + tail)
    body = table.split("\n", 1)[1].lstrip("\n")  # the README has its own title
    body = "\n".join("#" + line if line.startswith("## ") else line for line in body.split("\n"))
    _between_markers(BENCH_DIR / "README.md", body)
    when = body.split("\n", 1)[0]  # "<date>, full run. Machine: ..."
    targets = table[table.index("## Targets") :].split("\n", 2)[2].lstrip("\n")
    _between_markers(BENCH_DIR.parent / "README.md", f"Latest run: {when}\n\n{targets}")


def _between_markers(path: Path, body: str) -> None:
    text = path.read_text()
    head, found, rest = text.partition(START)
    if not found:
        raise SystemExit(f"{path} has no {START} marker")
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{START}\n{body.rstrip()}\n{END}{tail}")


if __name__ == "__main__":
    sys.exit(main())
