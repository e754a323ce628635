"""The demo's table: which handler lines belong to which delivery, and the rendered rows."""

from __future__ import annotations

import json
import queue
import time
from typing import Any

from .plan import Step

__all__ = ["collect", "render"]


def collect(
    steps: list[Step], lines: queue.Queue[str], wait: float, logged: list[str] | None = None
) -> None:
    """Give each step the handler lines of its event, in order; wait for missing ones. Other
    lines (the access log) go to ``logged``."""
    pending = {id(s): s for s in steps if s.runs_handler and s.got is not None and s.got < 300}
    extra: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait
    while True:
        timeout = deadline - time.monotonic() if pending else 0.05
        if timeout <= 0 and pending:
            break
        try:
            line = lines.get(timeout=max(timeout, 0.01))
        except queue.Empty:
            break
        seen = _parse(line)
        if seen is None and logged is not None:
            logged.append(line)
        if seen is None or "handler" not in seen:
            continue
        owner = next(
            (s for s in steps if id(s) in pending and s.delivery.event == seen["event"]), None
        )
        if owner is None:
            extra.append(seen)
            continue
        owner.saw.append(seen)
        del pending[id(owner)]
    for seen in extra:  # a handler ran for a delivery that should not run one (a duplicate?)
        for step in steps:
            if not step.runs_handler and step.delivery.event == seen.get("event"):
                step.saw.append(seen)
                step.error = "a handler ran again"
                break


def _parse(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _describe(seen: dict[str, Any]) -> str:
    # Ids are long and random: the table shows what varies between events instead.
    details = {
        k: v
        for k, v in seen.items()
        if k not in ("handler", "event") and not k.endswith("_id") and v is not None
    }
    words = [
        str(v) if k in _BARE else f"{k} {v} B" if k == "attachment" else f"{k}={v}"
        for k, v in details.items()
    ]
    return f"{seen['handler']}: " + ", ".join(words)


_BARE = frozenset({"direction", "status", "phase"})


def render(steps: list[Step]) -> str:
    """The table of deliveries: expected and got status, outcome, what the handler saw."""
    rows = [("#", "event", "case", "expect", "got", "outcome", "handler saw")]
    for number, step in enumerate(steps, start=1):
        if step.result is None:
            got, outcome = "-", step.error or "no answer"
        else:
            got, outcome = str(step.got), step.result.outcome or ""
        saw = "; ".join(_describe(s) for s in step.saw) or ("-" if not step.runs_handler else "")
        if step.error and step.result is not None:
            saw = f"{step.error}: {saw}"
        mark = " " if step.ok else "!"
        event = step.delivery.event
        rows.append((f"{mark}{number}", event, step.case, str(step.expect), got, outcome, saw))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    out = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:6])) + f"  {row[6]}"
        for row in rows
    ]
    out.insert(1, "-" * max(len(line) for line in out))
    return "\n".join(line.rstrip() for line in out)
