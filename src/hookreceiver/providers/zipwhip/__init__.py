"""Zipwhip: message events as JSON, over POST, PUT or GET, the event named only by the URL.

Facts (``shared/providers/NOTES.md``, ``zipwhip.md``): events ``receive``, ``send``,
``progress``, ``read``, ``delete`` and ``optout change``; the method is chosen per webhook; the
body is ``application/json;charset=UTF-8``; the payload has no event field, so the endpoint's
``{event}`` path segment (``/hooks/zipwhip/{event}``) or the ``event=`` option names it. ``id``
is a 64-bit integer above 2**53, kept exact (floats are refused). Senders 69.46.44.0/24 and
208.69.95.64/26. Idempotency key: ``(event, id, statusCode)`` for progress, ``(event, id)``
otherwise. A GET delivery without a body carries the message in its query string.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ...core.events import ParsedEvent
from ...delivery import Delivery
from ...errors import ConfigurationError, MalformedBody
from ...parsing.body import Body
from ...parsing.json import decode_json_object
from .._common import (
    EventModels,
    check_event_option,
    digest,
    event_from_segment,
    generic_event,
    lazy_models,
    make_key,
)
from ..base import Provider, validate_model

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ..normalized import Direction, MessageEvent, MessageStatus
    from .models import (
        _MODELS,
        Message,
        MessageDelete,
        MessageProgress,
        MessageRead,
        MessageReceive,
        MessageSend,
        MessageType,
        OptOutChange,
        StatusCode,
    )

__all__ = [
    "Message",
    "MessageDelete",
    "MessageProgress",
    "MessageRead",
    "MessageReceive",
    "MessageSend",
    "MessageType",
    "OptOutChange",
    "StatusCode",
    "Zipwhip",
]

# The models are defined in .models on first use: see _common.lazy_models.
_loaded = False
_MODEL_NAMES = (*(n for n in __all__ if n != "Zipwhip"), "_MODELS")
_load, __getattr__, __dir__ = lazy_models(
    globals(),
    (*_MODEL_NAMES, "models"),
    {".models": _MODEL_NAMES, "..normalized": ("MessageEvent",)},
)


def _models() -> Mapping[str, type[BaseModel]]:
    _load()
    return _MODELS


#: The events of ``_MODELS``, named without defining the models.
_EVENTS = (
    "message.receive",
    "message.send",
    "message.progress",
    "message.read",
    "message.delete",
    "optout.change",
)

_ALIASES: dict[str, str] = {
    **{event: event for event in _EVENTS},
    **{event.split(".", 1)[1]: event for event in _EVENTS if event.startswith("message.")},
    **dict.fromkeys(
        ("optout", "optout_change", "optout-change", "optoutchange", "optout change"),
        "optout.change",
    ),
}

_NORMALIZED: dict[str, tuple[str, MessageStatus | None]] = {
    "message.receive": ("message.received", "received"),
    "message.send": ("message.sent", None),
    "message.progress": ("message.status", None),
    "message.read": ("message.read", "read"),
    "message.delete": ("message.deleted", "deleted"),
}

_DELIVERED = frozenset({0, 4, 6})
_PENDING = frozenset({1, 2, 3})
_FAILED = frozenset({5, 7, -1234, -855, -801})


def message_status(code: int | None) -> MessageStatus:
    """A ``statusCode`` in the normalized vocabulary."""
    if code in _DELIVERED:
        return "delivered"
    if code in _PENDING:
        return "pending"
    if code in _FAILED:
        return "failed"
    return "unknown"


def _number(model: Message, field: str) -> str | None:
    value: str | None = getattr(model, field)
    if value:
        return value
    address = model.address
    return address.removeprefix("ptn:/") if address else None


def normalize(event: str, name: str, model: Message) -> tuple[str, MessageEvent]:
    """The normalized name and message view of a Zipwhip message event."""
    normalized_name, status = _NORMALIZED[event]
    code = None if model.status_code is None else int(model.status_code)
    direction: Direction = "outbound"
    if event == "message.receive" or (
        event in ("message.read", "message.delete") and model.message_type == MessageType.MO
    ):
        direction = "inbound"
    if status is None:
        status = "sent" if code is None else message_status(code)
    view = MessageEvent(
        provider="zipwhip",
        event=name,
        source=model,
        direction=direction,
        message_id=str(model.id),
        status=status,
        provider_status=None if code is None else str(code),
        from_address=_number(model, "final_source"),
        to_address=model.final_destination,
        body=model.body,
    )
    return normalized_name, view


class Zipwhip(Provider):
    """Zipwhip webhooks; sender IP preset on by default.

    Serve it at a path with an ``{event}`` placeholder (``/hooks/zipwhip/{event}``, registered
    at Zipwhip as ``.../receive``, ``.../progress`` ...), or pass ``event="receive"`` for a
    path that receives one event. An unknown but plain segment becomes a generic event (422
    when strict); a segment that is not a plain name (``..``) is answered 404.

    Args:
        event: the event of a path without ``{event}``.
        **options: as for :class:`~hookreceiver.providers.base.Provider`.
    """

    name: ClassVar[str] = "zipwhip"
    event_aliases: ClassVar[Mapping[str, str]] = _ALIASES
    ip_preset: ClassVar[tuple[str, ...]] = ("69.46.44.0/24", "208.69.95.64/26")
    methods: ClassVar[tuple[str, ...]] = ("POST", "PUT", "GET")
    events: ClassVar[frozenset[str]] = frozenset(f"zipwhip.{e}" for e in _EVENTS)
    event_models: ClassVar[Mapping[str, type[BaseModel]]] = EventModels("zipwhip", _models)

    def __init__(self, *, event: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.event = check_event_option(event, _ALIASES, self.name)

    def check_configuration(self, path: str) -> None:
        """Also refuse a path that cannot tell which event it receives."""
        if self.event is None and "{event}" not in path:
            raise ConfigurationError(
                f"endpoint {path} (zipwhip): Zipwhip payloads do not name their event; put "
                "{event} in the path or pass Zipwhip(event=...)"
            )
        super().check_configuration(path)

    def parse(self, delivery: Delivery, params: Mapping[str, str], body: Body) -> ParsedEvent:
        """Take the event from the URL, the message from the body (or the query string)."""
        if not _loaded:
            _load()
        segment = params.get("event")
        event = event_from_segment(segment, _ALIASES) if segment is not None else self.event
        assert event is not None  # check_configuration guarantees one or the other
        payload = self._payload(delivery, body)
        model_type = _MODELS.get(event)
        if model_type is None:
            return generic_event(self.name, event, payload, payload.get("id"), digest(payload))
        name = self.event_name(event)
        model = validate_model(model_type, payload, name)
        if not isinstance(model, Message):
            return ParsedEvent(name, self.name, make_key(self.name, event, digest(payload)), model)
        parts: tuple[object, ...] = (model.id,)
        if event == "message.progress":
            parts = (model.id, model.status_code)
        normalized_name, view = normalize(event, name, model)
        key = make_key(self.name, event, *parts)
        return ParsedEvent(name, self.name, key, model, view, normalized_name)

    @staticmethod
    def _payload(delivery: Delivery, body: Body) -> dict[str, Any]:
        if body.raw:
            return decode_json_object(body.raw)
        if delivery.method == "GET" and delivery.query:
            # A query string cannot say null: the JSON's nulls arrive as empty values.
            return {name: value or None for name, value in delivery.query_params()}
        raise MalformedBody("body is empty; a JSON message was expected")
