"""What the core needs of a provider: the :class:`ProviderProtocol`.

The core (the flow, routing, the receiver that composes them) works with any object that has
these members; :class:`~hookreceiver.providers.base.Provider` is the one implementation, and
the providers package sits above the core, so the core never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..delivery import Delivery
    from ..errors import DeliveryRejected
    from ..parsing.body import Body, BodySink
    from ..security.base import GuardBase
    from .events import ParsedEvent
    from .outcome import Outcome, Response

__all__ = ["ProviderProtocol"]


class ProviderProtocol(Protocol):
    """One sender's configuration at one endpoint, as the core uses it.

    Members are read-only properties so that class-level declarations (``name``, ``events``,
    ``statuses``... are class variables of each provider) satisfy them.
    """

    @property
    def name(self) -> str:
        """The first part of the provider's event names and idempotency keys."""

    @property
    def methods(self) -> tuple[str, ...]:
        """The HTTP methods the provider may deliver with."""

    @property
    def guards(self) -> tuple[GuardBase, ...]:
        """The endpoint's guards, cheapest first."""

    @property
    def events(self) -> Set[str]:
        """The full names of the events the provider documents."""

    @property
    def strict(self) -> bool:
        """Whether undocumented events are refused (422) instead of passed on as generic."""

    @property
    def statuses(self) -> Mapping[Outcome, int]:
        """The status answered for each outcome."""

    @property
    def default_ack(self) -> str:
        """``"sync"``, or ``"inbox"`` for a sender that never retries."""

    @property
    def retries(self) -> bool:
        """Whether the sender retries a delivery that was not taken."""

    def check_configuration(self, path: str) -> None:
        """Refuse (``ConfigurationError``) an endpoint at ``path`` configured unsafely."""

    def body_sink(self, delivery: Delivery) -> BodySink | None:
        """The sink that reads this delivery's body, or ``None`` when there is none."""

    def parse(self, delivery: Delivery, params: Mapping[str, str], body: Body) -> ParsedEvent:
        """A verified, fully read delivery as a typed event."""

    def event_name(self, event: str) -> str:
        """The full name of one of the provider's events."""

    def url_event_name(self, segment: str) -> str:
        """The full name of the event a URL's ``{event}`` segment names."""

    def respond(self, outcome: Outcome) -> Response:
        """The response for an outcome."""

    def reject(self, exc: DeliveryRejected) -> Response:
        """The response for a refused delivery."""

    def retry_headers(self, status: int) -> tuple[tuple[str, str], ...]:
        """The headers an answer with ``status`` carries (``Retry-After`` on a 503): the
        provider's own responses carry them, and the flow gives them to a parser bug's
        refusal."""
