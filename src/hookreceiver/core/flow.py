"""The flow of one delivery, written once for sync and async callers.

:func:`delivery_flow` is a generator: wherever it needs I/O (read the body, talk to the store,
call a handler) it yields a :class:`Call` holding both the sync and the async way of doing it,
and receives the result (or has the exception thrown in). :func:`run_sync` drives it from a WSGI
thread, :func:`run_async` from an event loop. The steps themselves, and every decision about
statuses, live here once.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import secrets
from collections.abc import AsyncIterable, Awaitable, Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from ..delivery import BodySource, Delivery
from ..errors import (
    DeliveryRejected,
    InvalidPayload,
    MalformedBody,
    StoreUnavailable,
    UnknownEvent,
)
from ..parsing.body import Body, BodySink
from ..security.base import GuardRequest
from ..stores.base import Claim, ClaimState
from .events import DeliveryContext, ParsedEvent
from .leases import hold_claim, let_go
from .outcome import Outcome, Response

if TYPE_CHECKING:
    from .protocols import ReceiverState
    from .provider import ProviderProtocol
    from .routing import Endpoint, Route

__all__ = [
    "Call",
    "Flow",
    "ReceiverBug",
    "delivery_flow",
    "handle_event",
    "never_retries",
    "new_delivery_id",
    "parse_event",
    "run_async",
    "run_sync",
]

logger = logging.getLogger("hookreceiver")


class Call(NamedTuple):
    """One piece of I/O the flow needs, in both flavours."""

    sync: Callable[..., Any]
    async_: Callable[..., Awaitable[Any]]
    args: tuple[Any, ...]


Flow = Generator[Call, Any, Response]
T = TypeVar("T")


def run_sync(flow: Generator[Call, Any, T]) -> T:
    """Drive a flow with blocking I/O."""
    value: Any = None
    error: Exception | None = None
    while True:
        try:
            call = flow.send(value) if error is None else flow.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        try:
            value, error = call.sync(*call.args), None
        except Exception as exc:  # handed back to the flow, which decides
            value, error = None, exc


async def run_async(flow: Generator[Call, Any, T]) -> T:
    """Drive a flow on an event loop.

    A cancellation (the server gave up on the request, or is shutting down) is thrown into the
    flow too, so that it can give back what it holds (a claim) before it propagates.
    """
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            call = flow.send(value) if error is None else flow.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        try:
            value, error = await call.async_(*call.args), None
        except Exception as exc:
            value, error = None, exc
        except asyncio.CancelledError as exc:
            value, error = None, exc


# Delivery ids: a random 64-bit start per process plus a counter, 16 hex digits as before. Two
# processes (or hosts) collide only if their ranges overlap: odds of (n1 + n2) in 2**64, without
# an os.urandom call per request. A forked child draws its own start.
_MASK = (1 << 64) - 1
_id_counter = itertools.count(secrets.randbits(64))


def _new_id_start() -> None:
    global _id_counter
    _id_counter = itertools.count(secrets.randbits(64))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_id_start)


def new_delivery_id() -> str:
    """A delivery id unique across processes: 16 hex digits."""
    return f"{next(_id_counter) & _MASK:016x}"


# Body reading ----------------------------------------------------------------------------------


def _read_sync(source: BodySource, sink: BodySink) -> Body:
    try:
        if isinstance(source, (bytes, bytearray)):
            if source:
                sink.feed(bytes(source))
        else:
            for chunk in source:  # type: ignore[union-attr]
                if chunk:
                    sink.feed(chunk)
    except DeliveryRejected:
        raise
    except BaseException:
        sink.abort()
        raise
    return sink.finish()


async def _read_async(source: BodySource, sink: BodySink) -> Body:
    if type(source) is bytes or not isinstance(source, AsyncIterable):
        return _read_sync(source, sink)
    read_into = getattr(source, "read_into", None)
    try:
        if read_into is not None:  # the ASGI stream feeds the sink without async iteration
            await read_into(sink)
        else:
            async for chunk in source:
                if chunk:
                    sink.feed(chunk)
    except DeliveryRejected:
        raise
    except BaseException:
        sink.abort()
        raise
    return sink.finish()


def _read_call(source: BodySource, sink: BodySink) -> Call:
    return Call(_read_sync, _read_async, (source, sink))


# The flow --------------------------------------------------------------------------------------


def delivery_flow(receiver: ReceiverState, route: Route, delivery: Delivery) -> Flow:
    """The steps of one delivery to a known endpoint; returns the response to send."""
    endpoint = route.endpoint
    provider = endpoint.provider
    delivery_id = new_delivery_id()
    body: Body | None = None
    parsing = False
    try:
        if delivery.method not in endpoint.methods:
            raise DeliveryRejected(
                f"{delivery.method} is not accepted here",
                status=405,
                error="method_not_allowed",
                headers=endpoint.allow_header,
            )
        # Guards: cheapest first, before a byte of the body is read.
        request = GuardRequest(
            delivery,
            endpoint.path,
            route.params,
            receiver.client_address(delivery),
            trusted_proxies=receiver.proxies is not None,
        )
        for guard in provider.guards:
            guard.check(request)
        sink = provider.body_sink(delivery)
        body = Body() if sink is None else (yield _read_call(delivery.body, sink))
        assert body is not None
        for guard in provider.guards:
            if not guard.needs_body:
                continue
            if body.raw_file is None:
                guard.check_body(request, body.raw)
            else:  # multipart, spooled: in chunks, never whole in memory
                guard.check_body_stream(request, body.raw_chunks())
        parsing = True  # verified: from here on, a refusal is quarantined in the inbox
        event = _parse_or_bug(provider, delivery, route.params, body)
        parsing = False  # refused for its event (a signed URL's forgery): nothing to keep
        for guard in provider.guards:
            guard.check_event(request, event.name, provider)
    except DeliveryRejected as exc:
        kept = False
        try:
            keeper = receiver.inbox is not None or (
                receiver.journal is not None and never_retries(provider)
            )
            if parsing and keeper and body is not None:
                kept = yield from _keep(receiver, endpoint, request, body, delivery_id, None, exc)
        finally:
            if body is not None:
                body.close()
        return _refused(receiver, delivery, route, exc, delivery_id, kept)
    except BaseException:
        if body is not None:
            body.close()
        raise

    fallback = endpoint.ack == "inbox"  # past the block below: neither inbox nor journal took it
    if fallback:
        try:
            kept = yield from _keep(receiver, endpoint, request, body, delivery_id, event, None)
        except BaseException:
            body.close()
            raise
        if kept:
            body.close()
            return provider.respond(Outcome.ACCEPTED)

    ctx = DeliveryContext(
        delivery_id=delivery_id,
        event_name=event.name,
        provider=provider.name,
        idempotency_key=event.key,
        headers=delivery.headers,
        peer=request.client,
        raw_body=body.raw,
        attachments=event.attachments or body.files,
        signed=request.signed,
        params=route.params,
        event=event,
    )
    try:
        outcome, _ = yield from handle_event(receiver, event, ctx)
    finally:
        body.close()
    if fallback and outcome in _NOT_HANDLED and never_retries(provider):
        logger.error(
            "delivery %s (%s) dropped: kept neither in the inbox nor in a journal, and %s",
            delivery_id,
            event.name,
            _NOT_HANDLED[outcome],
        )
    return provider.respond(outcome)


#: Outcomes of a delivery handled at once that leave it to the sender's retry.
_NOT_HANDLED = {
    Outcome.HANDLER_FAILED: "its handler failed",
    Outcome.STORE_UNAVAILABLE: "the dedup store is unavailable",
}
#: Refusals of a verified delivery for its payload: what quarantine keeps.
_PAYLOAD_ERRORS = (MalformedBody, InvalidPayload, UnknownEvent)


def never_retries(provider: ProviderProtocol) -> bool:
    """Whether ``provider``'s sender never retries a delivery we did not take (Kazoo)."""
    return provider.default_ack == "inbox" or not provider.retries


def _refused(
    receiver: ReceiverState,
    delivery: Delivery,
    route: Route,
    exc: DeliveryRejected,
    delivery_id: str,
    kept: bool = False,
) -> Response:
    """The answer to a refused delivery; ``kept``: it was quarantined (inbox or journal)."""
    provider = route.endpoint.provider
    if isinstance(exc, (InvalidPayload, UnknownEvent)):
        receiver.on_invalid(delivery, route, exc)
    if kept and isinstance(exc, _PAYLOAD_ERRORS) and Outcome.QUARANTINED in provider.statuses:
        # The one rule for kept payloads: the provider's declared status (Kazoo: 200, since
        # six non-200 answers in a minute disable its hook), never a 4xx for what we keep.
        return provider.respond(Outcome.QUARANTINED)
    logger.warning(
        "refused %s %s (%s, delivery %s): %s %s",
        delivery.method,
        route.endpoint.path,
        provider.name,
        delivery_id,
        exc.status,
        exc.detail,
    )
    if isinstance(exc, (InvalidPayload, UnknownEvent)):
        status = provider.statuses.get(Outcome.INVALID_PAYLOAD, exc.status)
        if status != exc.status and not isinstance(exc, UnknownEvent):
            exc = type(exc)(exc.detail, status=status)
    return provider.reject(exc)


class ReceiverBug(DeliveryRejected):
    """A parse that failed with an exception that is not a refusal: a bug of the receiver's.

    It is refused like bad input, so the raw delivery is quarantined in the inbox with this
    text, but answered with the status the provider's policy gives
    :attr:`Outcome.RECEIVER_ERROR` (200 to Kazoo, 503 to Updox, 500 to the others).
    """

    error = "internal_error"  # as the adapters' last-resort 500: one code for a bug of ours


def _parse_or_bug(
    provider: ProviderProtocol, delivery: Delivery, params: Mapping[str, str], body: Body
) -> ParsedEvent:
    """:func:`parse_event` for a delivery being received: an unexpected exception becomes a
    :class:`ReceiverBug` (logged with its traceback), so the flow keeps the raw delivery and
    answers by the provider's policy instead of letting the adapter answer 500. (The inbox
    worker calls ``parse_event`` itself: there a crash is an attempt, retried later.)"""
    try:
        return parse_event(provider, delivery, params, body)
    except DeliveryRejected:
        raise
    except Exception as exc:
        logger.exception(
            "receiver bug while parsing %s %s (%s): %s",
            delivery.method,
            delivery.path,
            provider.name,
            type(exc).__name__,
        )
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        status = provider.statuses.get(Outcome.RECEIVER_ERROR, 500)
        raise ReceiverBug(
            f"the receiver failed while parsing this delivery ({type(exc).__name__}"
            f"{': ' + first if first else ''}); see its log",
            status=status,
            headers=provider._retry_after(status),
        ) from exc


def parse_event(
    provider: ProviderProtocol, delivery: Delivery, params: Mapping[str, str], body: Body
) -> ParsedEvent:
    """The provider's parse, and the strict endpoint's refusal of undocumented events."""
    event = provider.parse(delivery, params, body)
    if event.name not in provider.events and provider.strict:
        message = f"event {event.name!r} is not one {provider.name} documents"
        raise UnknownEvent(message, event=event.name)
    return event


def _keep(
    receiver: ReceiverState,
    endpoint: Endpoint,
    request: GuardRequest,
    body: Body,
    delivery_id: str,
    event: ParsedEvent | None,
    error: DeliveryRejected | None,
) -> Generator[Call, Any, bool]:
    """Write a verified delivery to the inbox: pending with its event, or quarantined.

    When the inbox is unreachable (or absent) and the sender never retries, the delivery goes
    to the receiver's local journal instead, drained into the inbox by the worker later.
    Whether it was kept; if not, a pending event is handled right away (see delivery_flow).
    """
    inbox, journal = receiver.inbox, receiver.journal
    if journal is not None and not never_retries(endpoint.provider):
        journal = None
    args = (request, endpoint, body, delivery_id, event, error)
    kept_in: str | None = None
    if inbox is not None and (journal is None or not journal.bypass_inbox()):
        try:
            yield Call(inbox.keep, inbox.akeep, args)
            kept_in = "the inbox"
        except Exception as exc:
            logger.error("inbox unavailable for delivery %s: %s", delivery_id, exc)
            if journal is not None:
                journal.inbox_failed()
    if kept_in is None and journal is not None:
        try:
            yield Call(journal.keep, journal.akeep, args)
            kept_in = f"the journal {journal.directory}"
            logger.warning("delivery %s kept in %s until the inbox takes it", delivery_id, kept_in)
        except Exception as exc:
            logger.error("journal unwritable for delivery %s: %s", delivery_id, exc)
    if kept_in is None:
        if error is not None:  # refused with its 4xx: no sender sends it again
            logger.error("delivery %s dropped: could not quarantine it", delivery_id)
        return False
    if error is not None:
        logger.warning(
            "quarantined delivery %s (%s): %s (in %s)", delivery_id, endpoint.path, error, kept_in
        )
    return True


def handle_event(
    receiver: ReceiverState, event: ParsedEvent, ctx: DeliveryContext, *, force: bool = False
) -> Generator[Call, Any, tuple[Outcome, Exception | None]]:
    """Claim the key, run the handlers, complete or release: the exactly-once core.

    Returns the outcome and the handler's exception when one failed. ``force`` (an explicit
    replay) runs the handlers even when the key is already handled or in flight, without
    touching the store's record of it.
    """
    store = receiver.store
    inline = not store.blocking  # a store without I/O is called straight from the event loop
    if not force and event.key in receiver.pending_completions:
        # Handled here, and its completion waits for the store to be back: the store cannot
        # answer for it yet, this process can.
        logger.info(
            "duplicate done %s (%s, delivery %s): handled, its completion waits for the store",
            ctx.event_name,
            event.key,
            ctx.delivery_id,
        )
        return Outcome.DUPLICATE, None
    if event.sequence is not None and not event.final and not force:
        if (yield from _sequence_ended(receiver, event.sequence)):
            logger.info(
                "stale %s (%s, delivery %s): its series already ended with a final event",
                ctx.event_name,
                event.key,
                ctx.delivery_id,
            )
            return Outcome.DUPLICATE, None
    try:
        if inline:
            claim: Claim = store.claim(event.key, receiver.lease)
        else:
            claim = yield Call(store.claim, store.aclaim, (event.key, receiver.lease))
    except StoreUnavailable as exc:
        logger.error(
            "store unavailable for %s (delivery %s): %s", ctx.event_name, ctx.delivery_id, exc
        )
        if not force:
            return Outcome.STORE_UNAVAILABLE, None
        claim = Claim(ClaimState.IN_FLIGHT)
    if claim.state is not ClaimState.NEW and force:
        logger.warning("forced replay of %s (delivery %s)", ctx.event_name, ctx.delivery_id)
        failure = yield from _dispatch(receiver, event, ctx)
        return (Outcome.HANDLED, None) if failure is None else (Outcome.HANDLER_FAILED, failure)
    if claim.state is not ClaimState.NEW:
        logger.info(
            "duplicate %s %s (%s, delivery %s)",
            claim.state.value,
            ctx.event_name,
            event.key,
            ctx.delivery_id,
        )
        return (Outcome.DUPLICATE if claim.state is ClaimState.DONE else Outcome.IN_FLIGHT), None
    assert claim.token is not None
    # Renewed while the handlers run, so a slow one is not taken over by a copy of its event.
    held = hold_claim(store, event.key, claim.token, receiver.lease, ctx.delivery_id)
    try:
        failure = yield from _dispatch(receiver, event, ctx)
    except asyncio.CancelledError:
        # Cancelled inside the handlers. Cancelling an async handler stops it: then the claim
        # is given back, so the sender's retry is handled now rather than after the lease. A
        # sync handler goes on in its thread whatever happens here, so while the event has one
        # its claim is kept until the lease ends.
        if all(spec.is_async for spec, _ in receiver.handlers.resolve(event)):
            logger.warning(
                "cancelled while handling %s (delivery %s): claim released",
                ctx.event_name,
                ctx.delivery_id,
            )
            try:
                yield from _store_call(receiver, "release", event.key, claim.token)
            except StoreUnavailable:
                pass  # the lease expires on its own
        raise
    finally:
        let_go(held)
    try:
        if failure is None:
            if inline:
                kept = store.complete(event.key, claim.token, receiver.retain_for)
            else:
                kept = yield Call(
                    store.complete, store.acomplete, (event.key, claim.token, receiver.retain_for)
                )
        elif inline:
            kept = store.release(event.key, claim.token)
        else:
            kept = yield Call(store.release, store.arelease, (event.key, claim.token))
        if kept is False:
            # The lease ran out during the handlers although it was renewed (the renewals did
            # not reach the store, or the process stalled) and another worker took the key.
            logger.warning(
                "lease on %s ran out before its handlers finished (delivery %s): its renewals "
                "did not reach the store in time; another worker may have run them too",
                event.key,
                ctx.delivery_id,
            )
    except StoreUnavailable as exc:
        # The handlers ran: answer by their result. A success is kept and recorded once the
        # store is back (a late complete wins over an expired claim nobody took over), so the
        # sender's retry does not run them again; a failure's claim just expires.
        logger.error(
            "store unavailable after handling %s (delivery %s): %s%s",
            ctx.event_name,
            ctx.delivery_id,
            exc,
            "; its completion is retried in the background" if failure is None else "",
        )
        if failure is None:
            pending = receiver.pending_completions
            args = (store, event.key, claim.token, receiver.retain_for, ctx.delivery_id)
            yield Call(pending.add, pending.aadd, args)
    if failure is not None:
        return Outcome.HANDLER_FAILED, failure
    if event.sequence is not None and event.final:
        yield from _end_sequence(receiver, event.sequence, ctx.delivery_id)
    receiver.log_handled(ctx)
    return Outcome.HANDLED, None


def _store_call(receiver: ReceiverState, method: str, *args: Any) -> Generator[Call, Any, Any]:
    """One store call: made inline for a store without I/O, else handed to the driver."""
    store = receiver.store
    if not store.blocking:
        return getattr(store, method)(*args)
    return (yield Call(getattr(store, method), getattr(store, f"a{method}"), args))


def _sequence_ended(receiver: ReceiverState, sequence: str) -> Generator[Call, Any, bool]:
    """Whether a final event of ``sequence`` has been handled (its marker key is done).

    The marker is read the only way a store can be read: by claiming it, and releasing the
    claim at once when it was free. A store that is down counts as "not ended": the event's
    own claim then meets the outage and answers it.
    """
    marker = f"{sequence}:final"
    try:
        claim: Claim = yield from _store_call(receiver, "claim", marker, receiver.lease)
        if claim.state is ClaimState.NEW:
            assert claim.token is not None
            yield from _store_call(receiver, "release", marker, claim.token)
    except StoreUnavailable:
        return False
    return claim.state is ClaimState.DONE


def _end_sequence(
    receiver: ReceiverState, sequence: str, delivery_id: str
) -> Generator[Call, Any, None]:
    """Mark ``sequence`` ended, for as long as handled keys are kept."""
    marker = f"{sequence}:final"
    try:
        claim: Claim = yield from _store_call(receiver, "claim", marker, receiver.lease)
        if claim.state is ClaimState.NEW:
            assert claim.token is not None
            yield from _store_call(receiver, "complete", marker, claim.token, receiver.retain_for)
        elif claim.state is ClaimState.IN_FLIGHT:
            # Another delivery of the series was reading the marker at this very moment.
            logger.warning(
                "could not mark %s ended (delivery %s): a late non-final event of it may still "
                "be handled",
                sequence,
                delivery_id,
            )
    except StoreUnavailable as exc:
        logger.error(
            "store unavailable marking %s ended (delivery %s): %s", sequence, delivery_id, exc
        )


def _dispatch(
    receiver: ReceiverState, event: ParsedEvent, ctx: DeliveryContext
) -> Generator[Call, Any, Exception | None]:
    """Run each handler in order; the first failure stops the rest and goes to error handlers."""
    for spec, normalized in receiver.handlers.resolve(event):
        argument = event.normalized if normalized else event.model
        try:
            yield Call(spec.call_sync, spec.acall, (argument, ctx))
        except Exception as exc:
            logger.error(
                "handler %s failed for %s (delivery %s)",
                spec.name,
                ctx.event_name,
                ctx.delivery_id,
                exc_info=exc,
            )
            for on_error in receiver.handlers.error_handlers:
                try:
                    yield Call(on_error.call_sync, on_error.call_async, (exc, ctx))
                except Exception:
                    logger.exception(
                        "error handler %s failed (delivery %s)", on_error.name, ctx.delivery_id
                    )
            return exc
    return None


def iter_chunks(data: bytes, size: int = 65536) -> Iterable[bytes]:
    """Split ``data`` into chunks, as a server would deliver it (tests and the inbox)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]
