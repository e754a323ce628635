"""The console's pages: Jinja2 templates (autoescaped) shipped in the package, and the values
each one is rendered with."""

from __future__ import annotations

import builtins
import time
from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from ..inbox.records import InboxState
from .views import (
    STATE_COLOURS,
    chart_svg,
    display_headers,
    parsed_fields,
    payload_of,
    redact_url,
    since_text,
    trace_id,
    when,
)

if TYPE_CHECKING:
    from ..inbox.listing import Attempt, InboxStats, Page
    from ..inbox.protocols import InboxReceiver
    from ..inbox.records import InboxRecord
    from .auth import Identity

__all__ = ["Pages"]

STATES = [s.value for s in InboxState]


def _jinja() -> Any:
    try:
        import jinja2
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError("the console needs Jinja2: pip install 'hookreceiver[console]'") from exc
    return jinja2


class Pages:
    """Renders each page to bytes."""

    def __init__(self) -> None:
        jinja2 = _jinja()
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("hookreceiver.console", "templates"),
            autoescape=True,  # every value is escaped, whatever the template's name
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["when"] = when
        self.env.filters["urlpart"] = lambda value: quote(str(value), safe="")
        self.env.globals["STATES"] = STATES
        self.env.globals["COLOURS"] = STATE_COLOURS
        package = resources.files("hookreceiver.console")
        self.css = (package / "static" / "console.css").read_bytes()

    def _render(
        self, name: str, base: str, who: Identity | None, csrf: str, **values: Any
    ) -> bytes:
        template = self.env.get_template(name)
        values.setdefault("done", None)
        return str(template.render(base=base, who=who, csrf=csrf, **values)).encode()

    def render_error(self, base: str, status: int, message: str) -> bytes:
        """A refusal's page."""
        return self._render("error.html", base, None, "", status=status, message=message)

    def render_list(
        self,
        base: str,
        who: Identity,
        csrf: str,
        query: Mapping[str, str],
        page: Page,
        took: float,
        providers: builtins.list[str],
    ) -> bytes:
        """The list of deliveries (``providers``: the filter's choices)."""
        filters = {k: v for k, v in query.items() if k not in ("cursor", "done") and v}
        next_url = None
        if page.cursor is not None:
            next_url = base + "?" + urlencode({**filters, "cursor": page.cursor})
        return self._render(
            "list.html",
            base,
            who,
            csrf,
            filters=filters,
            entries=page.entries,
            next_url=next_url,
            first_url=base + ("?" + urlencode(filters) if filters else ""),
            paged="cursor" in query,
            replay_url=base + "replay?" + urlencode(filters),
            took_ms=took * 1000,
            done=query.get("done"),
            providers=providers,
        )

    def render_overview(
        self, base: str, who: Identity, csrf: str, stats: InboxStats, done: str | None = None
    ) -> bytes:
        """Counts, depth and the chart."""
        providers = sorted({p for p, _ in stats.last_day} | {p for p, _ in stats.last_hour})
        oldest = None
        if stats.oldest_pending is not None:
            oldest = since_text(stats.now - stats.oldest_pending)
        return self._render(
            "overview.html",
            base,
            who,
            csrf,
            stats=stats,
            providers=providers,
            oldest=oldest,
            chart=chart_svg(stats),
            done=done,
        )

    def render_confirm(
        self,
        base: str,
        who: Identity,
        csrf: str,
        query: Mapping[str, str],
        count: int,
        limit: int,
    ) -> bytes:
        """The confirmation of a bulk replay."""
        filters = {k: v for k, v in query.items() if k not in ("cursor", "done") and v}
        return self._render(
            "confirm.html", base, who, csrf, filters=filters, count=count, limit=limit
        )

    def render_detail(
        self,
        base: str,
        who: Identity,
        csrf: str,
        receiver: InboxReceiver,
        record: InboxRecord,
        attempts: builtins.list[Attempt],
    ) -> bytes:
        """One delivery."""
        event_json, parse_error = parsed_fields(receiver, record)
        return self._render(
            "detail.html",
            base,
            who,
            csrf,
            r=record,
            path=redact_url(record.path),
            query=redact_url(record.query),
            headers=display_headers(record.headers),
            payload=payload_of(record),
            event_json=event_json,
            parse_error=parse_error,
            attempts=attempts,
            trace=trace_id(record),
            age=since_text(time.time() - record.received_at),
        )
