"""What a guard is: a check of the sender that runs before the body is read.

Guards are ordered cheapest first (``order``, from the one table :class:`GuardOrder`): an
address check costs a set look-up, basic auth a base64 decode and a constant-time compare, a
signed URL an HMAC. A guard that needs the body (an HMAC signature over it) sets ``needs_body``
and is called again once the body is in.

:class:`GuardBase` declares every member with its default; the built-in guards subclass it. A
guard of your own may subclass it too, or be any object with the :class:`Guard` protocol's
members: an endpoint adapts it once, when it is created (:func:`as_guard`), so a delivery never
asks a guard which members it has.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..delivery import Delivery
from ..errors import ConfigurationError

__all__ = ["EventNames", "Guard", "GuardBase", "GuardOrder", "GuardRequest", "as_guard"]


@dataclass(slots=True)
class GuardRequest:
    """The request as guards see it: no body yet.

    Attributes:
        delivery: the delivery.
        endpoint: the endpoint's path template (``/hooks/zipwhip/{event}``).
        params: values of the template's placeholders.
        client: the sender's address after trusted-proxy resolution (the peer without proxies).
        signed: set by the signed-URL guard to the token's context.
        trusted_proxies: whether the receiver reads forwarding headers from trusted proxies
            (``Receiver(proxies=...)``); when not, ``client`` is the peer as the server
            reports it.
    """

    delivery: Delivery
    endpoint: str
    params: Mapping[str, str]
    client: str | None
    signed: dict[str, Any] | None = None
    trusted_proxies: bool = False


class EventNames(Protocol):
    """What a guard may ask the endpoint's provider about event names (the provider is one)."""

    def url_event_name(self, segment: str) -> str:
        """The full name of the event a URL's ``{event}`` segment names, aliases resolved."""


class GuardOrder(enum.IntEnum):
    """When each kind of guard runs: lower first, so the cheapest check refuses first.

    The one table of guard orders; a guard of your own can take a place between two of them
    (``order = GuardOrder.CREDENTIALS + 5``).
    """

    #: The sender's address in an allowlist: a set look-up (:class:`IPAllowlist`).
    ADDRESS = 10
    #: A credential header: a base64 decode and a constant-time compare (:class:`BasicAuth`).
    CREDENTIALS = 20
    #: A token in the URL: one HMAC over a short string (:class:`SignedURLGuard`).
    URL_TOKEN = 30
    #: A signature over the body: its headers before the body, an HMAC over every byte after
    #: (:class:`StandardWebhooks`).
    BODY_SIGNATURE = 40
    #: The default of a guard of your own: after the built-in checks.
    CUSTOM = 50


@runtime_checkable
class Guard(Protocol):
    """What a guard must have: the members every endpoint reads. Raise
    :class:`~hookreceiver.NotVerified` to refuse the delivery.

    Any object with these members works as a guard (subclassing :class:`GuardBase` spares the
    no-op methods). The optional members of :class:`GuardBase` (``verifies``,
    ``secret_params``, ``check_body_stream``, ``check_event``) are used where such an object
    has them, and take :class:`GuardBase`'s defaults where it has not.
    """

    #: Lower runs first (see :class:`GuardOrder`).
    order: int
    #: Whether :meth:`check_body` must run once the body has been read.
    needs_body: bool

    def check(self, request: GuardRequest) -> None:
        """Check what is known before the body: address, headers, URL."""

    def check_body(self, request: GuardRequest, body: bytes) -> None:
        """Check the body (only called when ``needs_body``)."""


class GuardBase(abc.ABC):
    """The base class of guards: every member a guard may have, with its default.

    Subclasses implement :meth:`check`, set :attr:`order` (one of :class:`GuardOrder`), and
    override what else they do: a body signature sets :attr:`needs_body` and implements
    :meth:`check_body` (and :meth:`check_body_stream`, to check a multipart body chunk by
    chunk); a guard that binds a credential to an event implements :meth:`check_event`.
    """

    #: Lower runs first (see :class:`GuardOrder`).
    order: int = GuardOrder.CUSTOM
    #: Whether :meth:`check_body` (or :meth:`check_body_stream`) must run once the body is in.
    needs_body: bool = False
    #: Whether the guard verifies the sender at all. ``False`` for one that lets everyone
    #: through (an allowlist of ``0.0.0.0/0``): an endpoint with no verifying guard fails
    #: closed at start-up.
    verifies: bool = True
    #: The names of path placeholders and query parameters that carry a credential (a signed
    #: URL's token): what is kept of a delivery (the inbox) stores them redacted.
    secret_params: tuple[str, ...] = ()

    @abc.abstractmethod
    def check(self, request: GuardRequest) -> None:
        """Check what is known before the body: address, headers, URL."""

    # The no-op defaults below are the point of the base class (B027 asks them to be abstract).
    def check_body(self, request: GuardRequest, body: bytes) -> None:  # noqa: B027
        """Check the body as received (called when :attr:`needs_body`); nothing by default."""

    def check_body_stream(self, request: GuardRequest, chunks: Iterable[bytes]) -> None:
        """Check a body handed over in chunks: a multipart one, which is spooled (to disk past
        1 MiB) rather than kept whole in memory. Called instead of :meth:`check_body` for such
        a body, when :attr:`needs_body`.

        By default the chunks are joined and given to :meth:`check_body`, which holds the
        whole body in memory once; a guard that can check incrementally (an HMAC) overrides
        this to keep memory flat.
        """
        self.check_body(request, b"".join(chunks))

    def check_event(  # noqa: B027
        self, request: GuardRequest, event_name: str, provider: EventNames
    ) -> None:
        """Check the parsed event's name (a credential issued for one event only); runs once
        the delivery has been parsed. Nothing by default."""


class _Adapted(GuardBase):
    """A guard written against the :class:`Guard` protocol, with :class:`GuardBase`'s
    defaults for the members it lacks: read once, when the endpoint is created."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        # The one place a guard's optional members are looked up (see the module docstring).
        self.order = getattr(guard, "order", GuardOrder.CUSTOM)
        self.needs_body = bool(getattr(guard, "needs_body", False))
        self.verifies = bool(getattr(guard, "verifies", True))
        self.secret_params = tuple(getattr(guard, "secret_params", ()))
        self._check_event: Callable[[GuardRequest, str, EventNames], None] | None = getattr(
            guard, "check_event", None
        )
        self._check_body_stream: Callable[[GuardRequest, Iterable[bytes]], None] | None = getattr(
            guard, "check_body_stream", None
        )
        if self.needs_body and not callable(getattr(guard, "check_body", None)):
            raise ConfigurationError(f"guard {guard!r} sets needs_body but has no check_body")

    def check(self, request: GuardRequest) -> None:
        """The guard's own :meth:`~Guard.check`."""
        self.guard.check(request)

    def check_body(self, request: GuardRequest, body: bytes) -> None:
        """The guard's own :meth:`~Guard.check_body`."""
        self.guard.check_body(request, body)

    def check_body_stream(self, request: GuardRequest, chunks: Iterable[bytes]) -> None:
        """The guard's own, when it has one; else its :meth:`check_body` on the joined body."""
        if self._check_body_stream is not None:
            self._check_body_stream(request, chunks)
        else:
            super().check_body_stream(request, chunks)

    def check_event(self, request: GuardRequest, event_name: str, provider: EventNames) -> None:
        """The guard's own, when it has one."""
        if self._check_event is not None:
            self._check_event(request, event_name, provider)

    def __repr__(self) -> str:
        return repr(self.guard)


def as_guard(guard: GuardBase | Guard) -> GuardBase:
    """``guard`` as a :class:`GuardBase`: itself when it is one, else adapted (its missing
    optional members take the defaults). Called once per guard when an endpoint is created.

    Raises:
        ConfigurationError: ``guard`` has no ``check`` method, or needs the body and has no
            ``check_body``.
    """
    if isinstance(guard, GuardBase):
        return guard
    if not callable(getattr(guard, "check", None)):
        raise ConfigurationError(
            f"{guard!r} is not a guard: it needs a check(request) method (subclass GuardBase)"
        )
    return _Adapted(guard)
