"""The effects of the delivery engine: each piece of I/O it needs, as a small typed value.

The engine's flows are generators that yield an :class:`Effect` wherever they need I/O; the
driver does it and resumes the flow with the effect's ``result`` set (or throws its exception
in). An effect knows both ways of doing its work, ``run`` (blocking) and ``arun`` (on an event
loop); the drivers in :mod:`.drivers` choose. ``Effect[T]`` is typed with its result, so mypy
checks every result a flow uses: ``x = yield from perform(e)``, or on the hot path, without
the generator ``perform`` costs, ``yield e`` then ``x = e.result``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..errors import DeliveryRejected
from ..parsing.body import Body, BodySink
from ..stores.base import Claim, Store

if TYPE_CHECKING:
    from ..core.events import DeliveryContext, ParsedEvent
    from ..core.handlers import HandlerSpec
    from ..core.leases import PendingCompletions
    from ..core.routing import Endpoint
    from ..delivery import BodySource
    from ..security.base import GuardRequest

__all__ = [
    "ClaimKey",
    "CompleteKey",
    "DeferCompletion",
    "Effect",
    "Keep",
    "LeaseLeft",
    "ReadBody",
    "ReleaseKey",
    "RunCallback",
    "RunHandler",
    "aread_body",
    "perform",
    "read_body",
]

T = TypeVar("T")


class Effect(Generic[T]):
    """One piece of I/O whose result is a ``T``.

    ``nonblocking`` is true when ``run`` does no I/O (a memory store): the async driver then
    calls it straight from the event loop instead of awaiting ``arun``. Subclasses are
    ``@dataclass(slots=True)``, never frozen: the driver sets ``result``.
    """

    __slots__ = ("result",)

    #: What the effect gave: set by the driver before the flow resumes.
    result: T

    #: Whether :meth:`run` may be called from the event loop (it does no I/O): a class
    #: attribute, or a slot set once (store effects), read by the driver at no call's cost.
    nonblocking: bool = False

    def run(self) -> T:
        """Do it with blocking calls."""
        raise NotImplementedError

    def arun(self) -> Awaitable[T]:
        """Do it on the running event loop (an ``async def`` in most effects)."""
        raise NotImplementedError


def perform(effect: Effect[T]) -> Generator[Effect[Any], None, T]:
    """Hand ``effect`` to the driver and return its result: ``x = yield from perform(e)``."""
    yield effect
    return effect.result


# The body ---------------------------------------------------------------------------------------


def read_body(source: BodySource, sink: BodySink) -> Body:
    """Read ``source`` into ``sink`` with blocking calls (its limits raise while it is fed)."""
    try:
        if isinstance(source, (bytes, bytearray)):
            if source:
                sink.feed(bytes(source))
        else:
            for chunk in source:  # type: ignore[union-attr]
                if chunk:
                    sink.feed(chunk)
    except BaseException:  # a refusal of the sink's (it dropped its files) or the source's
        sink.abort()
        raise
    return sink.finish()


async def aread_body(source: BodySource, sink: BodySink) -> Body:
    """Read ``source`` into ``sink`` on the running event loop (see :func:`read_body`)."""
    # The ASGI stream first: it is asked for read_into before the (costlier) ABC check.
    read_into = getattr(source, "read_into", None)
    if read_into is None and (type(source) is bytes or not isinstance(source, AsyncIterable)):
        return read_body(source, sink)
    try:
        if read_into is not None:  # the ASGI stream feeds the sink without async iteration
            await read_into(sink)
        else:
            assert isinstance(source, AsyncIterable)  # (checked above)
            async for chunk in source:
                if chunk:
                    sink.feed(chunk)
    except DeliveryRejected:
        raise
    except BaseException:
        sink.abort()
        raise
    return sink.finish()


@dataclass(slots=True)
class ReadBody(Effect[Body]):
    """Read the request body into the provider's sink (its limits raise while it is fed)."""

    source: BodySource
    sink: BodySink

    def run(self) -> Body:
        return read_body(self.source, self.sink)

    def arun(self) -> Awaitable[Body]:  # the reading coroutine itself: no coroutine around it
        return aread_body(self.source, self.sink)


# The dedup store --------------------------------------------------------------------------------


class _StoreEffect(Effect[T]):
    """A call to the dedup store; ``nonblocking`` when the store does no I/O (memory)."""

    __slots__ = ("store", "nonblocking")


class ClaimKey(_StoreEffect[Claim]):
    """Claim ``key`` for ``lease`` seconds: new, done or in flight."""

    __slots__ = ("key", "lease")

    def __init__(self, store: Store, key: str, lease: float) -> None:
        self.store, self.key, self.lease = store, key, lease
        self.nonblocking = not store.blocking

    def run(self) -> Claim:
        return self.store.claim(self.key, self.lease)

    async def arun(self) -> Claim:
        return await self.store.aclaim(self.key, self.lease)


class CompleteKey(_StoreEffect[bool]):
    """Mark a claimed key done; ``False``: the claim was lost meanwhile."""

    __slots__ = ("key", "token", "retain_for")

    def __init__(self, store: Store, key: str, token: str, retain_for: float) -> None:
        self.store, self.key, self.token, self.retain_for = store, key, token, retain_for
        self.nonblocking = not store.blocking

    def run(self) -> bool:
        return self.store.complete(self.key, self.token, self.retain_for)

    async def arun(self) -> bool:
        return await self.store.acomplete(self.key, self.token, self.retain_for)


class LeaseLeft(_StoreEffect["float | None"]):
    """Seconds left on a key's in-flight claim, or ``None`` when the store cannot tell."""

    __slots__ = ("key",)

    def __init__(self, store: Store, key: str) -> None:
        self.store, self.key = store, key
        self.nonblocking = not store.blocking

    def run(self) -> float | None:
        return self.store.lease_left(self.key)

    async def arun(self) -> float | None:
        return await self.store.alease_left(self.key)


class ReleaseKey(_StoreEffect[bool]):
    """Give a claimed key back, so the sender's retry is handled."""

    __slots__ = ("key", "token")

    def __init__(self, store: Store, key: str, token: str) -> None:
        self.store, self.key, self.token = store, key, token
        self.nonblocking = not store.blocking

    def run(self) -> bool:
        return self.store.release(self.key, self.token)

    async def arun(self) -> bool:
        return await self.store.arelease(self.key, self.token)


@dataclass(slots=True)
class DeferCompletion(Effect[None]):
    """Keep a completion the store refused, retried in the background until it is back."""

    pending: PendingCompletions
    store: Store
    key: str
    token: str
    retain_for: float
    delivery_id: str

    def run(self) -> None:
        self.pending.add(self.store, self.key, self.token, self.retain_for, self.delivery_id)

    async def arun(self) -> None:
        await self.pending.aadd(self.store, self.key, self.token, self.retain_for, self.delivery_id)


# The inbox or journal ---------------------------------------------------------------------------


@dataclass(slots=True)
class Keep(Effect[object]):
    """Write a verified delivery to ``keeper`` (the inbox or the journal): pending with its
    event, or quarantined with ``error``. ``traceparent``, set by a tracer, is kept with it,
    so the worker's span links to the receiving one."""

    keeper: Any  # Inbox | Journal: both have keep/akeep with this signature
    request: GuardRequest
    endpoint: Endpoint
    body: Body
    delivery_id: str
    event: ParsedEvent | None
    error: DeliveryRejected | None
    traceparent: str | None = None

    def _args(self) -> tuple[Any, ...]:
        return (self.request, self.endpoint, self.body, self.delivery_id, self.event, self.error)

    def run(self) -> object:
        if self.traceparent is not None:
            return self.keeper.keep(*self._args(), traceparent=self.traceparent)
        return self.keeper.keep(*self._args())

    async def arun(self) -> object:
        if self.traceparent is not None:
            return await self.keeper.akeep(*self._args(), traceparent=self.traceparent)
        return await self.keeper.akeep(*self._args())


# Handlers ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class RunHandler(Effect[object]):
    """Run one handler with the event (or its normalized view) and the context."""

    spec: HandlerSpec
    argument: Any
    ctx: DeliveryContext

    def run(self) -> object:
        return self.spec.call(self.argument, self.ctx)

    def arun(self) -> Awaitable[object]:  # the handler's own awaitable: no coroutine around it
        return self.spec.acall(self.argument, self.ctx)


@dataclass(slots=True)
class RunCallback(Effect[object]):
    """Run a callback (an ``on_error`` or dead-letter handler) with ``args``."""

    spec: HandlerSpec
    args: tuple[Any, ...]

    def run(self) -> object:
        return self.spec.call(*self.args)

    async def arun(self) -> object:
        return await self.spec.acall(*self.args)
