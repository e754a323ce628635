"""What a provider's parser produces, and what a handler receives beside the event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..parsing.attachment import Attachment
from .delivery import Headers

__all__ = ["DeliveryContext", "GenericEvent", "ParsedEvent"]


class GenericEvent(BaseModel):
    """An event whose name the provider does not document (yet).

    Catch-all and provider-wildcard handlers receive it, so nothing a provider adds tomorrow is
    lost; endpoints in strict mode answer 422 instead.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    provider: str
    name: str
    payload: dict[str, Any]


@dataclass(slots=True)
class ParsedEvent:
    """One event parsed from a delivery.

    Attributes:
        name: the full event name, ``"<provider>.<event>"`` (``"documo.fax.inbound"``).
        provider: the provider's name (``"documo"``).
        key: the idempotency key; equal keys are handled once.
        model: the provider's typed model of the event.
        normalized: a cross-provider view (a fax, message or call event), when there is one.
        normalized_name: the name of that view (``"fax.received"``): handlers registered under
            it receive ``normalized``.
        attachments: files that arrived with the event.
    """

    name: str
    provider: str
    key: str
    model: BaseModel
    normalized: BaseModel | None = None
    normalized_name: str | None = None
    attachments: list[Attachment] = field(default_factory=list)


@dataclass(slots=True)
class DeliveryContext:
    """Everything a handler may want to know about the delivery that carried its event.

    Attributes:
        delivery_id: a unique id for this HTTP delivery (retries get new ids).
        event_name: the full event name.
        provider: the provider's name.
        idempotency_key: the event's dedup key.
        headers: the request headers (``Authorization`` included: do not log them whole).
        peer: the sender's address, after trusted-proxy resolution.
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
    peer: str | None
    raw_body: bytes
    attachments: list[Attachment]
    signed: Mapping[str, Any] | None
    params: Mapping[str, str]
    event: ParsedEvent
    attempt: int = 1
