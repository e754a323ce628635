"""The flow of one live delivery to a known endpoint: verify, read, parse, keep or handle.

:func:`delivery_flow` is a generator of :mod:`effects <.effects>`, driven by
:func:`~.drivers.drive_sync` or :func:`~.drivers.drive_async`; it returns a
:class:`~.report.DeliveryReport`. :func:`adeliver` takes the same steps as one coroutine for
a delivery on an event loop that no trace follows step by step (no driver, no effect objects
on its common path).
Every decision about statuses lives in the helpers here and in :mod:`.handling` once; both
call them.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import time
from collections.abc import Coroutine, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..core.events import ParsedEvent
from ..core.outcome import Outcome, Response
from ..delivery import Delivery
from ..errors import (
    DeliveryRejected,
    InvalidPayload,
    MalformedBody,
    MethodNotAllowed,
    UnknownEvent,
)
from ..parsing.body import Body
from ..security.base import GuardRequest
from .drivers import T, drive_async
from .effects import Effect, Keep, ReadBody, aread_body, perform
from .handling import ahandle_now, handle_event, new_context
from .report import DeliveryReport
from .tracing import drive_async_traced

if TYPE_CHECKING:
    from ..core.events import DeliveryContext
    from ..core.protocols import ReceiverState
    from ..core.provider import ProviderProtocol
    from ..core.routing import Endpoint, Route
    from ..parsing.body import BodySink
    from .tracing import DeliveryTrace

__all__ = [
    "Flow",
    "ReceiverBug",
    "adeliver",
    "delivery_flow",
    "iter_chunks",
    "never_retries",
    "new_delivery_id",
    "parse_event",
]

logger = logging.getLogger("hookreceiver")
_blank = object.__new__

Flow = Generator[Effect[Any], None, DeliveryReport]

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
    return (next(_id_counter) & _MASK).to_bytes(8, "big").hex()  # (cheaper than a format spec)


def delivery_flow(
    receiver: ReceiverState,
    route: Route,
    delivery: Delivery,
    started: float | None = None,
    trace: DeliveryTrace | None = None,
) -> Flow:
    """The steps of one delivery to a known endpoint; returns its report. ``trace`` (a
    receiver with a tracer, driven by the traced driver) is told where verification ends and
    parsing does when it follows :attr:`~.tracing.DeliveryTrace.steps`; without steps, a
    store that does no I/O is called in place, the trace told of what fails there.

    :func:`adeliver` takes the same steps as a coroutine (a delivery on an event loop that no
    trace follows step by step); both call the helpers below, which decide.
    """
    if started is None:
        started = time.perf_counter()
    endpoint = route.endpoint
    provider = endpoint.provider
    delivery_id = new_delivery_id()
    request: GuardRequest | None = None
    body: Body | None = None
    verified = False
    phases = trace if trace is not None and trace.steps else None
    try:
        request, sink = _admit(receiver, route, delivery)
        if sink is None:
            body = Body()
        else:
            read = ReadBody(delivery.body, sink)
            yield read
            body = read.result
        _check_body(provider, request, body)
        verified = True  # from here on, a refusal is quarantined in the inbox
        if phases is not None:
            phases.phase("parse")
        event = parse_event(provider, delivery, route.params, body, live=True)
        verified = False  # refused for its event (a signed URL's forgery): nothing to keep
        for guard in provider.guards:
            guard.check_event(request, event.name, provider)
        if phases is not None:
            phases.phase(None)
    except DeliveryRejected as exc:
        return (
            yield from _refusal_flow(
                receiver, route, delivery, request, body, delivery_id, exc, verified, started
            )
        )
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
            return _accepted(endpoint, body, delivery_id, event, started)

    ctx = _context(route, delivery, request, body, event, delivery_id)
    try:
        outcome, failure = yield from handle_event(receiver, event, ctx, trace=trace)
    finally:
        body.close()
    return _handled(route, delivery, body, ctx, outcome, failure, fallback, started)


async def adeliver(
    receiver: ReceiverState,
    route: Route,
    delivery: Delivery,
    started: float,
    trace: DeliveryTrace | None = None,
) -> DeliveryReport:
    """:func:`delivery_flow` of a delivery on the running event loop, as a coroutine.

    The same steps calling the same helpers, without a generator, an effect object and a
    driver step for each: it awaits the body and the handlers itself, runs the claim and
    settle of a store that does no I/O in place, and drives the flow's generators with
    :func:`~.drivers.drive_async` only where a step is rare (keeping in the inbox, a refusal,
    a store that does I/O, a sequence). A cancellation reaches the steps it interrupts as it
    does in the driven flow.

    ``trace``: a :attr:`~.tracing.DeliveryTrace.timed` trace without
    :attr:`~.tracing.DeliveryTrace.steps` (metrics, a span without child spans), told
    exactly what :func:`~.tracing.drive_async_traced` would tell it; a trace with steps takes
    the driven flow.
    """
    endpoint = route.endpoint
    provider = endpoint.provider
    delivery_id = new_delivery_id()
    request: GuardRequest | None = None
    body: Body | None = None
    verified = False
    try:
        request, sink = _admit(receiver, route, delivery)
        if sink is None:
            body = Body()
        else:
            read_into = getattr(delivery.body, "read_into", None)
            if read_into is None:
                body = await aread_body(delivery.body, sink)
            else:  # the ASGI stream: aread_body's steps, without a coroutine around them
                try:
                    await read_into(sink)
                except DeliveryRejected:
                    raise
                except BaseException:
                    sink.abort()
                    raise
                body = sink.finish()
        _check_body(provider, request, body)
        verified = True  # (see delivery_flow)
        event = parse_event(provider, delivery, route.params, body, live=True)
        verified = False
        for guard in provider.guards:
            guard.check_event(request, event.name, provider)
    except DeliveryRejected as exc:
        refusal = _refusal_flow(
            receiver, route, delivery, request, body, delivery_id, exc, verified, started
        )
        return await _drive(refusal, trace)
    except BaseException:
        if body is not None:
            body.close()
        raise

    fallback = endpoint.ack == "inbox"
    if fallback:
        try:
            keep = _keep(receiver, endpoint, request, body, delivery_id, event, None)
            kept = await _drive(keep, trace)
        except BaseException:
            body.close()
            raise
        if kept:
            return _accepted(endpoint, body, delivery_id, event, started)

    ctx = new_context(  # (_context, without a call around it)
        event,
        delivery_id,
        provider.name,
        delivery.headers,
        request.client,
        body.raw,
        body.files,
        request.signed,
        route.params,
    )
    try:
        if receiver.store.blocking or event.sequence is not None:
            outcome, failure = await _drive(handle_event(receiver, event, ctx), trace)
        else:
            outcome, failure = await ahandle_now(receiver, event, ctx, trace)
    finally:
        body.close()
    return _handled(route, delivery, body, ctx, outcome, failure, fallback, started)


def _drive(
    flow: Generator[Effect[Any], None, T], trace: DeliveryTrace | None
) -> Coroutine[Any, Any, T]:
    """Drive one of :func:`adeliver`'s rare steps, telling ``trace`` of it when there is one."""
    return drive_async(flow) if trace is None else drive_async_traced(flow, trace)


def _admit(
    receiver: ReceiverState, route: Route, delivery: Delivery
) -> tuple[GuardRequest, BodySink | None]:
    """The checks before a byte of the body is read (the method, the guards, cheapest first);
    the request as the guards see it, and the sink to read the body into (``None``: none)."""
    endpoint = route.endpoint
    if delivery.method not in endpoint.methods:
        raise MethodNotAllowed(
            f"{delivery.method} is not accepted here", headers=endpoint.allow_header
        )
    proxies = receiver.proxies
    # GuardRequest(delivery, endpoint.path, route.params, client, None, proxies is not None),
    # built slot by slot: a third of the constructor's cost, once per delivery.
    request: GuardRequest = _blank(GuardRequest)
    request.delivery = delivery
    request.endpoint = endpoint.path
    request.params = route.params
    if proxies is None:
        request.client = delivery.peer
        request.trusted_proxies = False
    else:
        request.client = proxies.client_address(delivery)
        request.trusted_proxies = True
    request.signed = None
    provider = endpoint.provider
    for guard in provider.guards:
        guard.check(request)
    return request, provider.body_sink(delivery)


def _check_body(provider: ProviderProtocol, request: GuardRequest, body: Body) -> None:
    """The guards that read the body (a signature)."""
    for guard in provider.guards:
        if not guard.needs_body:
            continue
        if body.raw_file is None:
            guard.check_body(request, body.raw)
        else:  # multipart, spooled: in chunks, never whole in memory
            guard.check_body_stream(request, body.raw_chunks())


def _refusal_flow(
    receiver: ReceiverState,
    route: Route,
    delivery: Delivery,
    request: GuardRequest | None,
    body: Body | None,
    delivery_id: str,
    exc: DeliveryRejected,
    verified: bool,
    started: float,
) -> Generator[Effect[Any], None, DeliveryReport]:
    """A refused delivery: kept in quarantine when it was verified and something keeps it;
    its report."""
    kept = False
    try:
        if verified and body is not None and _has_keeper(receiver, route.endpoint.provider):
            assert request is not None  # (verified: the guards saw it)
            kept = yield from _keep(receiver, route.endpoint, request, body, delivery_id, None, exc)
    finally:
        if body is not None:
            body.close()
    report = _refused(receiver, delivery, route, exc, delivery_id, kept)
    report.started, report.duration = started, time.perf_counter() - started
    return report


def _accepted(
    endpoint: Endpoint, body: Body, delivery_id: str, event: ParsedEvent, started: float
) -> DeliveryReport:
    """The report of a delivery kept in the inbox for the worker."""
    body.close()
    report = _report(Outcome.ACCEPTED, endpoint.provider, endpoint, delivery_id, started)
    report.event = event.name
    return report


def _context(
    route: Route,
    delivery: Delivery,
    request: GuardRequest,
    body: Body,
    event: ParsedEvent,
    delivery_id: str,
) -> DeliveryContext:
    """The context of a live delivery's handlers."""
    return new_context(
        event,
        delivery_id,
        route.endpoint.provider.name,
        delivery.headers,
        request.client,
        body.raw,
        body.files,
        request.signed,
        route.params,
    )


def _handled(
    route: Route,
    delivery: Delivery,
    body: Body,
    ctx: DeliveryContext,
    outcome: Outcome,
    failure: Exception | None,
    fallback: bool,
    started: float,
) -> DeliveryReport:
    """The report of a delivery whose event went to the exactly-once core; ``fallback``: an
    ``ack="inbox"`` endpoint's delivery that neither the inbox nor a journal took."""
    endpoint = route.endpoint
    provider = endpoint.provider
    if fallback and outcome in _NOT_HANDLED and never_retries(provider):
        logger.error(
            "delivery %s (%s) dropped: kept neither in the inbox nor in a journal, and %s",
            ctx.delivery_id,
            ctx.event_name,
            _NOT_HANDLED[outcome],
        )
    return DeliveryReport(
        outcome,
        provider.respond(outcome),
        ctx,
        failure,
        endpoint.path,
        provider.name,
        ctx.delivery_id,
        started,
        time.perf_counter() - started,
        "http",
        None,
        delivery,  # references, for the inbox's record of a sync delivery
        body.fields,
    )


def _report(
    outcome: Outcome,
    provider: ProviderProtocol,
    endpoint: Endpoint,
    delivery_id: str,
    started: float,
) -> DeliveryReport:
    return DeliveryReport(
        outcome,
        provider.respond(outcome),
        endpoint=endpoint.path,
        provider=provider.name,
        delivery_id=delivery_id,
        started=started,
        duration=time.perf_counter() - started,
    )


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


def _has_keeper(receiver: ReceiverState, provider: ProviderProtocol) -> bool:
    """Whether a refused, verified delivery can be quarantined: an inbox, or a journal for a
    sender that never retries."""
    return receiver.inbox is not None or (receiver.journal is not None and never_retries(provider))


def _refused(
    receiver: ReceiverState,
    delivery: Delivery,
    route: Route,
    exc: DeliveryRejected,
    delivery_id: str,
    kept: bool = False,
) -> DeliveryReport:
    """The report of a refused delivery; ``kept``: it was quarantined (inbox or journal)."""
    endpoint = route.endpoint
    provider = endpoint.provider
    invalid = isinstance(exc, (InvalidPayload, UnknownEvent))
    if invalid:
        receiver.on_invalid(delivery, route, exc)
    if kept and isinstance(exc, _PAYLOAD_ERRORS) and Outcome.QUARANTINED in provider.statuses:
        # The one rule for kept payloads: the provider's declared status (Kazoo: 200, since
        # six non-200 answers in a minute disable its hook), never a 4xx for what we keep.
        response = provider.respond(Outcome.QUARANTINED)
        return _refusal(Outcome.QUARANTINED, response, exc, endpoint, delivery_id)
    logger.warning(
        "refused %s %s (%s, delivery %s): %s %s",
        delivery.method,
        endpoint.path,
        provider.name,
        delivery_id,
        exc.status,
        exc.detail,
    )
    outcome = Outcome.REJECTED
    if invalid:
        outcome = Outcome.INVALID_PAYLOAD
        status = provider.statuses.get(Outcome.INVALID_PAYLOAD, exc.status)
        if status != exc.status and not isinstance(exc, UnknownEvent):
            exc = type(exc)(exc.detail, status=status)
    elif isinstance(exc, ReceiverBug):
        outcome = Outcome.RECEIVER_ERROR
    elif kept:
        outcome = Outcome.QUARANTINED
    return _refusal(outcome, provider.reject(exc), exc, endpoint, delivery_id)


def _refusal(
    outcome: Outcome,
    response: Response,
    exc: DeliveryRejected,
    endpoint: Endpoint,
    delivery_id: str,
) -> DeliveryReport:
    return DeliveryReport(
        outcome,
        response,
        error=exc,
        endpoint=endpoint.path,
        provider=endpoint.provider.name,
        delivery_id=delivery_id,
    )


class ReceiverBug(DeliveryRejected):
    """A parse that failed with an exception that is not a refusal: a bug of the receiver's.

    It is refused like bad input, so the raw delivery is quarantined in the inbox with this
    text, but answered with the status the provider's policy gives
    :attr:`Outcome.RECEIVER_ERROR` (200 to Kazoo, 503 to Updox, 500 to the others).
    """

    error = "internal_error"  # as the last-resort 500: one code for a bug of ours


def parse_event(
    provider: ProviderProtocol,
    delivery: Delivery,
    params: Mapping[str, str],
    body: Body,
    *,
    live: bool = False,
) -> ParsedEvent:
    """The provider's parse, and the strict endpoint's refusal of undocumented events.

    ``live`` (a delivery being received): an unexpected exception becomes a
    :class:`ReceiverBug` (logged with its traceback), so the flow keeps the raw delivery and
    answers by the provider's policy instead of the last-resort 500. (The inbox worker's
    parse is not live: there a crash is an attempt, retried later.)
    """
    try:
        event = provider.parse(delivery, params, body)
    except DeliveryRejected:
        raise
    except Exception as exc:
        if not live:
            raise
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
            headers=provider.retry_headers(status),
        ) from exc
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
) -> Generator[Effect[Any], None, bool]:
    """Write a verified delivery to the inbox: pending with its event, or quarantined.

    When the inbox is unreachable (or absent) and the sender never retries, the delivery goes
    to the receiver's local journal instead, drained into the inbox by the worker later.
    Whether it was kept; if not, a pending event is handled right away (see delivery_flow).
    """
    inbox, journal = receiver.inbox, receiver.journal
    if journal is not None and not never_retries(endpoint.provider):
        journal = None
    kept_in: str | None = None
    if inbox is not None and (journal is None or not journal.bypass_inbox()):
        try:
            yield from perform(Keep(inbox, request, endpoint, body, delivery_id, event, error))
            kept_in = "the inbox"
        except Exception as exc:
            logger.error("inbox unavailable for delivery %s: %s", delivery_id, exc)
            if journal is not None:
                journal.inbox_failed()
    if kept_in is None and journal is not None:
        try:
            yield from perform(Keep(journal, request, endpoint, body, delivery_id, event, error))
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


def iter_chunks(data: bytes, size: int = 65536) -> Iterable[bytes]:
    """Split ``data`` into chunks, as a server would deliver it (tests and the inbox)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]
