"""Processing one stored delivery: parse it again, run its handlers once, retry or give up.

:func:`process_flow` is a generator in the style of :func:`~hookreceiver.core.flow.delivery_flow`:
it reuses the provider's parser and the same claim, dispatch and complete-or-release core as a
live delivery, so the dedup rules are the same. :func:`process_sync` and :func:`process_async`
drive it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from ..core.events import DeliveryContext
from ..core.flow import Call, handle_event, parse_event, run_async, run_sync
from ..core.leases import Lease, hold, let_go
from ..core.outcome import Outcome
from ..delivery import Delivery, Headers
from ..errors import ConfigurationError, DeliveryRejected, StoreUnavailable
from .base import Inbox
from .records import InboxRecord, InboxState, describe

if TYPE_CHECKING:
    from ..core.routing import Endpoint
    from .protocols import InboxReceiver

__all__ = ["inbox_of", "new_token", "process_async", "process_flow", "process_sync"]

logger = logging.getLogger("hookreceiver")

ProcessFlow = Generator[Call, Any, InboxState]

_RETRY_LATER = {
    Outcome.IN_FLIGHT: "the event's key is being handled by another delivery",
    Outcome.STORE_UNAVAILABLE: "the dedup store is unavailable",
}


def inbox_of(receiver: InboxReceiver) -> Inbox:
    """The receiver's inbox, or a clear error when it has none."""
    inbox: Inbox | None = receiver.inbox
    if inbox is None:
        raise ConfigurationError("this receiver has no inbox: pass Receiver(inbox=...)")
    return inbox


def _endpoint(receiver: InboxReceiver, template: str) -> Endpoint | None:
    return next((e for e in receiver.router.endpoints if e.path == template), None)


def process_flow(
    receiver: InboxReceiver, record: InboxRecord, token: str, *, force: bool = False
) -> ProcessFlow:
    """Process one delivery the worker holding ``token`` has taken; returns its new state."""
    inbox = inbox_of(receiver)
    endpoint = _endpoint(receiver, record.endpoint)
    if endpoint is None:
        error = f"no endpoint {record.endpoint} is configured"
        yield from _finish(inbox, record, token, InboxState.QUARANTINED, error)
        return InboxState.QUARANTINED
    provider = endpoint.provider
    delivery = Delivery(
        record.method, record.path, record.query, Headers(record.headers), record.client
    )
    body = record.to_body()
    try:
        try:
            event = parse_event(provider, delivery, record.params, body)
        except DeliveryRejected as exc:
            logger.warning("delivery %s quarantined: %s", record.id, describe(exc))
            why, name = describe(exc), exc.event
            yield from _finish(inbox, record, token, InboxState.QUARANTINED, why, event_name=name)
            return InboxState.QUARANTINED
        ctx = DeliveryContext(
            delivery_id=record.id,
            event_name=event.name,
            provider=provider.name,
            idempotency_key=event.key,
            headers=delivery.headers,
            peer=record.client,
            raw_body=record.body,
            attachments=event.attachments or body.files,
            signed=record.signed,
            params=record.params,
            event=event,
            attempt=record.attempts,
        )
        outcome, failure = yield from handle_event(receiver, event, ctx, force=force)
    finally:
        body.close()
    named: dict[str, Any] = {"event_name": event.name, "key": event.key}
    if outcome in (Outcome.HANDLED, Outcome.DUPLICATE):
        yield from _finish(inbox, record, token, InboxState.DONE, None, **named)
        return InboxState.DONE
    error = describe(failure) if failure is not None else _RETRY_LATER.get(outcome, outcome.value)
    if failure is None or record.attempts < inbox.retry.max_attempts:
        # A busy key or a store outage is no fault of the event: it is retried, never dead.
        delay = inbox.retry.delay(record.attempts)
        logger.info(
            "delivery %s (%s) attempt %d: %s; retrying in %g s",
            record.id,
            event.name,
            record.attempts,
            error,
            delay,
        )
        yield from _finish(inbox, record, token, InboxState.PENDING, error, delay, **named)
        return InboxState.PENDING
    logger.error(
        "delivery %s (%s) failed after %d attempts: %s",
        record.id,
        event.name,
        record.attempts,
        error,
    )
    yield from _finish(inbox, record, token, InboxState.FAILED, error, **named)
    yield from _dead_letter(receiver, record, error, event.name, event.key)
    return InboxState.FAILED


def _finish(
    inbox: Inbox,
    record: InboxRecord,
    token: str,
    state: InboxState,
    error: str | None,
    retry_in: float = 0.0,
    *,
    event_name: str | None = None,
    key: str | None = None,
) -> Generator[Call, Any, None]:
    def sync() -> bool:
        return inbox.finish(
            record.id, token, state, error=error, retry_in=retry_in, event_name=event_name, key=key
        )

    async def async_() -> bool:
        return await inbox.afinish(
            record.id, token, state, error=error, retry_in=retry_in, event_name=event_name, key=key
        )

    if not (yield Call(sync, async_, ())):
        logger.warning(
            "delivery %s: lease lost before it could be marked %s (its renewals did not reach "
            "the inbox in time)",
            record.id,
            state.value,
        )


def _dead_letter(
    receiver: InboxReceiver, record: InboxRecord, error: str, event_name: str, key: str
) -> Generator[Call, Any, None]:
    if not receiver.dead_letter_handlers:
        return
    inbox = inbox_of(receiver)

    async def aget(record_id: str) -> InboxRecord | None:
        return await asyncio.to_thread(inbox.get, record_id)

    # The row as finish left it (the attempt's end, not the take's time and lease); the taken
    # record, updated here, when it cannot be read or another worker has it now.
    try:
        stored: InboxRecord | None = yield Call(inbox.get, aget, (record.id,))
    except Exception:
        stored = None
    if stored is not None and (stored.state, stored.attempts) == (
        InboxState.FAILED,
        record.attempts,
    ):
        entry = stored.entry()
    else:
        entry = record.entry()
        entry.state, entry.last_error, entry.event_name, entry.key = (
            InboxState.FAILED,
            error,
            event_name,
            key,
        )
        entry.updated_at = entry.next_attempt_at = inbox.clock()
    for spec in receiver.dead_letter_handlers:
        try:
            yield Call(spec.call_sync, spec.call_async, (entry,))
        except Exception:
            logger.exception("dead-letter handler %s failed (delivery %s)", spec.name, record.id)


def _crashed(inbox: Inbox, record: InboxRecord, token: str, exc: Exception) -> None:
    """A bug outside the handlers (a parser, a hook): count the attempt, keep the delivery."""
    logger.error("processing delivery %s failed", record.id, exc_info=exc)
    error = describe(exc)
    try:
        if record.attempts < inbox.retry.max_attempts:
            retry_in = inbox.retry.delay(record.attempts)
            inbox.finish(record.id, token, InboxState.PENDING, error=error, retry_in=retry_in)
        else:
            inbox.finish(record.id, token, InboxState.FAILED, error=error)
    except Exception:  # the inbox is down too: the lease expires and the delivery comes back
        logger.exception("could not record the failure of delivery %s", record.id)


def new_token() -> str:
    """A fresh lease token: each take gets its own, so a lost lease is told apart."""
    return secrets.token_hex(12)


class _Processing(Lease):
    """A worker's lease on a delivery it processes (renewed on the pool: the inbox is sync)."""

    __slots__ = ("inbox", "record_id", "token")

    def __init__(self, inbox: Inbox, record_id: str, token: str) -> None:
        super().__init__(inbox.lease)
        self.inbox = inbox
        self.record_id = record_id
        self.token = token

    def renew(self) -> bool | None:
        try:
            renewed = self.inbox.renew(self.record_id, self.token)
        except StoreUnavailable as exc:
            logger.warning("could not renew the lease on delivery %s: %s", self.record_id, exc)
            return None  # the inbox may be back before the lease ends
        except NotImplementedError:
            return False  # an inbox of an older interface: its leases expire as before
        if not renewed:
            logger.warning(
                "delivery %s: lease lost while its handlers ran; another worker may take it",
                self.record_id,
            )
        return renewed


def process_sync(
    receiver: InboxReceiver, record: InboxRecord, token: str, force: bool = False
) -> InboxState:
    """Process a taken delivery with blocking calls, renewing its lease meanwhile."""
    inbox = inbox_of(receiver)
    held = hold(_Processing(inbox, record.id, token))
    try:
        return run_sync(process_flow(receiver, record, token, force=force))
    except Exception as exc:
        _crashed(inbox, record, token, exc)
        return InboxState.PENDING
    finally:
        let_go(held)


async def process_async(
    receiver: InboxReceiver, record: InboxRecord, token: str, force: bool = False
) -> InboxState:
    """Process a taken delivery on the event loop, renewing its lease meanwhile."""
    inbox = inbox_of(receiver)
    held = hold(_Processing(inbox, record.id, token))
    try:
        return await run_async(process_flow(receiver, record, token, force=force))
    except Exception as exc:
        await asyncio.to_thread(_crashed, inbox, record, token, exc)
        return InboxState.PENDING
    finally:
        let_go(held)
