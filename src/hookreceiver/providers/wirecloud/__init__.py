"""Wirecloud: a white-label 2600Hz Kazoo platform; its webhooks are Kazoo's.

Facts (``shared/providers/NOTES.md``, ``wirecloud.txt``):

- Transport: GET with the event as the query string; POST or PUT with a form body
  (``application/x-www-form-urlencoded``, bracket nesting ``custom_channel_vars[k]=v``,
  ``a[b][c]=v``, arrays ``arr[]=1``, ``true``/``false``) or, on Kazoo 4.3+, a JSON body.
- Headers: ``X-Hook-ID`` (the webhook's id) and ``X-Account-ID``.
- Events: ``channel_create|answer|bridge|destroy`` (named by ``hook_event``), and ``object``,
  ``notifications`` and ``parking`` (no ``hook_event``: named by the URL's ``{event}``, the
  ``event=`` option, or their shape). ``timestamp`` is Gregorian seconds, read as aware UTC.
- Retries: success is exactly 200; any other answer is logged and never retried (only
  connection errors are), and more than 6 failures in 60 s disable the hook. Every delivery
  we accept is therefore answered exactly 200, even when a handler fails, and so is a
  delivery we cannot parse but keep in quarantine.
- No delivery id is sent. Idempotency key: ``(X-Hook-ID, hook_event, call_id, timestamp)`` for
  channel events, ``(X-Hook-ID, event, hash of the payload)`` for the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ...core.events import ParsedEvent
from ...core.outcome import Outcome
from ...delivery import Delivery
from ...errors import InvalidPayload, MalformedBody
from ...parsing.body import Body
from ...parsing.form import decode_bracket_form
from ...parsing.json import decode_json_object
from .._common import (
    EventModels,
    check_event_option,
    digest,
    event_from_segment,
    generic_event,
    lazy_models,
    make_key,
    safe_event_name,
)
from ..base import DEFAULT_STATUSES, Provider, validate_model

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ..normalized import CallEvent, CallPhase, Direction
    from ..types import MAX_ID_LENGTH
    from .models import (
        _MODELS,
        CallDirection,
        ChannelAnswer,
        ChannelBridge,
        ChannelCreate,
        ChannelDestroy,
        ChannelEvent,
        Notification,
        ObjectAction,
        ObjectEvent,
        Parking,
        ParkingEventName,
    )

__all__ = [
    "CallDirection",
    "ChannelAnswer",
    "ChannelBridge",
    "ChannelCreate",
    "ChannelDestroy",
    "ChannelEvent",
    "Kazoo",
    "Notification",
    "ObjectAction",
    "ObjectEvent",
    "Parking",
    "ParkingEventName",
    "Wirecloud",
]

FORM = "application/x-www-form-urlencoded"

# The models are defined in .models on first use: see _common.lazy_models.
_loaded = False
_MODEL_NAMES = (*(n for n in __all__ if n not in ("Kazoo", "Wirecloud")), "_MODELS")
_load, __getattr__, __dir__ = lazy_models(
    globals(),
    (*_MODEL_NAMES, "models"),
    {".models": _MODEL_NAMES, "..normalized": ("CallEvent",), "..types": ("MAX_ID_LENGTH",)},
)


def _models() -> Mapping[str, type[BaseModel]]:
    _load()
    return _MODELS


#: The events of ``_MODELS``, named without defining the models.
_EVENTS = (
    "channel_create",
    "channel_answer",
    "channel_bridge",
    "channel_destroy",
    "object",
    "notifications",
    "parking",
)

_ALIASES: dict[str, str] = {
    **{event: event for event in _EVENTS},
    **{event.replace("_", "-"): event for event in _EVENTS},
    "notification": "notifications",
}

_PHASES: dict[str, CallPhase] = {
    "channel_create": "started",
    "channel_answer": "answered",
    "channel_bridge": "bridged",
    "channel_destroy": "ended",
}


def infer_event(payload: Mapping[str, Any]) -> str | None:
    """The event of a payload without ``hook_event``, from its shape."""
    event_name = payload.get("event_name")
    if isinstance(event_name, str) and (
        event_name.startswith("PARK_") or "parking_slot" in payload
    ):
        return "parking"
    if isinstance(event_name, str):
        return "notifications"
    action = payload.get("action")
    if isinstance(action, str) and action.startswith("doc_"):
        return "object"
    return None


def normalize(event: str, name: str, model: ChannelEvent) -> CallEvent:
    """The cross-provider call view of a channel event."""
    direction = model.call_direction
    destroy = model if isinstance(model, ChannelDestroy) else None
    normalized_direction: Direction | None = None
    if direction == CallDirection.INBOUND:
        normalized_direction = "inbound"
    elif direction == CallDirection.OUTBOUND:
        normalized_direction = "outbound"
    return CallEvent(
        provider="wirecloud",
        event=name,
        source=model,
        phase=_PHASES[event],
        call_id=model.call_id,
        direction=normalized_direction,
        from_number=model.caller_id_number or model.from_,
        to_number=model.callee_id_number or model.to,
        timestamp=model.timestamp,
        duration_seconds=destroy.duration_seconds if destroy else None,
        billing_seconds=destroy.billing_seconds if destroy else None,
        hangup_cause=destroy.hangup_cause if destroy else None,
        other_leg_call_id=model.other_leg_call_id,
    )


class Wirecloud(Provider):
    """Wirecloud / Kazoo webhooks: GET query strings, POST/PUT forms or JSON.

    Neither Wirecloud nor Kazoo publishes sender addresses or sends credentials: configure
    ``allow_ips`` with your Kazoo cluster's addresses, or a secret or signed URL guard.

    Args:
        event: the event of a path that receives ``object``, ``notifications`` or ``parking``
            (payloads without ``hook_event``) when neither ``{event}`` nor the shape tells.
        **options: as for :class:`~hookreceiver.providers.base.Provider`.
    """

    name: ClassVar[str] = "wirecloud"
    event_aliases: ClassVar[Mapping[str, str]] = _ALIASES
    methods: ClassVar[tuple[str, ...]] = ("GET", "POST", "PUT")
    content_types: ClassVar[frozenset[str]] = frozenset({FORM, "application/json"})
    events: ClassVar[frozenset[str]] = frozenset(f"wirecloud.{e}" for e in _EVENTS)
    event_models: ClassVar[Mapping[str, type[BaseModel]]] = EventModels("wirecloud", _models)
    default_ack: ClassVar[str] = "inbox"  # no sender retry: keep the event for a local one
    retries: ClassVar[bool] = False
    # Kazoo never retries an answer: anything but 200 is only logged, and six of them in a
    # minute disable the hook. So every delivery we accepted gets exactly 200, a failed
    # handler and a store outage included: answering 5xx would lose the event all the same
    # and put the hook at risk. Keeping the event for a local retry is the inbox's job: with
    # Receiver(inbox=...) these endpoints acknowledge through it (default_ack above); without
    # one, the receiver warns at start-up that a failed handler loses the event. A delivery
    # that does not decode, validate or (strict) name a known event is 200 too once it is kept
    # in quarantine (the inbox, or Receiver(journal_dir=...)); only when nothing could keep it
    # is it refused with its 400/422, the one trace the Kazoo admin's webhook log then holds.
    statuses: ClassVar[Mapping[Outcome, int]] = {
        **DEFAULT_STATUSES,
        Outcome.HANDLED: 200,
        Outcome.DUPLICATE: 200,
        Outcome.IN_FLIGHT: 200,
        Outcome.HANDLER_FAILED: 200,
        Outcome.ACCEPTED: 200,
        Outcome.STORE_UNAVAILABLE: 200,
        Outcome.QUARANTINED: 200,
        Outcome.RECEIVER_ERROR: 200,  # our bug: the raw delivery is quarantined in the inbox
    }

    def __init__(self, *, event: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.event = check_event_option(event, _ALIASES, self.name)

    def parse(self, delivery: Delivery, params: Mapping[str, str], body: Body) -> ParsedEvent:
        """Decode the query string, form or JSON; find the event; validate its model."""
        if not _loaded:
            _load()
        payload = self._payload(delivery, body)
        event = self._event_name(payload, params)
        hook_id = delivery.headers.get("x-hook-id")
        if hook_id is not None and len(hook_id) > MAX_ID_LENGTH:
            # It becomes part of every key: no real hook id is anywhere near this long.
            raise InvalidPayload(f"header 'X-Hook-ID' is longer than {MAX_ID_LENGTH} characters")
        model_type = _MODELS.get(event)
        if model_type is None:
            return generic_event(self.name, event, payload, hook_id, digest(payload))
        name = self.event_name(event)
        model = validate_model(model_type, payload, name)
        if not isinstance(model, ChannelEvent):
            key = make_key(self.name, event, hook_id, digest(payload))
            return ParsedEvent(name, self.name, key, model)
        # The raw timestamp, not the datetime: exact, and the same whichever way it was sent.
        key = make_key(self.name, event, hook_id, model.call_id, payload.get("timestamp"))
        return ParsedEvent(name, self.name, key, model, normalize(event, name, model), _call(event))

    def _event_name(self, payload: Mapping[str, Any], params: Mapping[str, str]) -> str:
        hook_event = payload.get("hook_event")
        if hook_event is not None:
            return safe_event_name(hook_event) or "unknown"
        segment = params.get("event")
        if segment is not None:
            return event_from_segment(segment, _ALIASES)
        return self.event or infer_event(payload) or "unknown"

    @staticmethod
    def _payload(delivery: Delivery, body: Body) -> dict[str, Any]:
        if body.raw:
            if body.content_type == FORM:
                return decode_bracket_form(body.raw)
            return decode_json_object(body.raw)
        if delivery.query:
            return decode_bracket_form(delivery.query)
        raise MalformedBody("no event in the body or the query string")


def _call(event: str) -> str:
    return f"call.{_PHASES[event]}"


#: Kazoo is the platform Wirecloud runs; both names serve the same webhooks.
Kazoo = Wirecloud
