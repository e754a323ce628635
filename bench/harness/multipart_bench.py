"""Section 3: a Documo delivery with a large PDF attachment, against Starlette's form parser.

Peak memory is the server process's own high-water mark: before each measured request the
kernel's peak is reset (``/proc/<pid>/clear_refs``) and the resident size read; after it, the
new peak (``VmHWM``) minus that size is the growth the request caused.
"""

from __future__ import annotations

import base64
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from apps.documo import DOCUMO_CREDENTIALS
from apps.payloads import documo_body, fake_pdf

from .config import Config
from .servers import Server, ServerSpec, cpu_seconds

__all__ = ["MULTIPART_TARGETS", "run_multipart"]

MULTIPART_TARGETS = (
    ServerSpec(
        "hookreceiver_documo", "asgi", "apps.asgi_apps:hookreceiver_documo_app", "/hooks/documo"
    ),
    ServerSpec("starlette_form", "asgi", "apps.asgi_apps:starlette_form_app", "/hooks/documo"),
)

MiB = 1024 * 1024
_AUTH = "Basic " + base64.b64encode(":".join(DOCUMO_CREDENTIALS).encode()).decode()


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def _reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _one(server: Server, pdf: bytes) -> dict[str, Any]:
    body, content_type = documo_body(f"bench-{uuid.uuid4()}", pdf)
    headers = {"content-type": content_type, "authorization": _AUTH}
    pid = server.pid
    reset = _reset_peak(pid)
    before = _status_kib(pid, "VmRSS" if reset else "VmHWM")
    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    status, answer = server.request(body, headers)
    seconds = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu
    if status != 200:
        raise RuntimeError(f"{server.spec.name} answered {status} {answer!r}: {server.log_tail()}")
    peak = _status_kib(pid, "VmHWM")
    return {
        "seconds": seconds,
        "mb_per_s": len(body) / MiB / seconds,
        "server_cpu_ms": cpu * 1000,
        "rss_growth_mib": max(0, peak - before) / 1024,
        "peak_reset": reset,
    }


def run_multipart(config: Config) -> dict[str, Any]:
    """Post the same delivery to each target ``rounds`` times (after two warm-ups), interleaved."""
    pdf = fake_pdf(config.attachment_size)
    servers = [Server(spec, cpu=config.server_cpu, loop=config.loop) for spec in MULTIPART_TARGETS]
    rounds = max(3, config.rounds) if not config.smoke else 1
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_ready()
            for _ in range(2):
                _one(server, pdf)
        runs: dict[str, list[dict[str, Any]]] = {s.spec.name: [] for s in servers}
        for _ in range(rounds):
            for server in servers:
                runs[server.spec.name].append(_one(server, pdf))
    finally:
        for server in servers:
            server.stop()
    return {
        "attachment_mib": config.attachment_size / MiB,
        "targets": {
            name: {
                "mb_per_s": statistics.median(r["mb_per_s"] for r in results),
                "server_cpu_ms": statistics.median(r["server_cpu_ms"] for r in results),
                "peak_rss_growth_mib": max(r["rss_growth_mib"] for r in results),
                "runs": results,
            }
            for name, results in runs.items()
        },
    }
