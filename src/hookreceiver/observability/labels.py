"""Bounded label values for metrics, logs and span attributes: what a delivery's report may say
of itself without an id, a path with a token, a secret or a body.

Every value comes from a fixed table or from the receiver's own configuration (provider names,
the events a provider documents, handler names, endpoint templates), never from the request:
a sender cannot grow a metric's series by sending new values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import DeliveryRejected

if TYPE_CHECKING:
    from ..core.protocols import ReceiverState
    from ..engine import DeliveryReport

__all__ = ["OTHER", "REFUSAL_REASONS", "EventNames", "refusal_reason", "store_kind"]

#: The label value of anything outside the fixed tables (an event a provider does not
#: document, a refusal of a guard of your own).
OTHER = "other"

#: A refusal's error code -> its ``reason`` label.
REFUSAL_REASONS: dict[str, str] = {
    "address_not_allowed": "ip",
    "unauthorized": "auth",
    "invalid_signature": "signature",
    "token_required": "token",
    "invalid_token": "token",
    "token_expired": "token",
    "event_mismatch": "token",
    "payload_too_large": "size",
    "unsupported_media_type": "content_type",
    "method_not_allowed": "method",
    "request_timeout": "timeout",
    "malformed_body": "malformed",
    "forbidden": "forbidden",
}


def refusal_reason(error: BaseException | None) -> str:
    """The ``reason`` label of a refused delivery's error."""
    if isinstance(error, DeliveryRejected):
        return REFUSAL_REASONS.get(error.error, OTHER)
    return OTHER


def store_kind(store: object) -> str:
    """The ``store`` label of a dedup store or inbox: its class name, lower case, without the
    ``Store``/``Inbox`` suffix (``redis``, ``sqlite``, ``postgres``, ``memory``)."""
    name = type(store).__name__
    for suffix in ("Store", "Inbox"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return name.lower()


class EventNames:
    """The ``event`` label of a report: the full event name when the endpoint's provider
    documents it, :data:`OTHER` when not (a lenient provider's unknown event), ``""`` when
    the delivery never got as far as an event."""

    __slots__ = ("_documented", "receiver")

    def __init__(self, receiver: ReceiverState) -> None:
        self.receiver = receiver
        self._documented: dict[str, frozenset[str]] = {}

    def of(self, report: DeliveryReport) -> str:
        """The label for ``report``."""
        path = report.endpoint
        if path is None:
            return ""
        ctx = report.context  # report.event_name, without the property's call when handled
        name = ctx.event_name if ctx is not None else report.event_name
        if not name:
            return ""
        documented = self._documented.get(path)
        if documented is None:
            endpoint = self.receiver.router.endpoint(path)
            documented = (
                frozenset(endpoint.provider.events) if endpoint is not None else frozenset()
            )
            self._documented[path] = documented
        return name if name in documented else OTHER
