"""Finding deliveries: filtered, searched, newest first, one page at a time; their attempts;
the inbox's counts.

The console and ``hookreceiver inbox list`` share :meth:`Inbox.search
<hookreceiver.inbox.Inbox.search>`. Its pages are keyset-paginated: a :class:`Page` ends with an
opaque cursor naming its last delivery (its time and id), and the next page starts after it
through an index, so page 10,000 of a million rows costs what page 1 does (``OFFSET`` would
read every row before it).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .records import InboxEntry, InboxState

__all__ = [
    "Attempt",
    "InboxStats",
    "Page",
    "SearchQuery",
    "attempt_from_row",
    "decode_cursor",
    "encode_cursor",
]


def encode_cursor(entry: InboxEntry) -> str:
    """An opaque cursor naming ``entry``'s place in the received order."""
    text = f"{entry.received_at!r}|{entry.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """``(received_at, id)`` from :func:`encode_cursor`'s text.

    Raises:
        ValueError: the cursor is not one this module made.
    """
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, record_id = text.partition("|")
        if not record_id:
            raise ValueError
        return float(when), record_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("not a listing cursor") from None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Which deliveries to list, in what order, from where.

    Attributes:
        states: only these states (``None``: any).
        provider: only this provider's.
        event: only this event name, or names starting with a prefix ending in ``*``.
        since: received at or after this time (seconds since the epoch).
        until: received before this time.
        text: a delivery id, an idempotency key, or a fax, message or call id (exact).
        after: the place to start after: :func:`decode_cursor` of a page's cursor.
        newest: newest first (the default), or oldest first.
    """

    states: tuple[str, ...] | None = None
    provider: str | None = None
    event: str | None = None
    since: float | None = None
    until: float | None = None
    text: str | None = None
    after: tuple[float, str] | None = None
    newest: bool = True

    @classmethod
    def of(
        cls,
        *,
        states: Iterable[InboxState | str] | None = None,
        cursor: str | None = None,
        **fields: Any,
    ) -> SearchQuery:
        """A query from loose values: state names or members, a cursor's text."""
        chosen = None if states is None else tuple(InboxState(s).value for s in states)
        after = decode_cursor(cursor) if cursor else None
        text = fields.pop("text", None)
        return cls(states=chosen, after=after, text=(text or "").strip() or None, **fields)


@dataclass(slots=True)
class Page:
    """One page of a listing.

    Attributes:
        entries: the deliveries, in the query's order.
        cursor: pass it back (``cursor=``) for the next page; ``None`` on the last page.
    """

    entries: list[InboxEntry]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt at handling a stored delivery, or an operator's action on it.

    Attributes:
        record_id: the delivery's id.
        at: when it ended (seconds since the epoch).
        attempt: the attempt's number (a replay starts again at 1; 0 for an action).
        duration: seconds it took, when known.
        outcome: the state it left the delivery in (``done``, ``pending``, ``failed``,
            ``quarantined``), or the action (``replayed``, ``resolved``, ``released``).
        error: why it failed, in one line.
        traceback: the handler's traceback, when one raised.
        actor: who acted (the console's user), for actions.
    """

    record_id: str
    at: float
    attempt: int
    outcome: str
    duration: float | None = None
    error: str | None = None
    traceback: str | None = None
    actor: str | None = None


def attempt_from_row(row: Mapping[str, Any]) -> Attempt:
    """An :class:`Attempt` from a row of the attempts table."""
    duration = row["duration"]
    return Attempt(
        record_id=row["record_id"],
        at=float(row["at"]),
        attempt=int(row["attempt"]),
        outcome=row["outcome"],
        duration=None if duration is None else float(duration),
        error=row["error"],
        traceback=row["traceback"],
        actor=row["actor"],
    )


@dataclass(slots=True)
class InboxStats:
    """What the console's overview shows.

    Attributes:
        by_state: stored deliveries per state (the inbox's depth).
        last_hour: deliveries received in the last hour, per ``(provider, state)``.
        last_day: the same over the last day.
        per_minute: deliveries received per minute over the last hour, per
            ``(minute, state)`` where ``minute`` is ``int(time // 60)``.
        oldest_pending: when the oldest pending delivery was received, if any.
        now: the time the counts were taken at.
    """

    by_state: dict[str, int] = field(default_factory=dict)
    last_hour: dict[tuple[str, str], int] = field(default_factory=dict)
    last_day: dict[tuple[str, str], int] = field(default_factory=dict)
    per_minute: dict[tuple[int, str], int] = field(default_factory=dict)
    oldest_pending: float | None = None
    now: float = 0.0
