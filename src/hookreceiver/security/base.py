"""What a guard is: a check of the sender that runs before the body is read.

Guards are ordered cheapest first (``order``): an address check costs a set look-up, basic auth a
base64 decode and a constant-time compare, a signed URL an HMAC. A guard that needs the body
(an HMAC signature over it) sets ``needs_body`` and is called again once the body is in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..delivery import Delivery

__all__ = ["EventNames", "Guard", "GuardRequest"]


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


@runtime_checkable
class Guard(Protocol):
    """A sender check. Raise :class:`~hookreceiver.NotVerified` to refuse the delivery.

    Optional members are used where present: ``verifies`` (``False`` for a guard that lets
    everyone through, such as an allowlist of ``0.0.0.0/0``: the endpoint then counts as
    unverified and fails closed), ``secret_params`` (the names of path placeholders or query
    parameters that carry a credential, stored redacted in the inbox) and
    ``check_event(request, event_name, provider)``, called once the delivery has been parsed,
    to refuse an event the credential was not issued for (a signed URL binds its ``{event}``).
    """

    #: Lower runs first.
    order: int
    #: Whether :meth:`check_body` must run once the body has been read.
    needs_body: bool

    def check(self, request: GuardRequest) -> None:
        """Check what is known before the body: address, headers, URL."""

    def check_body(self, request: GuardRequest, body: bytes) -> None:
        """Check the body (only called when ``needs_body``)."""
