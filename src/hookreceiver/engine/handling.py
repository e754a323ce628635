"""The exactly-once core, in three steps: claim the event's key, run its handlers, settle.

Shared by live deliveries (:mod:`.flow`) and the inbox worker, so the dedup rules are the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Generator, Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Any

from ..core.events import DeliveryContext, ParsedEvent
from ..core.leases import hold_claim, let_go
from ..core.outcome import Outcome
from ..errors import StoreUnavailable
from ..stores.base import Claim, ClaimState
from .drivers import drive_async
from .effects import (
    ClaimKey,
    CompleteKey,
    DeferCompletion,
    Effect,
    ReleaseKey,
    RunCallback,
    RunHandler,
    perform,
)
from .tracing import drive_async_traced

if TYPE_CHECKING:
    from ..core.protocols import ReceiverState
    from ..delivery import Headers
    from ..parsing.attachment import Attachment
    from .tracing import DeliveryTrace

__all__ = ["ahandle_now", "handle_event", "new_context"]

logger = logging.getLogger("hookreceiver")
_NEW = ClaimState.NEW
# An enum member looked up on its class costs a descriptor call each time: the hot returns
# use this, taken once.
_SUCCEEDED: tuple[Outcome, None] = (Outcome.HANDLED, None)


def new_context(
    event: ParsedEvent,
    delivery_id: str,
    provider: str,
    headers: Headers,
    client: str | None,
    raw_body: bytes,
    files: list[Attachment],
    signed: Mapping[str, Any] | None,
    params: Mapping[str, str],
    attempt: int = 1,
) -> DeliveryContext:
    """The context handlers receive, for a live delivery and a stored one alike (the live
    flow passes its arguments in order: a keyword call costs more)."""
    return DeliveryContext(  # positional, in the order of its fields: once per delivery
        delivery_id,
        event.name,
        provider,
        event.key,
        headers,
        client,
        raw_body,
        event.attachments or files,
        signed,
        params,
        event,
        attempt,
    )


def handle_event(
    receiver: ReceiverState,
    event: ParsedEvent,
    ctx: DeliveryContext,
    *,
    force: bool = False,
    trace: DeliveryTrace | None = None,
) -> Generator[Effect[Any], None, tuple[Outcome, Exception | None]]:
    """Claim the key, run the handlers, complete or release: the exactly-once core.

    Returns the outcome and the handler's exception when one failed. ``force`` (an explicit
    replay) runs the handlers even when the key is already handled or in flight, without
    touching the store's record of it. ``trace``: the delivery's trace, when the traced
    driver drives this (see below).
    """
    store = receiver.store
    if (
        not store.blocking
        and event.sequence is None
        and not force
        and (receiver.tracer is None or (trace is not None and not trace.steps))
    ):
        # The fast path of the memory store, untraced or traced without steps: its claim and
        # settle are called here as either driver would run their effects (no I/O), without
        # an effect object, a generator and a driver step each; a timed trace is told of
        # what fails here as the traced driver would tell it. The same helpers decide.
        told = trace if trace is not None and trace.timed else None
        claimed = _claim_now(receiver, event, ctx, told)
        if isinstance(claimed, Outcome):
            return claimed, None
        token = claimed.token
        assert token is not None
        failure = yield from _dispatch(receiver, event, ctx, token)
        down = _settle_now(receiver, event, ctx, token, failure)
        if down is not None:
            if told is not None:
                told.failed(_settle_effect(receiver, event, token, failure), down)
            yield from _settle_failed(receiver, event, ctx, token, failure, down)
        return _SUCCEEDED if failure is None else (Outcome.HANDLER_FAILED, failure)
    claimed = yield from _claim(receiver, event, ctx, force)
    if isinstance(claimed, Outcome):
        return claimed, None
    if claimed.state is not ClaimState.NEW:  # only when forced
        logger.warning("forced replay of %s (delivery %s)", ctx.event_name, ctx.delivery_id)
        failure = yield from _dispatch(receiver, event, ctx, None)
        return _SUCCEEDED if failure is None else (Outcome.HANDLER_FAILED, failure)
    token = claimed.token
    assert token is not None
    failure = yield from _dispatch(receiver, event, ctx, token)
    yield from _settle(receiver, event, ctx, token, failure)
    if failure is not None:
        return Outcome.HANDLER_FAILED, failure
    if event.sequence is not None and event.final:
        yield from _end_sequence(receiver, event.sequence, ctx.delivery_id)
    return _SUCCEEDED


async def ahandle_now(
    receiver: ReceiverState,
    event: ParsedEvent,
    ctx: DeliveryContext,
    trace: DeliveryTrace | None = None,
) -> tuple[Outcome, Exception | None]:
    """:func:`handle_event`'s fast path as a coroutine, for a delivery on an event loop whose
    event has no sequence and whose store does no I/O (the caller checks): the claim and
    settle called in place, each handler awaited here, the same helpers deciding. Only a store
    outage at the settle and the error handlers are driven as effects.

    ``trace``: a :attr:`~.tracing.DeliveryTrace.timed` trace without steps, told what the
    timed driver would tell it (each handler's duration, each store call that failed).
    """
    claimed = _claim_now(receiver, event, ctx, trace)
    if isinstance(claimed, Outcome):
        return claimed, None
    token = claimed.token
    assert token is not None
    # _dispatch, each handler awaited here (one coroutine for the whole core, not two).
    store = receiver.store
    failure: Exception | None = None
    held = hold_claim(store, event.key, token, receiver.lease, ctx.delivery_id)
    try:
        for spec, normalized in receiver.handlers.resolve(event):
            argument = event.normalized if normalized else event.model
            try:
                if trace is None:
                    await spec.acall(argument, ctx)
                else:  # timed as the timed driver times it (a cancellation too)
                    began = perf_counter()
                    try:
                        await spec.acall(argument, ctx)
                    except (Exception, asyncio.CancelledError) as exc:
                        ran = RunHandler(spec, argument, ctx)
                        trace.ran(ran, perf_counter() - began, exc)
                        raise
                    trace.ran(RunHandler(spec, argument, ctx), perf_counter() - began, None)
            except Exception as exc:
                errors = _on_error(receiver, spec.name, exc, ctx)
                await (drive_async(errors) if trace is None else drive_async_traced(errors, trace))
                failure = exc
                break
    except asyncio.CancelledError:
        if _release_on_cancel(receiver, event, ctx):
            try:
                store.release(event.key, token)  # (no I/O: called in place)
            except StoreUnavailable as exc:
                if trace is not None:
                    trace.failed(ReleaseKey(store, event.key, token), exc)
                # the lease expires on its own
        raise
    finally:
        let_go(held)
    down = _settle_now(receiver, event, ctx, token, failure)
    if down is not None:
        settle = _settle_failed(receiver, event, ctx, token, failure, down)
        if trace is None:
            await drive_async(settle)
        else:
            trace.failed(_settle_effect(receiver, event, token, failure), down)
            await drive_async_traced(settle, trace)
    return _SUCCEEDED if failure is None else (Outcome.HANDLER_FAILED, failure)


def _settle_effect(
    receiver: ReceiverState, event: ParsedEvent, token: str, failure: Exception | None
) -> Effect[bool]:
    """The settle called in place, as the effect the traced driver would have run (to tell a
    trace that it failed)."""
    store = receiver.store
    if failure is None:
        return CompleteKey(store, event.key, token, receiver.retain_for)
    return ReleaseKey(store, event.key, token)


def _claim(
    receiver: ReceiverState, event: ParsedEvent, ctx: DeliveryContext, force: bool
) -> Generator[Effect[Any], None, Claim | Outcome]:
    """The event's claim, or the outcome that ends the delivery here (a duplicate, an outage).
    Forced, the claim may be done or in flight: the handlers run all the same."""
    if not force and event.key in receiver.pending_completions:
        return _pending_duplicate(event, ctx)
    if event.sequence is not None and not event.final and not force:
        if (yield from _sequence_ended(receiver, event.sequence)):
            logger.info(
                "stale %s (%s, delivery %s): its series already ended with a final event",
                ctx.event_name,
                event.key,
                ctx.delivery_id,
            )
            return Outcome.DUPLICATE
    try:
        claiming = ClaimKey(receiver.store, event.key, receiver.lease)
        yield claiming
        claim = claiming.result
    except StoreUnavailable as exc:
        return _claim_failed(ctx, exc, force)
    return _claimed(claim, event, ctx, force)


def _claim_now(
    receiver: ReceiverState,
    event: ParsedEvent,
    ctx: DeliveryContext,
    trace: DeliveryTrace | None,
) -> Claim | Outcome:
    """:func:`_claim` of an event with no sequence, not forced, from a store that does no I/O:
    called, not yielded (``trace`` told if it fails)."""
    if event.key in receiver.pending_completions:
        return _pending_duplicate(event, ctx)
    store = receiver.store
    try:
        claim = store.claim(event.key, receiver.lease)
    except StoreUnavailable as exc:
        if trace is not None:
            trace.failed(ClaimKey(store, event.key, receiver.lease), exc)
        return _claim_failed(ctx, exc, False)
    return claim if claim.state is _NEW else _claimed(claim, event, ctx, False)


def _pending_duplicate(event: ParsedEvent, ctx: DeliveryContext) -> Outcome:
    # Handled here, and its completion waits for the store to be back: the store cannot
    # answer for it yet, this process can.
    logger.info(
        "duplicate done %s (%s, delivery %s): handled, its completion waits for the store",
        ctx.event_name,
        event.key,
        ctx.delivery_id,
    )
    return Outcome.DUPLICATE


def _claim_failed(ctx: DeliveryContext, exc: StoreUnavailable, force: bool) -> Claim | Outcome:
    logger.error("store unavailable for %s (delivery %s): %s", ctx.event_name, ctx.delivery_id, exc)
    if not force:
        return Outcome.STORE_UNAVAILABLE
    return Claim(ClaimState.IN_FLIGHT)


def _claimed(
    claim: Claim, event: ParsedEvent, ctx: DeliveryContext, force: bool
) -> Claim | Outcome:
    if claim.state is not ClaimState.NEW and not force:
        logger.info(
            "duplicate %s %s (%s, delivery %s)",
            claim.state.value,
            ctx.event_name,
            event.key,
            ctx.delivery_id,
        )
        return Outcome.DUPLICATE if claim.state is ClaimState.DONE else Outcome.IN_FLIGHT
    return claim


def _dispatch(
    receiver: ReceiverState, event: ParsedEvent, ctx: DeliveryContext, token: str | None
) -> Generator[Effect[Any], None, Exception | None]:
    """Run each handler in order; the first failure stops the rest and goes to error handlers.

    With the claim's ``token`` (``None``: a forced replay, which holds none), the claim is
    renewed while they run, and given back when they are cancelled where it can be.
    """
    store = receiver.store
    # Renewed while the handlers run, so a slow one is not taken over by a copy of its event.
    held = (
        None
        if token is None
        else hold_claim(store, event.key, token, receiver.lease, ctx.delivery_id)
    )
    try:
        for spec, normalized in receiver.handlers.resolve(event):
            argument = event.normalized if normalized else event.model
            try:
                yield RunHandler(spec, argument, ctx)
            except Exception as exc:
                yield from _on_error(receiver, spec.name, exc, ctx)
                return exc
        return None
    except asyncio.CancelledError:  # cancelled inside the handlers
        if token is not None and _release_on_cancel(receiver, event, ctx):
            try:
                yield from perform(ReleaseKey(store, event.key, token))
            except StoreUnavailable:
                pass  # the lease expires on its own
        raise
    finally:
        if held is not None:
            let_go(held)


def _release_on_cancel(receiver: ReceiverState, event: ParsedEvent, ctx: DeliveryContext) -> bool:
    """Whether a claim is given back when its handlers are cancelled (logged when it is)."""
    # Cancelling an async handler stops it: then the claim is given back, so the sender's
    # retry is handled now rather than after the lease. A sync handler goes on in its thread
    # whatever happens here, so while the event has one its claim is kept until the lease ends.
    if not all(spec.is_async for spec, _ in receiver.handlers.resolve(event)):
        return False
    logger.warning(
        "cancelled while handling %s (delivery %s): claim released",
        ctx.event_name,
        ctx.delivery_id,
    )
    return True


def _on_error(
    receiver: ReceiverState, name: str, exc: Exception, ctx: DeliveryContext
) -> Generator[Effect[Any], None, None]:
    """Log a handler's failure and hand it to the error handlers."""
    logger.error(
        "handler %s failed for %s (delivery %s)",
        name,
        ctx.event_name,
        ctx.delivery_id,
        exc_info=exc,
    )
    for on_error in receiver.handlers.error_handlers:
        try:
            yield from perform(RunCallback(on_error, (exc, ctx)))
        except Exception:
            logger.exception(
                "error handler %s failed (delivery %s)", on_error.name, ctx.delivery_id
            )


def _settle(
    receiver: ReceiverState,
    event: ParsedEvent,
    ctx: DeliveryContext,
    token: str,
    failure: Exception | None,
) -> Generator[Effect[Any], None, None]:
    """Complete the key after a success, release it after a failure."""
    store = receiver.store
    try:
        settling: Effect[bool] = (
            CompleteKey(store, event.key, token, receiver.retain_for)
            if failure is None
            else ReleaseKey(store, event.key, token)
        )
        yield settling
        kept = settling.result
        if kept is False:
            _lease_lost(event, ctx)
    except StoreUnavailable as exc:
        yield from _settle_failed(receiver, event, ctx, token, failure, exc)


def _settle_now(
    receiver: ReceiverState,
    event: ParsedEvent,
    ctx: DeliveryContext,
    token: str,
    failure: Exception | None,
) -> StoreUnavailable | None:
    """:func:`_settle` called in place, for a store that does no I/O: the outage it met, for
    the caller to hand to :func:`_settle_failed`, or ``None``."""
    store = receiver.store
    try:
        if failure is None:
            kept = store.complete(event.key, token, receiver.retain_for)
        else:
            kept = store.release(event.key, token)
    except StoreUnavailable as exc:
        return exc
    if kept is False:
        _lease_lost(event, ctx)
    return None


def _lease_lost(event: ParsedEvent, ctx: DeliveryContext) -> None:
    # The lease ran out during the handlers although it was renewed (the renewals did not
    # reach the store, or the process stalled) and another worker took the key.
    logger.warning(
        "lease on %s ran out before its handlers finished (delivery %s): its renewals "
        "did not reach the store in time; another worker may have run them too",
        event.key,
        ctx.delivery_id,
    )


def _settle_failed(
    receiver: ReceiverState,
    event: ParsedEvent,
    ctx: DeliveryContext,
    token: str,
    failure: Exception | None,
    exc: StoreUnavailable,
) -> Generator[Effect[Any], None, None]:
    """The store was down for the settle: the handlers ran, answer by their result. A success
    is kept and recorded once the store is back (a late complete wins over an expired claim
    nobody took over), so the sender's retry does not run them again; a failure's claim just
    expires."""
    logger.error(
        "store unavailable after handling %s (delivery %s): %s%s",
        ctx.event_name,
        ctx.delivery_id,
        exc,
        "; its completion is retried in the background" if failure is None else "",
    )
    if failure is None:
        pending = receiver.pending_completions
        store = receiver.store
        yield from perform(
            DeferCompletion(pending, store, event.key, token, receiver.retain_for, ctx.delivery_id)
        )


def _sequence_ended(receiver: ReceiverState, sequence: str) -> Generator[Effect[Any], None, bool]:
    """Whether a final event of ``sequence`` has been handled (its marker key is done).

    The marker is read the only way a store can be read: by claiming it, and releasing the
    claim at once when it was free. A store that is down counts as "not ended": the event's
    own claim then meets the outage and answers it.
    """
    marker = f"{sequence}:final"
    store = receiver.store
    try:
        claim = yield from perform(ClaimKey(store, marker, receiver.lease))
        if claim.state is ClaimState.NEW:
            assert claim.token is not None
            yield from perform(ReleaseKey(store, marker, claim.token))
    except StoreUnavailable:
        return False
    return claim.state is ClaimState.DONE


def _end_sequence(
    receiver: ReceiverState, sequence: str, delivery_id: str
) -> Generator[Effect[Any], None, None]:
    """Mark ``sequence`` ended, for as long as handled keys are kept."""
    marker = f"{sequence}:final"
    store = receiver.store
    try:
        claim = yield from perform(ClaimKey(store, marker, receiver.lease))
        if claim.state is ClaimState.NEW:
            assert claim.token is not None
            yield from perform(CompleteKey(store, marker, claim.token, receiver.retain_for))
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
