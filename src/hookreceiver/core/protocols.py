"""What the layers above the core may use of a receiver: the :class:`ReceiverState` protocol.

The :class:`~hookreceiver.Receiver` facade sits on top of every layer (it composes the adapters
and the inbox worker), so nothing below it may import it. The flow, the adapters, the inbox and
the testing kit type the receiver they are handed as :class:`ReceiverState` instead, and the
inbox and journal the flow writes to as :class:`InboxKeeper` and :class:`FallbackJournal`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..delivery import Delivery
    from ..errors import DeliveryRejected
    from ..parsing.body import Body
    from ..security.base import GuardRequest
    from ..stores.base import Store
    from .events import DeliveryContext, ParsedEvent
    from .handlers import HandlerRegistry
    from .leases import PendingCompletions
    from .outcome import Response
    from .report import Observer
    from .routing import Endpoint, Route, Router

__all__ = [
    "ClientResolver",
    "FallbackJournal",
    "InboxKeeper",
    "ReceiverState",
    "StepTracer",
    "WorkerControl",
]


class ClientResolver(Protocol):
    """Finds the sender's address of a delivery (see ``security.TrustedProxies``)."""

    def client_address(self, delivery: Delivery) -> str | None:
        """The sender's address, or ``None`` when it cannot be known."""


class InboxKeeper(Protocol):
    """Where the flow keeps a verified delivery (the inbox: ``hookreceiver.inbox.Inbox``)."""

    def keep(
        self,
        request: GuardRequest,
        endpoint: Endpoint,
        body: Body,
        delivery_id: str,
        event: ParsedEvent | None = None,
        error: DeliveryRejected | None = None,
        *,
        traceparent: str | None = None,
    ) -> object:
        """Store the delivery: pending with its event, or quarantined with its error."""

    async def akeep(
        self,
        request: GuardRequest,
        endpoint: Endpoint,
        body: Body,
        delivery_id: str,
        event: ParsedEvent | None = None,
        error: DeliveryRejected | None = None,
        *,
        traceparent: str | None = None,
    ) -> object:
        """Async :meth:`keep`."""


class FallbackJournal(InboxKeeper, Protocol):
    """The local journal a delivery goes to when the inbox cannot take it
    (``hookreceiver.inbox.journal.Journal``)."""

    @property
    def directory(self) -> str:
        """Where the journal's files are."""

    def inbox_failed(self) -> None:
        """Note that the inbox just failed."""

    def bypass_inbox(self) -> bool:
        """Whether deliveries should come straight here (the inbox failed moments ago)."""


class StepTracer(Protocol):
    """What the receiver keeps in ``tracer``: told of each delivery's steps.

    The engine's ``Tracer`` names its types (``engine.DeliveryTrace``, effects); they live in
    the layer above this one, so the receiver's state holds it under this name.
    """

    def start(
        self, delivery: Any, endpoint: Any, *, source: str = "http", link: str | None = None
    ) -> Any:
        """A delivery begins: returns its ``engine.DeliveryTrace``."""


class WorkerControl(Protocol):
    """The receiver's in-process inbox worker, as the adapters drive it
    (``hookreceiver.inbox.lifecycle.WorkerLifecycle``)."""

    @property
    def due(self) -> bool:
        """Whether the worker should be started now (checked on each delivery and lifespan)."""

    def start(self) -> object:
        """Start the worker in background threads (idempotent)."""

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the worker's threads after their current delivery."""

    async def astart(self) -> object:
        """Start the worker as tasks on the running loop (idempotent)."""

    async def astop(self, timeout: float = 30.0) -> None:
        """Stop the worker's tasks (or threads) after their current delivery."""


@runtime_checkable
class ReceiverState(Protocol):
    """A receiver as the flow, the adapters, the inbox and the testing kit use it: its
    configuration, its parts, and the hooks the flow calls back.

    Read-only properties, so that the facade's plain attributes of narrower types satisfy it.
    """

    @property
    def store(self) -> Store:
        """The dedup store."""

    @property
    def lease(self) -> float:
        """Seconds a claim is held while handlers run."""

    @property
    def retain_for(self) -> float:
        """Seconds a handled event's key is remembered."""

    @property
    def proxies(self) -> ClientResolver | None:
        """Where the sender's address comes from behind a reverse proxy."""

    @property
    def body_timeout(self) -> float | None:
        """Seconds allowed to receive one delivery's body (ASGI)."""

    @property
    def inbox(self) -> InboxKeeper | None:
        """Where verified deliveries are kept until handled, if anywhere."""

    @property
    def journal(self) -> FallbackJournal | None:
        """The fallback journal, if configured."""

    @property
    def router(self) -> Router:
        """The endpoints."""

    @property
    def handlers(self) -> HandlerRegistry:
        """The registered handlers."""

    @property
    def pending_completions(self) -> PendingCompletions:
        """Completions refused by a store that went down, retried in the background."""

    @property
    def worker_lifecycle(self) -> WorkerControl:
        """The in-process inbox worker's lifecycle."""

    @property
    def observers(self) -> Sequence[Observer]:
        """Told of every delivery's report, in order (the event log first)."""

    @property
    def tracer(self) -> StepTracer | None:
        """Told of each delivery's phases and effects (spans, handler timings), if set."""

    def add_observer(self, observer: Observer) -> Observer:
        """Append ``observer`` to :attr:`observers`; returns it."""

    def match(self, path: str) -> Route | None:
        """The endpoint serving ``path``, or ``None``."""

    def client_address(self, delivery: Delivery) -> str | None:
        """The sender's address: the peer, or what trusted proxies say."""

    def handle(self, delivery: Delivery) -> Response:
        """Handle one delivery synchronously."""

    async def ahandle(self, delivery: Delivery) -> Response:
        """Handle one delivery on the event loop."""

    def on_invalid(self, delivery: Delivery, route: Route, exc: DeliveryRejected) -> None:
        """Called for an authenticated delivery that does not parse or validate."""

    def log_handled(self, ctx: DeliveryContext) -> None:
        """Called once for each handled event."""
