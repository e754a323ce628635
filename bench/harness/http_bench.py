"""Sections 1 and 2: Fax.Plus JSON deliveries through each ASGI and WSGI target under load."""

from __future__ import annotations

import json
import statistics
import uuid
from collections.abc import Sequence
from typing import Any

from apps.payloads import faxplus_body

from .config import Config
from .load import JSON_HEADERS, LoadResult, python_load, wrk_load
from .servers import Server, ServerSpec, cpu_seconds, wsgi_server_name

__all__ = ["ASGI_TARGETS", "WSGI_TARGETS", "run_http"]

ASGI_TARGETS = (
    ServerSpec("hookreceiver", "asgi", "apps.asgi_apps:hookreceiver_app"),
    ServerSpec("starlette", "asgi", "apps.asgi_apps:starlette_app"),
    ServerSpec("fastapi", "asgi", "apps.asgi_apps:fastapi_app"),
    ServerSpec("raw_asgi", "asgi", "apps.asgi_apps:raw_app"),
)

WSGI_TARGETS = (
    ServerSpec("hookreceiver_flask", "wsgi", "apps.wsgi_apps:hookreceiver_flask_app"),
    ServerSpec("hookreceiver_flask_sync", "wsgi", "apps.wsgi_apps:hookreceiver_flask_sync_app"),
    ServerSpec("flask", "wsgi", "apps.wsgi_apps:flask_app"),
)


def _check(server: Server) -> dict[str, Any]:
    """Every target answers 200; the receiver also answers a repeat as a duplicate."""
    body = faxplus_body(f"check-{uuid.uuid4().hex}")
    first = server.request(body, JSON_HEADERS)
    again = server.request(body, JSON_HEADERS)
    for status, _ in (first, again):
        if status != 200:
            raise RuntimeError(f"{server.spec.name} answered {status}: {server.log_tail()}")
    seen = {"first": json.loads(first[1]), "repeat": json.loads(again[1])}
    if server.spec.name.startswith("hookreceiver") and seen["repeat"] != {"status": "duplicate"}:
        raise RuntimeError(f"{server.spec.name} did not deduplicate: {seen}")
    return seen


def _load(server: Server, config: Config, duration: float) -> LoadResult:
    if config.load == "wrk":
        return wrk_load(
            server.port,
            server.spec.path,
            duration,
            connections=config.connections,
            cpu=config.load_cpu,
        )
    return python_load(server.port, server.spec.path, duration, connections=config.connections)


def _measured(server: Server, config: Config, duration: float) -> dict[str, Any]:
    """One load run, with the server's own CPU time per request: a figure that, unlike
    requests per second, hardly moves when other processes compete for the machine."""
    pid = server.pid
    before = cpu_seconds(pid)
    result = _load(server, config, duration)
    cpu = cpu_seconds(pid) - before
    return {**result.as_dict(), "cpu_us_per_request": cpu * 1e6 / max(1, result.requests)}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "cpu_us_per_request": statistics.median(r["cpu_us_per_request"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "runs": runs,
    }


def run_http(targets: Sequence[ServerSpec], config: Config) -> dict[str, Any]:
    """Serve every target at once (idle ones cost nothing), then load them in turn.

    Each target is warmed up, then measured ``rounds`` times interleaved (A, B, C, A, B, C...)
    so that noise from a shared machine falls on all of them alike; medians are reported. With
    ``processes`` above 1, that is done again on fresh server processes, and the medians are
    over every process's rounds: one process of the same code can run 10-25 % slower than the
    next (where its memory landed), which no number of rounds on it averages out.
    """
    runs: dict[str, list[dict[str, Any]]] = {spec.name: [] for spec in targets}
    checks: dict[str, dict[str, Any]] = {}
    for process in range(config.processes):
        servers = [
            Server(spec, cpu=config.server_cpu, loop=config.loop, threads=4) for spec in targets
        ]
        try:
            for server in servers:
                server.launch()
            for server in servers:
                server.wait_ready()
            for server in servers:
                checked = _check(server)
                if process == 0:
                    checks[server.spec.name] = checked
            for server in servers:
                _load(server, config, config.warmup)
            for _ in range(config.rounds):
                for server in servers:
                    measured = _measured(server, config, config.duration)
                    runs[server.spec.name].append({**measured, "process": process})
        finally:
            for server in servers:
                server.stop()
    kind = targets[0].kind
    return {
        "server": _server_description(kind, config),
        "load": _load_description(config),
        "checks": checks,
        "targets": {name: _summary(results) for name, results in runs.items()},
    }


def _server_description(kind: str, config: Config) -> str:
    if kind == "asgi":
        return f"uvicorn --http httptools --loop {config.loop}, 1 process"
    if wsgi_server_name() == "gunicorn":
        return "gunicorn, 1 gthread worker with 4 threads"
    return "wsgiref (gunicorn not installed)"


def _load_description(config: Config) -> str:
    pinned = "" if config.server_cpu is None else f", server on CPU {config.server_cpu}"
    pinned += "" if config.load_cpu is None else f", load on CPU {config.load_cpu}"
    tool = "wrk -t1" if config.load == "wrk" else "python keep-alive loop"
    processes = "" if config.processes == 1 else f" on each of {config.processes} server processes"
    return (
        f"{tool}, {config.connections} connections, {config.rounds} rounds of "
        f"{config.duration:g} s interleaved after {config.warmup:g} s warm-up{processes}{pinned}"
    )
