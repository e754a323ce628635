"""Instructions per request by Python function: where a target's hot path spends them.

``instructions.py`` counts a whole request; this says which Python functions the count goes
to. It runs the same in-process driver under callgrind on Python 3.12 or newer with
``-X perf``: the interpreter then enters each Python function through a small trampoline of its
own, which callgrind sees as a function (an address) and perf's map file
(``/tmp/perf-<pid>.map``) names. Each trampoline's *inclusive* count is exact (callgrind
counts every call of it from entry to return); its *own* count is not available (the work is
done in the shared evaluation loop). As in ``instructions.py``, start-up, imports and first-call
costs are taken out by difference: two runs, ``short`` and ``long`` measured requests after the
same warm-up, each function's count divided by the difference.

The trampolines add about 600 instructions per Python call, and 3.12 is not 3.11: the totals
run about 30 % above ``instructions.py``'s (which runs on the project's own interpreter). Read
the shares and the differences between functions, not the absolute numbers.

    python3.12 bench/harness/pyprofile.py hookreceiver_asgi_app            # top 60 functions
    python3.12 bench/harness/pyprofile.py hookreceiver_asgi_metrics --top 100
    python3.12 bench/harness/pyprofile.py hookreceiver_asgi_metrics --against hookreceiver_asgi_off

It needs the project and the bench group installed in that 3.12 environment, valgrind, and
``callgrind_annotate`` (valgrind's own). ``--against`` prints each function's difference from
a second target, measured the same way (what metrics add to a delivery, say).
"""

from __future__ import annotations

import argparse
import bisect
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

__all__ = ["profile"]

HARNESS = Path(__file__).resolve().parent
BENCH_DIR = HARNESS.parent
REPO = BENCH_DIR.parent
SHORT = 200
LONG = 1200

_FN = re.compile(r"^(c?fn=\(\d+\)) 0x([0-9a-f]+)$")
_ROW = re.compile(r"^\s*([\d,]+)\s+\([^)]*\)\s+(.*)$")
_PID = re.compile(r"^==(\d+)==", re.MULTILINE)
_PREFIXES = re.compile(r"^\?\?\?:PY |\s\[\?\?\?\]$")
#: Left out of the file names printed: the package's, the standard library's, site-packages'.
_SHORTENED = (
    str(REPO / "src" / "hookreceiver") + "/",
    str(REPO) + "/",
    sysconfig.get_paths()["stdlib"] + "/",
    sysconfig.get_paths()["purelib"] + "/",
)


def _names(perf_map: Path) -> tuple[list[int], list[int], list[str]]:
    """perf's map: each trampoline's start, end and Python function, sorted by start."""
    rows = []
    for line in perf_map.read_text().splitlines():
        start, size, name = line.split(" ", 2)
        rows.append((int(start, 16), int(start, 16) + int(size, 16), name.removeprefix("py::")))
    rows.sort()
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def _rename(callgrind_out: Path, perf_map: Path) -> Path:
    """A copy of the callgrind output whose trampolines carry their Python functions' names."""
    starts, ends, names = _names(perf_map)
    named = callgrind_out.with_suffix(".named")
    with callgrind_out.open() as source, named.open("w") as target:
        for line in source:
            found = _FN.match(line)
            if found:
                address = int(found.group(2), 16)
                i = bisect.bisect_right(starts, address) - 1
                if i >= 0 and address < ends[i]:
                    line = f"{found.group(1)} PY {names[i]}\n"
            target.write(line)
    return named


def _inclusive(named: Path) -> dict[str, int]:
    """Each Python function's inclusive instructions in one run."""
    printed = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(named)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts: dict[str, int] = {}
    for line in printed.splitlines():
        row = _ROW.match(line)
        if row is None or "PY " not in row.group(2):
            continue
        name = _PREFIXES.sub("", row.group(2).split("???:PY ", 1)[-1])
        for prefix in _SHORTENED:
            name = name.replace(prefix, "")
        counts[name] = counts.get(name, 0) + int(row.group(1).replace(",", ""))
    return counts


def _run(target: str, count: int, workdir: Path) -> dict[str, int]:
    out = workdir / f"callgrind.{target}.{count}"
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH_DIR), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--smc-check=all-non-file",  # the trampolines are code written at run time
            f"--callgrind-out-file={out}",
            sys.executable,
            "-X",
            "perf",
            str(HARNESS / "instructions.py"),
            "--drive",
            target,
            str(count),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=1800,
    )
    pid = _PID.search(done.stderr)
    if done.returncode != 0 or pid is None:
        raise RuntimeError(f"callgrind run of {target} failed:\n{done.stderr[-3000:]}")
    perf_map = Path(f"/tmp/perf-{pid.group(1)}.map")
    try:
        return _inclusive(_rename(out, perf_map))
    finally:
        perf_map.unlink(missing_ok=True)


def profile(target: str, short: int = SHORT, long: int = LONG) -> dict[str, float]:
    """Inclusive instructions per request of each Python function ``target`` calls."""
    with tempfile.TemporaryDirectory(prefix="hookreceiver-pyprofile-") as tmp:
        first, second = _run(target, short, Path(tmp)), _run(target, long, Path(tmp))
    return {name: (count - first.get(name, 0)) / (long - short) for name, count in second.items()}


def main(argv: list[str] | None = None) -> int:
    """Profile a target (and another to compare with); print the top functions."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("target")
    parser.add_argument("--against", help="a second target: print the differences")
    parser.add_argument("--top", type=int, default=60)
    args = parser.parse_args(argv)
    if sys.version_info < (3, 12):
        parser.error("needs Python 3.12 or newer (-X perf); run it with python3.12")
    found = profile(args.target)
    if args.against:
        other = profile(args.against)
        rows = [(found.get(k, 0.0) - other.get(k, 0.0), k) for k in set(found) | set(other)]
        header = f"{args.target} minus {args.against}, instructions per request"
    else:
        rows = [(v, k) for k, v in found.items()]
        header = f"{args.target}, inclusive instructions per request"
    rows.sort(key=lambda row: -abs(row[0]))
    print(header)
    for value, name in rows[: args.top]:
        if abs(value) >= 50:
            print(f"{value:12,.0f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
