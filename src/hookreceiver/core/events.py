"""What a provider's parser produces, and what a handler receives beside the event."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..delivery import Headers

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ..parsing.attachment import Attachment
    from .generic import GenericEvent

__all__ = ["DeliveryContext", "GenericEvent", "ParsedEvent"]


def __getattr__(name: str) -> Any:
    # GenericEvent is a pydantic model: defining one loads pydantic's field machinery, so it
    # lives in .generic, imported when first asked for (a delivery of an undocumented event).
    if name == "GenericEvent":
        from .generic import GenericEvent

        return GenericEvent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ParsedEvent:
    """One event parsed from a delivery.

    Attributes:
        name: the full event name, ``"<provider>.<event>"`` (``"documo.fax.inbound"``).
        provider: the provider's name (``"documo"``).
        key: the idempotency key; equal keys are handled once.
        model: the provider's typed model of the event.
        normalized: a cross-provider view (a fax, message or call event), when there is one.
            A provider may pass ``normalizer`` (called with the event) and ``normalized_type``
            instead of the view: it is then built on first access, so a delivery whose handlers
            take only the provider's model never pays for it.
        normalized_name: the name of that view (``"fax.received"``): handlers registered under
            it receive ``normalized``.
        normalized_type: the class of the view (``None`` when there is none).
        attachments: files that arrived with the event.
        sequence: for status events of one object that may arrive out of order (Documo's
            ``fax.outbound.extended``), a key naming that object's series. Once an event of the
            series marked ``final`` has been handled, a later event of it that is not final is
            stale: it is answered as a duplicate and no handler runs.
        final: whether this event ends its ``sequence`` (a final status).
    """

    __slots__ = (
        "name",
        "provider",
        "key",
        "model",
        "normalized_name",
        "normalized_type",
        "attachments",
        "sequence",
        "final",
        "_normalized",
        "_normalizer",
    )

    def __init__(
        self,
        name: str,
        provider: str,
        key: str,
        model: BaseModel,
        normalized: BaseModel | None = None,
        normalized_name: str | None = None,
        attachments: list[Attachment] | None = None,
        *,
        normalizer: Callable[[ParsedEvent], BaseModel] | None = None,
        normalized_type: type[BaseModel] | None = None,
        sequence: str | None = None,
        final: bool = False,
    ) -> None:
        self.name = name
        self.sequence = sequence
        self.final = final
        self.provider = provider
        self.key = key
        self.model = model
        self.normalized_name = normalized_name
        self.attachments: list[Attachment] = [] if attachments is None else attachments
        self._normalized = normalized
        self._normalizer = normalizer if normalized is None else None
        if normalized is not None:
            normalized_type = type(normalized)
        elif normalizer is None:
            normalized_type = None
        elif normalized_type is None:
            raise TypeError("a normalizer needs the normalized_type it builds")
        self.normalized_type = normalized_type

    @property
    def normalized(self) -> BaseModel | None:
        """The cross-provider view, built on first access when the provider gave a normalizer."""
        view = self._normalized
        if view is None and self._normalizer is not None:
            view = self._normalized = self._normalizer(self)
            self._normalizer = None
        return view

    def __repr__(self) -> str:
        return (
            f"ParsedEvent(name={self.name!r}, provider={self.provider!r}, key={self.key!r}, "
            f"model={type(self.model).__name__}, normalized_name={self.normalized_name!r})"
        )


@dataclass(slots=True)
class DeliveryContext:
    """Everything a handler may want to know about the delivery that carried its event.

    Attributes:
        delivery_id: a unique id for this HTTP delivery (retries get new ids).
        event_name: the full event name.
        provider: the provider's name.
        idempotency_key: the event's dedup key.
        headers: the request headers (``Authorization`` included: do not log them whole).
        client: the sender's address, after trusted-proxy resolution (the TCP peer when no
            proxy is trusted; :attr:`Delivery.peer <hookreceiver.Delivery.peer>` is the TCP
            peer always). ``peer`` is its deprecated old name.
        raw_body: the body as received (empty for multipart; see ``attachments``).
        attachments: files that arrived with the event, removed after the handlers finish.
        signed: the context carried by a signed callback URL, when the endpoint uses them.
        params: the values of the endpoint's path template (``{"event": "receive"}``).
        event: the parsed event (model, normalized view, key).
        attempt: 1 for a live delivery; higher when the inbox retries it.
    """

    delivery_id: str
    event_name: str
    provider: str
    idempotency_key: str
    headers: Headers
    client: str | None
    raw_body: bytes
    attachments: list[Attachment]
    signed: Mapping[str, Any] | None
    params: Mapping[str, str]
    event: ParsedEvent
    attempt: int = 1

    @property
    def peer(self) -> str | None:
        """Deprecated: :attr:`client` (``peer`` is the TCP peer on a ``Delivery``)."""
        warnings.warn(
            "DeliveryContext.peer is deprecated: use ctx.client (the sender's address after "
            "trusted-proxy resolution)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.client
