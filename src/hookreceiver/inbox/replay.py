"""Replay: process stored deliveries again now, in this process, through the dedup rules.

Use it once the cause of a failure is fixed: a handler's bug, a model that did not know a new
field or status (a quarantined delivery parses again with the new model), an endpoint that was
missing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import Inbox
from .process import inbox_of, new_token, process_async, process_sync
from .records import InboxState

if TYPE_CHECKING:
    from .protocols import InboxReceiver

__all__ = ["NEEDS_ATTENTION", "ReplayResult", "areplay", "replay", "replay_many"]


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What one replay did.

    Attributes:
        id: the delivery's id.
        state: its state afterwards, or ``None`` when it was not replayed.
        detail: the error of a failed or quarantined delivery, or why it was not replayed.
    """

    id: str
    state: InboxState | None
    detail: str | None = None


def _not_taken(inbox: Inbox, record_id: str) -> ReplayResult:
    if inbox.get(record_id) is None:
        return ReplayResult(record_id, None, "no such delivery")
    return ReplayResult(record_id, None, "a worker is processing it")


def _refused(inbox: Inbox, record_id: str) -> ReplayResult | None:
    """The refusal of a record that does not hold the payload as received (see
    :attr:`~.records.InboxRecord.not_replayable`: the flag never changes, so checking it
    before the take is safe), else ``None``."""
    record = inbox.get(record_id)
    if record is not None and record.not_replayable is not None:
        return ReplayResult(record_id, None, record.not_replayable)
    return None


def _result(inbox: Inbox, record_id: str, state: InboxState) -> ReplayResult:
    if state is InboxState.DONE:
        return ReplayResult(record_id, state)
    after = inbox.get(record_id)
    return ReplayResult(record_id, state, after.last_error if after is not None else None)


def replay(receiver: InboxReceiver, record_id: str, *, force: bool = False) -> ReplayResult:
    """Process one stored delivery now, in this process, whatever its state.

    The parser runs again (a quarantined delivery is handled once the model accepts it) and the
    handlers run through the dedup rules: an event already handled is not handled again unless
    ``force`` is set. A delivery that fails again goes back to the retry cycle. A record that
    does not hold the payload as received (a sync delivery's files) is refused: its result has
    no state and says why, and no handler runs.
    """
    inbox = inbox_of(receiver)
    refused = _refused(inbox, record_id)
    if refused is not None:
        return refused
    token = new_token()
    record = inbox.take_id(token, record_id, replay=True)
    if record is None:
        return _not_taken(inbox, record_id)
    return _result(inbox, record_id, process_sync(receiver, record, token, force))


async def areplay(receiver: InboxReceiver, record_id: str, *, force: bool = False) -> ReplayResult:
    """Async :func:`replay`."""
    inbox = inbox_of(receiver)
    refused = await asyncio.to_thread(_refused, inbox, record_id)
    if refused is not None:
        return refused
    token = new_token()
    record = await inbox.atake_id(token, record_id, replay=True)
    if record is None:
        return await asyncio.to_thread(_not_taken, inbox, record_id)
    state = await process_async(receiver, record, token, force)
    return await asyncio.to_thread(_result, inbox, record_id, state)


#: What ``replay_many`` replays by default: everything that needs a person's attention.
NEEDS_ATTENTION = (InboxState.FAILED, InboxState.QUARANTINED)


def replay_many(
    receiver: InboxReceiver,
    *,
    states: tuple[InboxState | str, ...] = NEEDS_ATTENTION,
    provider: str | None = None,
    event: str | None = None,
    limit: int | None = None,
    force: bool = False,
) -> list[ReplayResult]:
    """Replay every stored delivery matching the filter (all failed and quarantined ones by
    default), oldest first; the ones :func:`replay` refuses are in the list with why."""
    inbox = inbox_of(receiver)
    chosen = inbox.list(states=states, provider=provider, event=event, limit=limit)
    return [replay(receiver, entry.id, force=force) for entry in chosen]
