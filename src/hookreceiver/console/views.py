"""What each page shows, as plain values for the templates: no HTML is built here except the
overview's SVG chart, whose every text is escaped.

Payloads are the sender's bytes: they are decoded for display (JSON pretty-printed, form
fields listed, multipart parts with sizes), never trusted; the templates escape everything.
Headers that carry secrets are shown as ``[redacted]``, and token-shaped URL segments too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from typing import Any
from urllib.parse import parse_qsl

from ..delivery import Delivery, Headers
from ..engine.flow import parse_event
from ..inbox.listing import InboxStats
from ..inbox.protocols import InboxReceiver
from ..inbox.records import InboxRecord, InboxState
from ..security.redact import RedactTokens

__all__ = [
    "Payload",
    "chart_svg",
    "display_headers",
    "parsed_fields",
    "payload_of",
    "since_text",
    "trace_id",
    "when",
]

REDACTED = "[redacted]"
#: Parts of header names whose values are secrets (signatures, tokens, keys, sessions).
_SECRET_HEADER_PARTS = (
    "authorization",
    "cookie",
    "signature",
    "token",
    "secret",
    "api-key",
    "apikey",
    "password",
    "session",
    "x-hub-",
)
_MAX_SHOWN = 256 * 1024
_redactor = RedactTokens()

STATE_COLOURS = {
    InboxState.DONE.value: "#2e7d32",
    InboxState.PENDING.value: "#1565c0",
    InboxState.PROCESSING.value: "#6a1b9a",
    InboxState.FAILED.value: "#c62828",
    InboxState.QUARANTINED.value: "#ef6c00",
}


def when(timestamp: float | None) -> str:
    """A UTC time as ``2026-01-31 14:05:09``."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def since_text(seconds: float) -> str:
    """A duration as ``3 h 12 min`` (or ``42 s``)."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def display_headers(headers: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """Headers with secret values replaced by ``[redacted]``."""
    shown = []
    for name, value in headers:
        lowered = name.lower()
        secret = any(part in lowered for part in _SECRET_HEADER_PARTS)
        shown.append((name, REDACTED if secret else _redactor.redact(value)))
    return shown


def redact_url(text: str) -> str:
    """A path or query with token-shaped segments and ``token=`` values redacted."""
    return _redactor.redact(text)


@dataclass(slots=True)
class Payload:
    """A stored body, decoded for display.

    Attributes:
        kind: ``json``, ``form``, ``multipart``, ``text`` or ``binary``.
        text: the pretty-printed JSON or the text (cut at 256 KiB).
        fields: form or multipart text fields.
        files: ``(index, field, filename, content type, size, kept)`` of multipart files.
        size: bytes of the body.
    """

    kind: str
    text: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[int, str, str, str, int, bool]] = field(default_factory=list)
    size: int = 0


def payload_of(record: InboxRecord) -> Payload:
    """``record``'s body as the detail page shows it."""
    body = record.body
    content_type = record.content_type.lower()
    files = [
        (i, f.field, f.filename or "", f.content_type, len(f.data), bool(f.data))
        for i, f in enumerate(record.files)
    ]
    if record.files or record.fields or "multipart/" in content_type:
        return Payload("multipart", "", sorted(record.fields.items()), files, len(body))
    text = body[:_MAX_SHOWN].decode("utf-8", "replace")
    if "json" in content_type or body[:1] in (b"{", b"["):
        try:
            text = json.dumps(json.loads(body), indent=2, ensure_ascii=False)[:_MAX_SHOWN]
            return Payload("json", text, size=len(body))
        except ValueError:
            pass
    if "x-www-form-urlencoded" in content_type:
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        return Payload("form", "", pairs, size=len(body))
    if body and b"\x00" in body[:1024]:
        return Payload("binary", f"{len(body)} bytes of binary data", size=len(body))
    return Payload("text", text, size=len(body))


def parsed_fields(receiver: InboxReceiver, record: InboxRecord) -> tuple[str | None, str | None]:
    """``(the parsed event as pretty JSON, None)`` or ``(None, why it does not parse)``: the
    provider's parser run again over the stored delivery (nothing is handled)."""
    endpoint = receiver.router.endpoint(record.endpoint)
    if endpoint is None:
        return None, f"no endpoint {record.endpoint} is configured"
    delivery = Delivery(
        record.method, record.path, record.query, Headers(record.headers), record.client
    )
    body = record.to_body()
    try:
        event = parse_event(endpoint.provider, delivery, record.params, body)
        model = event.model
        dumped: Any = model.model_dump(mode="json") if hasattr(model, "model_dump") else model
        return json.dumps(dumped, indent=2, ensure_ascii=False, default=str), None
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        body.close()


def trace_id(record: InboxRecord) -> str | None:
    """The trace id of the ``traceparent`` the delivery came with (tracing on), if any."""
    meta = getattr(record, "meta", None)
    parent = getattr(record, "traceparent", None)
    if parent is None and isinstance(meta, Mapping):
        parent = meta.get("traceparent")
    if parent is None:
        parent = next((v for k, v in record.headers if k.lower() == "traceparent"), None)
    if not isinstance(parent, str):
        return None
    parts = parent.strip().split("-")
    if len(parts) >= 3 and len(parts[1]) == 32 and all(c in "0123456789abcdef" for c in parts[1]):
        return parts[1]
    return None


def chart_svg(stats: InboxStats, *, width: int = 720, height: int = 160) -> str:
    """Deliveries per minute over the last hour, stacked by state, as an inline SVG."""
    now_minute = int(stats.now // 60)
    minutes = range(now_minute - 59, now_minute + 1)
    states = list(STATE_COLOURS)
    totals = [sum(stats.per_minute.get((m, s), 0) for s in states) for m in minutes]
    peak = max(totals) or 1
    bar = width / 60
    plot = height - 20
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="deliveries per minute, last hour">'
    ]
    for i, minute in enumerate(minutes):
        y = float(plot)
        for state in states:
            count = stats.per_minute.get((minute, state), 0)
            if not count:
                continue
            h = plot * count / peak
            y -= h
            label = escape(f"{when(minute * 60.0)[11:16]} {state}: {count}")
            parts.append(
                f'<rect x="{i * bar + 1:.1f}" y="{y:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
                f'fill="{STATE_COLOURS[state]}"><title>{label}</title></rect>'
            )
    parts.append(
        f'<line x1="0" y1="{plot}" x2="{width}" y2="{plot}" stroke="#999" stroke-width="1"/>'
        f'<text x="0" y="{height - 4}" font-size="11">-60 min</text>'
        f'<text x="{width}" y="{height - 4}" font-size="11" text-anchor="end">now</text>'
        f'<text x="4" y="12" font-size="11">peak {peak}/min</text></svg>'
    )
    return "".join(parts)
