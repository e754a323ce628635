"""The results: goals checked as ratios within the run, a markdown table, the machine's facts."""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from .import_bench import STATEMENTS

__all__ = ["goals", "machine", "markdown"]

LABELS = {
    "hookreceiver": "hookreceiver (middleware in Starlette)",
    "starlette": "bare Starlette route, `json.loads`",
    "fastapi": "FastAPI endpoint, pydantic model",
    "raw_asgi": "raw ASGI callable (ceiling)",
    "hookreceiver_flask": "hookreceiver (WSGI middleware in Flask), async no-op handler",
    "hookreceiver_flask_sync": "hookreceiver, the same with a sync no-op handler",
    "flask": "bare Flask route, `json.loads`",
    "hookreceiver_documo": "hookreceiver, Documo provider (MultipartSink)",
    "starlette_form": "Starlette `await request.form()`",
}

PACKAGES = (
    "hookreceiver", "pydantic", "starlette", "fastapi", "flask", "uvicorn", "httptools",
    "gunicorn", "python-multipart", "redis", "psycopg",
)  # fmt: skip


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    wrk = None
    if shutil.which("wrk"):
        done = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        wrk = (done.stdout or done.stderr).split(" Copyright")[0].strip()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "packages": versions,
        "wrk": wrk,
    }


def _goal(
    name: str, goal: str, measured: float | None, met: bool | None, unit: str = "×"
) -> dict[str, Any]:
    return {"name": name, "goal": goal, "measured": measured, "unit": unit, "met": met}


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue, measured as a ratio within this run."""
    found: list[dict[str, Any]] = []
    asgi = results.get("asgi", {}).get("targets")
    if asgi:
        ours = asgi["hookreceiver"]["rps"]
        for other, minimum in (("starlette", 1.1), ("fastapi", 3.0)):
            ratio = ours / asgi[other]["rps"]
            found.append(_goal(f"ASGI req/s vs {other}", f"≥ {minimum}×", ratio, ratio >= minimum))
    wsgi = results.get("wsgi", {}).get("targets")
    if wsgi:
        ratio = wsgi["hookreceiver_flask"]["rps"] / wsgi["flask"]["rps"]
        found.append(_goal("WSGI req/s vs Flask (async handler)", "≥ 1.0×", ratio, ratio >= 1.0))
        if "hookreceiver_flask_sync" in wsgi:
            ratio = wsgi["hookreceiver_flask_sync"]["rps"] / wsgi["flask"]["rps"]
            found.append(_goal("WSGI req/s vs Flask (sync handler)", "≥ 1.0×", ratio, ratio >= 1.0))
    multipart = results.get("multipart", {}).get("targets")
    if multipart:
        ours, form = multipart["hookreceiver_documo"], multipart["starlette_form"]
        growth = ours["peak_rss_growth_mib"]
        size = results["multipart"]["attachment_mib"]
        found.append(
            _goal(
                f"{size:g} MiB attachment: peak RSS growth", "≤ 5 MiB", growth, growth <= 5, "MiB"
            )
        )
        ratio = ours["mb_per_s"] / form["mb_per_s"]
        found.append(_goal("multipart MB/s vs Starlette form()", "≥ 1.0×", ratio, ratio >= 1.0))
    for name, backend in results.get("stores", {}).get("backends", {}).items():
        if "skipped" in backend:
            found.append(_goal(f"store {name}: cost vs raw commands", "≤ 1.3×", None, None))
            continue
        ratio = backend["cost_ratio"]
        found.append(_goal(f"store {name}: cost vs raw commands", "≤ 1.3×", ratio, ratio <= 1.3))
    imports = results.get("imports")
    if imports:
        ratio = imports["ratio"]
        found.append(_goal("import time vs pydantic BaseModel", "≤ 1.5×", ratio, ratio <= 1.5))
        # `import hookreceiver` loads names on first use: this row is what a user really pays
        # before the first delivery (the package, pydantic, and one provider's models).
        times = imports["targets"]
        if "faxplus" in times:
            ratio = times["faxplus"]["min_ms"] / times["pydantic"]["min_ms"]
            found.append(
                _goal("import of a provider vs pydantic BaseModel", "≤ 1.5×", ratio, ratio <= 1.5)
            )
        if "receiver_faxplus" in times:
            ratio = times["receiver_faxplus"]["min_ms"] / times["pydantic"]["min_ms"]
            found.append(
                _goal("import of Receiver + a provider vs pydantic", "≤ 2×", ratio, ratio <= 2.0)
            )
    return found


def _f(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def _http_table(section: dict[str, Any], ours: str) -> list[str]:
    targets = section["targets"]
    lines = [
        f"Server: {section['server']}. Load: {section['load']}.",
        "",
        "| target | req/s | p50 ms | p99 ms | server CPU µs/req | hookreceiver ÷ target "
        "(req/s) | same, by CPU/req |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    mine = targets[ours]
    for name, row in targets.items():
        ratio = "—" if name == ours else f"{mine['rps'] / row['rps']:.2f}×"
        by_cpu = (
            "—"
            if name == ours
            else f"{row['cpu_us_per_request'] / mine['cpu_us_per_request']:.2f}×"
        )
        errors = f" ({row['errors']} errors)" if row["errors"] else ""
        lines.append(
            f"| {LABELS.get(name, name)}{errors} | {_f(row['rps'], 0)} | {_f(row['p50_ms'])} "
            f"| {_f(row['p99_ms'])} | {_f(row['cpu_us_per_request'], 1)} | {ratio} | {by_cpu} |"
        )
    return lines


def markdown(results: dict[str, Any]) -> str:
    """The results as the markdown the README shows."""
    info = results["machine"]
    mode = "smoke run (numbers meaningless)" if results["config"]["smoke"] else "full run"
    out = [
        "# hookreceiver benchmark results",
        "",
        f"{info['date']}, {mode}. Machine: {info['cpu']}, {info['cores']} cores, "
        f"{info['memory_gib']} GiB, {info['os']}, Python {info['python']}"
        + (f", {info['wrk']}" if info.get("wrk") else "")
        + ".",
        "",
    ]
    if "asgi" in results:
        out += ["## 1. ASGI: Fax.Plus JSON deliveries", ""]
        out += _http_table(results["asgi"], "hookreceiver") + [""]
    if "wsgi" in results:
        out += ["## 2. WSGI: the same deliveries through Flask", ""]
        out += _http_table(results["wsgi"], "hookreceiver_flask") + [""]
    if "multipart" in results:
        section = results["multipart"]
        out += [
            f"## 3. Multipart: a Documo delivery with a {section['attachment_mib']:g} MiB PDF",
            "",
            "| target | MB/s (median) | server CPU ms/request | peak RSS growth MiB (max) |",
            "|---|---:|---:|---:|",
        ]
        for name, row in section["targets"].items():
            out.append(
                f"| {LABELS.get(name, name)} | {_f(row['mb_per_s'], 1)} "
                f"| {_f(row['server_cpu_ms'], 0)} | {_f(row['peak_rss_growth_mib'])} |"
            )
        out.append("")
    if "stores" in results:
        out += [
            "## 4. Stores: one claim + one complete per key",
            "",
            "| store | hookreceiver pairs/s | p99 µs | raw pairs/s | raw p99 µs | cost ratio |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, row in results["stores"]["backends"].items():
            if "skipped" in row:
                out.append(f"| {name} | skipped: {row['skipped']} | | | | |")
                continue
            ours, raw = row["hookreceiver"], row["raw"]
            out.append(
                f"| {name} | {_f(ours['pairs_per_s'], 0)} | {_f(ours['p99_us'], 1)} "
                f"| {_f(raw['pairs_per_s'], 0)} | {_f(raw['p99_us'], 1)} "
                f"| {row['cost_ratio']:.2f}× |"
            )
        out.append("")
    if "imports" in results:
        section = results["imports"]
        out += [
            f"## 5. Import time (fresh interpreter, {section['runs']} runs each, CPU time)",
            "",
            "| statement | min ms | median ms | min wall ms |",
            "|---|---:|---:|---:|",
        ]
        for name, row in section["targets"].items():
            out.append(
                f"| `{STATEMENTS[name]}` | {_f(row['min_ms'])} | {_f(row['median_ms'])} "
                f"| {_f(row['min_wall_ms'])} |"
            )
        out.append("")
    out += ["## Targets (ratios within this run)", "", "| target | goal | measured | met |"]
    out.append("|---|---|---:|---|")
    for goal in results["goals"]:
        if goal["measured"] is None:
            measured, met = "not measured", "—"
        else:
            measured = f"{goal['measured']:.2f}{' ' if goal['unit'] == 'MiB' else ''}{goal['unit']}"
            met = "yes" if goal["met"] else "**no**"
        out.append(f"| {goal['name']} | {goal['goal']} | {measured} | {met} |")
    return "\n".join(out) + "\n"
