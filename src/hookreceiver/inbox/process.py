"""Processing one stored delivery: parse it again, run its handlers once, retry or give up.

:func:`process_flow` is a generator of the engine's effects, like
:func:`~hookreceiver.engine.flow.delivery_flow`: it reuses the provider's parser, the same
context and the same claim, run and settle core as a live delivery, so the dedup rules are the
same, and its report goes to the same observers. :func:`process_sync` and :func:`process_async`
drive it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import traceback
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.leases import Lease, hold, let_go
from ..core.outcome import NOT_FOUND, Outcome, Response
from ..delivery import Delivery, Headers
from ..engine import DeliveryReport, drive_async, drive_sync, notify, perform
from ..engine.effects import Effect, LeaseLeft, RunCallback
from ..engine.flow import parse_event
from ..engine.handling import handle_event, new_context
from ..engine.tracing import DeliveryTrace, drive_async_traced, drive_sync_traced
from ..errors import ConfigurationError, DeliveryRejected, StoreUnavailable
from .base import Inbox
from .keeping import describe
from .records import InboxRecord, InboxState

if TYPE_CHECKING:
    from ..core.routing import Endpoint
    from .protocols import InboxReceiver

__all__ = [
    "format_traceback",
    "inbox_of",
    "new_token",
    "process_async",
    "process_flow",
    "process_sync",
]

logger = logging.getLogger("hookreceiver")

ProcessFlow = Generator[Effect[Any], None, InboxState]

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
    return receiver.router.endpoint(template)


@dataclass(slots=True)
class FinishRecord(Effect[bool]):
    """Record the end of an attempt; ``False``: the worker's lease on it was lost."""

    inbox: Inbox
    record_id: str
    token: str
    state: InboxState
    error: str | None
    retry_in: float = 0.0
    event_name: str | None = None
    key: str | None = None
    attempt: int | None = None
    started: float | None = None
    traceback: str | None = None
    give_back: bool = False

    def run(self) -> bool:
        return self.inbox.finish(
            self.record_id,
            self.token,
            self.state,
            error=self.error,
            retry_in=self.retry_in,
            event_name=self.event_name,
            key=self.key,
            attempt=self.attempt,
            started=self.started,
            traceback=self.traceback,
            give_back=self.give_back,
        )

    async def arun(self) -> bool:
        return await self.inbox.afinish(
            self.record_id,
            self.token,
            self.state,
            error=self.error,
            retry_in=self.retry_in,
            event_name=self.event_name,
            key=self.key,
            attempt=self.attempt,
            started=self.started,
            traceback=self.traceback,
            give_back=self.give_back,
        )


@dataclass(slots=True)
class ReadRecord(Effect["InboxRecord | None"]):
    """Read a stored delivery as it is now."""

    inbox: Inbox
    record_id: str

    def run(self) -> InboxRecord | None:
        return self.inbox.get(self.record_id)

    async def arun(self) -> InboxRecord | None:
        return await asyncio.to_thread(self.inbox.get, self.record_id)


def _observe(
    receiver: InboxReceiver,
    record: InboxRecord,
    outcome: Outcome,
    response: Response,
    trace: DeliveryTrace | None = None,
    **details: Any,
) -> None:
    """Hand the receiver's observers (and ``trace``) the report of one attempt (as if it had
    come live)."""
    if receiver.observers or trace is not None:
        report = DeliveryReport(
            outcome,
            response,
            endpoint=record.endpoint,
            delivery_id=record.id,
            source="inbox",
            **details,
        )
        notify(receiver.observers, report)
        if trace is not None:
            trace.reported(report)


def _retry_or_fail(inbox: Inbox, record: InboxRecord, fault: bool) -> tuple[InboxState, float]:
    """The state an attempt that did not succeed leaves its delivery in, and the delay before
    the next one. A failure that is no fault of the event (a store outage) is retried however
    many attempts it took, never dead (a busy key spends no attempt at all: see
    :func:`_key_wait`)."""
    if not fault or record.attempts < inbox.retry.max_attempts:
        return InboxState.PENDING, inbox.retry.delay(record.attempts)
    return InboxState.FAILED, 0.0


#: Past the claim's end, so the next try finds it over (clocks and round trips differ a little).
_AFTER_LEASE = 0.25


def _key_wait(
    inbox: Inbox, receiver: InboxReceiver, record: InboxRecord, lease_left: float | None
) -> float:
    """The delay before a delivery whose key another delivery holds is tried again.

    Such a try ran nothing, so it spends no attempt: it is rescheduled however long the key is
    held (the other copy's handlers may run for hours, renewing their claim). The delay grows
    with the time the delivery has waited since it arrived (half of it, at least the retry's
    first delay and a second) up to the receiver's claim lease (a dead holder's claim ends at
    most a lease after its last renewal), and is cut to just past the claim's end when the store
    tells how long it has left (``lease_left``): the delivery is handled soon after the key
    comes free.
    """
    waited = max(0.0, record.updated_at - record.received_at)  # updated_at: the take's time
    longest = max(1.0, min(float(receiver.lease), inbox.retry.max_delay))
    delay = min(longest, max(1.0, inbox.retry.first_delay, waited / 2))
    if lease_left is not None:
        delay = min(delay, max(0.0, lease_left) + _AFTER_LEASE)
    return delay


def process_flow(
    receiver: InboxReceiver,
    record: InboxRecord,
    token: str,
    *,
    force: bool = False,
    trace: DeliveryTrace | None = None,
) -> ProcessFlow:
    """Process one delivery the worker holding ``token`` has taken; returns its new state.
    ``trace`` (a receiver with a tracer) is told where parsing begins and ends."""
    inbox = inbox_of(receiver)
    endpoint = _endpoint(receiver, record.endpoint)
    if endpoint is None:
        error = f"no endpoint {record.endpoint} is configured"
        yield from _finish(inbox, record, token, InboxState.QUARANTINED, error)
        _observe(receiver, record, Outcome.QUARANTINED, NOT_FOUND, trace)
        return InboxState.QUARANTINED
    if record.not_replayable is not None:  # requeued anyway: its handlers ran once, for good
        why = f"not replayed: {record.not_replayable}"
        logger.warning("delivery %s %s", record.id, why)
        yield from _finish(inbox, record, token, InboxState.DONE, why)
        return InboxState.DONE
    provider = endpoint.provider
    delivery = Delivery(
        record.method, record.path, record.query, Headers(record.headers), record.client
    )
    body = record.to_body()
    try:
        try:
            if trace is not None:
                trace.phase("parse")
            event = parse_event(provider, delivery, record.params, body)
            if trace is not None:
                trace.phase(None)
        except DeliveryRejected as exc:
            logger.warning("delivery %s quarantined: %s", record.id, describe(exc))
            why, name = describe(exc), exc.event
            yield from _finish(inbox, record, token, InboxState.QUARANTINED, why, event_name=name)
            response = provider.reject(exc)
            details = {"error": exc, "provider": provider.name}
            _observe(receiver, record, Outcome.QUARANTINED, response, trace, **details)
            return InboxState.QUARANTINED
        ctx = new_context(
            event,
            delivery_id=record.id,
            provider=provider.name,
            headers=delivery.headers,
            client=record.client,
            raw_body=record.body,
            files=body.files,
            signed=record.signed,
            params=record.params,
            attempt=record.attempts,
        )
        outcome, failure = yield from handle_event(receiver, event, ctx, force=force)
    finally:
        body.close()
    details = {"context": ctx, "error": failure, "provider": provider.name}
    _observe(receiver, record, outcome, provider.respond(outcome), trace, **details)
    named: dict[str, Any] = {"event_name": event.name, "key": event.key}
    if outcome in (Outcome.HANDLED, Outcome.DUPLICATE):
        yield from _finish(inbox, record, token, InboxState.DONE, None, **named)
        return InboxState.DONE
    error = describe(failure) if failure is not None else _RETRY_LATER.get(outcome, outcome.value)
    if outcome is Outcome.IN_FLIGHT:
        # Nothing ran and nothing failed: wait for the key without spending the retry budget.
        try:
            left = yield from perform(LeaseLeft(receiver.store, event.key))
        except Exception:  # the store cannot say now: the backoff alone times the next try
            left = None
        delay = _key_wait(inbox, receiver, record, left)
        logger.info(
            "delivery %s (%s): %s; trying again in %g s (no attempt counted)",
            record.id,
            event.name,
            error,
            delay,
        )
        yield from _finish(inbox, record, token, InboxState.PENDING, error, delay, True, **named)
        return InboxState.PENDING
    named["traceback"] = format_traceback(failure)
    state, delay = _retry_or_fail(inbox, record, fault=failure is not None)
    if state is InboxState.PENDING:
        logger.info(
            "delivery %s (%s) attempt %d: %s; retrying in %g s",
            record.id,
            event.name,
            record.attempts,
            error,
            delay,
        )
        yield from _finish(inbox, record, token, state, error, delay, **named)
        return state
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
    give_back: bool = False,
    *,
    event_name: str | None = None,
    key: str | None = None,
    traceback: str | None = None,
) -> Generator[Effect[Any], None, None]:
    finish = FinishRecord(
        inbox,
        record.id,
        token,
        state,
        error,
        retry_in,
        event_name,
        key,
        attempt=record.attempts,
        started=record.updated_at,  # the take's time
        traceback=traceback,
        give_back=give_back,
    )
    if not (yield from perform(finish)):
        logger.warning(
            "delivery %s: lease lost before it could be marked %s (its renewals did not reach "
            "the inbox in time)",
            record.id,
            state.value,
        )


def _dead_letter(
    receiver: InboxReceiver, record: InboxRecord, error: str, event_name: str, key: str
) -> Generator[Effect[Any], None, None]:
    if not receiver.dead_letter_handlers:
        return
    inbox = inbox_of(receiver)
    # The row as finish left it (the attempt's end, not the take's time and lease); the taken
    # record, updated here, when it cannot be read or another worker has it now.
    try:
        stored = yield from perform(ReadRecord(inbox, record.id))
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
            yield from perform(RunCallback(spec, (entry,)))
        except Exception:
            logger.exception("dead-letter handler %s failed (delivery %s)", spec.name, record.id)


def _crashed(inbox: Inbox, record: InboxRecord, token: str, exc: Exception) -> None:
    """A bug outside the handlers (a parser, a hook): count the attempt, keep the delivery."""
    logger.error("processing delivery %s failed", record.id, exc_info=exc)
    error = describe(exc)
    try:
        state, retry_in = _retry_or_fail(inbox, record, fault=True)
        inbox.finish(
            record.id,
            token,
            state,
            error=error,
            retry_in=retry_in,
            attempt=record.attempts,
            started=record.updated_at,
            traceback=format_traceback(exc),
        )
    except Exception:  # the inbox is down too: the lease expires and the delivery comes back
        logger.exception("could not record the failure of delivery %s", record.id)


def format_traceback(error: BaseException | None) -> str | None:
    """The traceback of a handler's exception, as the attempts history keeps it (at most
    about 20,000 characters: the innermost frames are the ones kept)."""
    if error is None or error.__traceback__ is None:
        return None
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return text if len(text) <= 20000 else "...\n" + text[-20000:]


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
        if not renewed and not self._finished():
            logger.warning(
                "delivery %s: lease lost while its handlers ran; another worker may take it",
                self.record_id,
            )
        return renewed

    def _finished(self) -> bool:
        """Whether the renewal came after the attempt had ended (its finish won the race
        with this tick of the renewals): no other worker holds the delivery."""
        try:
            record = self.inbox.get(self.record_id)
        except Exception:
            return False
        return record is not None and record.state is not InboxState.PROCESSING


def process_sync(
    receiver: InboxReceiver, record: InboxRecord, token: str, force: bool = False
) -> InboxState:
    """Process a taken delivery with blocking calls, renewing its lease meanwhile."""
    inbox = inbox_of(receiver)
    held = hold(_Processing(inbox, record.id, token))
    tracer, trace = receiver.tracer, None
    try:
        if tracer is None:
            return drive_sync(process_flow(receiver, record, token, force=force))
        endpoint = _endpoint(receiver, record.endpoint)
        trace = tracer.start(None, endpoint, source="inbox", link=record.traceparent)
        flow = process_flow(receiver, record, token, force=force, trace=trace)
        state = drive_sync_traced(flow, trace)
        trace.end(None)
        return state
    except Exception as exc:
        if trace is not None:
            trace.end(None, exc)
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
    tracer, trace = receiver.tracer, None
    try:
        if tracer is None:
            return await drive_async(process_flow(receiver, record, token, force=force))
        endpoint = _endpoint(receiver, record.endpoint)
        trace = tracer.start(None, endpoint, source="inbox", link=record.traceparent)
        flow = process_flow(receiver, record, token, force=force, trace=trace)
        state = await drive_async_traced(flow, trace)
        trace.end(None)
        return state
    except Exception as exc:
        if trace is not None:
            trace.end(None, exc)
        await asyncio.to_thread(_crashed, inbox, record, token, exc)
        return InboxState.PENDING
    finally:
        let_go(held)
