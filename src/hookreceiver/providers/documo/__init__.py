"""Documo (mFax): legacy multipart fax webhooks with the document attached, and newer JSON events.

Facts (``shared/providers/NOTES.md``, ``documo.txt``):

- Legacy: ``multipart/form-data``; the field ``data`` holds the event as JSON; the file field
  ``attachment`` holds the fax document (absent when ``attachmentEnabled=false``). Events
  ``fax.inbound``, ``fax.outbound`` (success or failure), ``fax.outbound.extended`` (every
  status), and account events ``user.create|delete``, ``number.add|release``,
  ``document.complete|failed``. The payload has no event field.
- New: plain JSON, ``fax.v1.inbound.init|page|succeed|failed|complete``,
  ``fax.v1.outbound.init|succeed|failed|complete``, ``fax.v1.number.add|release``; schema
  unpublished.
- Any 2xx is success; otherwise 7 more attempts (5 s ... 22 h), then an e-mail.
- Optional basic auth (the ``authorization`` header); sender address 35.225.187.84.

The event is read from the URL's ``{event}`` segment, the ``event=`` option, an event field of
a JSON body (``event``, ``eventName``, ``eventType`` or ``type``, when dotted), else from the
fax's ``direction`` and ``status``: inbound is ``fax.inbound``; outbound is ``fax.outbound``
for success or failure and ``fax.outbound.extended`` for the statuses only that webhook sends
(pass ``extended=True`` when the endpoint serves ``fax.outbound.extended``).

Idempotency keys: ``messageId`` for inbound faxes, ``(messageId, status)`` for outbound ones
(the extended webhook posts once per status), ``(event, messageId[, pagesComplete])`` for v1
fax events, and a hash of the payload for account events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ...core.events import ParsedEvent
from ...delivery import Delivery
from ...errors import InvalidPayload, MalformedBody
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
    safe_event_name,
)
from ..base import Provider, validate_model

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ...parsing.attachment import Attachment
    from ..normalized import FaxEvent, fax_name
    from ..normalized import FaxStatus as NormalizedStatus
    from .models import (
        _MODELS,
        AccountEvent,
        DocumentComplete,
        DocumentFailed,
        DocumoAccount,
        DocumoFax,
        FaxDirection,
        FaxInbound,
        FaxOutbound,
        FaxOutboundExtended,
        FaxStatus,
        FaxV1Event,
        FaxV1InboundComplete,
        FaxV1InboundFailed,
        FaxV1InboundInit,
        FaxV1InboundPage,
        FaxV1InboundSucceed,
        FaxV1OutboundComplete,
        FaxV1OutboundFailed,
        FaxV1OutboundInit,
        FaxV1OutboundSucceed,
        NumberAdd,
        NumberRelease,
        NumberV1Add,
        NumberV1Release,
        UserCreate,
        UserDelete,
        _FaxFields,
    )

__all__ = [
    "AccountEvent",
    "DocumentComplete",
    "DocumentFailed",
    "Documo",
    "DocumoAccount",
    "DocumoFax",
    "FaxDirection",
    "FaxInbound",
    "FaxOutbound",
    "FaxOutboundExtended",
    "FaxStatus",
    "FaxV1Event",
    "FaxV1InboundComplete",
    "FaxV1InboundFailed",
    "FaxV1InboundInit",
    "FaxV1InboundPage",
    "FaxV1InboundSucceed",
    "FaxV1OutboundComplete",
    "FaxV1OutboundFailed",
    "FaxV1OutboundInit",
    "FaxV1OutboundSucceed",
    "NumberAdd",
    "NumberRelease",
    "NumberV1Add",
    "NumberV1Release",
    "UserCreate",
    "UserDelete",
]

# The models are defined in .models on first use: see _common.lazy_models.
_loaded = False
_MODEL_NAMES = (*(n for n in __all__ if n != "Documo"), "_MODELS", "_FaxFields")
_load, __getattr__, __dir__ = lazy_models(
    globals(),
    (*_MODEL_NAMES, "models"),
    {".models": _MODEL_NAMES, "..normalized": ("FaxEvent", "fax_name")},
)


def _models() -> Mapping[str, type[BaseModel]]:
    _load()
    return _MODELS


MULTIPART = "multipart/form-data"

#: The events of ``_MODELS``, named without defining the models.
_EVENTS = (
    "fax.inbound",
    "fax.outbound",
    "fax.outbound.extended",
    "user.create",
    "user.delete",
    "number.add",
    "number.release",
    "document.complete",
    "document.failed",
    "fax.v1.inbound.init",
    "fax.v1.inbound.page",
    "fax.v1.inbound.succeed",
    "fax.v1.inbound.failed",
    "fax.v1.inbound.complete",
    "fax.v1.outbound.init",
    "fax.v1.outbound.succeed",
    "fax.v1.outbound.failed",
    "fax.v1.outbound.complete",
    "fax.v1.number.add",
    "fax.v1.number.release",
)

_ALIASES: dict[str, str] = {event: event for event in _EVENTS}

_STATUS: dict[str, NormalizedStatus] = {
    "success": "success",
    "failed": "failed",
    "cancelled": "cancelled",
    "processing": "in_progress",
    "scheduled": "in_progress",
    "transmitting": "in_progress",
}

# v1 events whose name says the outcome. "complete" follows "succeed"/"failed", so it gets
# no normalized view: a "fax.received" handler would otherwise run twice for one fax.
_V1_STATUS: dict[str, NormalizedStatus] = {
    "init": "in_progress",
    "page": "in_progress",
    "succeed": "success",
    "failed": "failed",
}

_EVENT_FIELDS = ("event", "eventName", "eventType", "type")

# Magic numbers of the documents a fax service sends, for parts sent without a content type.
_SNIFF = ((b"%PDF", "application/pdf"), (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff"))


def _sniff(attachment: Attachment) -> None:
    if attachment.content_type not in ("", "application/octet-stream"):
        return
    head = attachment.open().read(4)
    attachment.open()  # rewind for the handler
    for magic, content_type in _SNIFF:
        if head.startswith(magic):
            attachment.content_type = content_type
            return


def infer_event(payload: Mapping[str, Any], extended: bool) -> str | None:
    """The event of a payload that does not name it: its event field, or direction and status."""
    for field in _EVENT_FIELDS:
        named = safe_event_name(payload.get(field))
        if named is not None and "." in named:
            return named
    direction = payload.get("direction")
    if direction == "inbound":
        return "fax.inbound"
    if direction == "outbound":
        final = payload.get("status") in ("success", "failed")
        return "fax.outbound" if final and not extended else "fax.outbound.extended"
    return None


def _text(value: object) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def normalize(event: str, name: str, model: _FaxFields, fax_id: str) -> FaxEvent | None:
    """The cross-provider fax view of a fax event (``None`` for v1 ``complete`` events)."""
    raw = _text(model.status)
    if isinstance(model, FaxV1Event):
        status = _V1_STATUS.get(event.rsplit(".", 1)[1])
        if status is None:
            return None
        direction = "inbound" if ".inbound." in event else "outbound"
    else:
        status = _STATUS.get(raw or "", "unknown")
        direction = "inbound" if event == "fax.inbound" else "outbound"
    return FaxEvent(
        provider="documo",
        event=name,
        source=model,
        direction=direction,
        fax_id=fax_id,
        status=status,
        provider_status=raw,
        pages=model.pages_complete if model.pages_complete is not None else model.pages_count,
        from_number=model.fax_caller_id,
        to_number=model.fax_number,
        attachment=model.attachment,
    )


class Documo(Provider):
    """Documo webhooks; sender IP preset (35.225.187.84) on by default.

    Documo's documented protection is basic auth: pass ``basic_auth=[("user", "password")]``
    as set in its "use basic auth" switch. Both checks apply when both are configured.

    Args:
        event: the event of a path that receives one event (see the module docstring).
        extended: outbound posts here come from ``fax.outbound.extended`` (so a final status
            is not mistaken for ``fax.outbound``).
        never_downgrade: once a final ``fax.outbound.extended`` status (success, failed,
            cancelled) of a fax has been handled, answer a later non-final one of the same fax
            (a late ``transmitting``) as a duplicate without running handlers. On by default;
            the dedup store remembers the final status as long as handled keys.
        **options: as for :class:`~hookreceiver.providers.base.Provider`.
    """

    name: ClassVar[str] = "documo"
    event_aliases: ClassVar[Mapping[str, str]] = _ALIASES
    ip_preset: ClassVar[tuple[str, ...]] = ("35.225.187.84",)
    content_types: ClassVar[frozenset[str]] = frozenset({MULTIPART, "application/json"})
    events: ClassVar[frozenset[str]] = frozenset(f"documo.{e}" for e in _EVENTS)
    event_models: ClassVar[Mapping[str, type[BaseModel]]] = EventModels("documo", _models)

    def __init__(
        self,
        *,
        event: str | None = None,
        extended: bool = False,
        never_downgrade: bool = True,
        **options: Any,
    ):
        super().__init__(**options)
        self.event = check_event_option(event, _ALIASES, self.name)
        self.extended = extended
        self.never_downgrade = never_downgrade

    def parse(self, delivery: Delivery, params: Mapping[str, str], body: Body) -> ParsedEvent:
        """Decode the multipart ``data`` field or the JSON body; find the event; validate."""
        if not _loaded:
            _load()
        payload = self._payload(body)
        segment = params.get("event")
        if segment is not None:
            event: str | None = event_from_segment(segment, _ALIASES)
        else:
            event = self.event or infer_event(payload, self.extended)
        model_type = _MODELS.get(event) if event is not None else None
        if event is None or model_type is None:
            return generic_event(self.name, event or "unknown", payload)
        name = self.event_name(event)
        fax = payload
        if issubclass(model_type, FaxV1Event) and isinstance(payload.get("data"), dict):
            fax = payload["data"]
        model = validate_model(model_type, fax, name)
        if not isinstance(model, _FaxFields):
            return ParsedEvent(name, self.name, make_key(self.name, event, digest(payload)), model)
        attachments = [f for f in body.files if f.field == "attachment"] or body.files
        if attachments:
            _sniff(attachments[0])
            model._attachment = attachments[0]
        key = make_key(self.name, event, *self._key_parts(model, payload))
        fax_id = model.message_id or digest(payload)
        view = normalize(event, name, model, fax_id)
        normalized_name = fax_name(view.direction, view.status) if view is not None else None
        sequence = None
        if self.never_downgrade and isinstance(model, FaxOutboundExtended):
            sequence = make_key(self.name, event, model.message_id)
        return ParsedEvent(
            name,
            self.name,
            key,
            model,
            view,
            normalized_name,
            body.files,
            sequence=sequence,
            final=model.is_final,
        )

    @staticmethod
    def _key_parts(model: _FaxFields, payload: Mapping[str, Any]) -> tuple[object, ...]:
        if isinstance(model, DocumoFax):
            if isinstance(model, FaxInbound):
                return (model.message_id,)
            return (model.message_id, model.status)
        assert isinstance(model, FaxV1Event)
        if model.message_id is None:
            return (digest(payload),)
        if isinstance(model, FaxV1InboundPage):
            return (model.message_id, model.pages_complete)
        return (model.message_id,)

    @staticmethod
    def _payload(body: Body) -> dict[str, Any]:
        if body.content_type != MULTIPART:
            return decode_json_object(body.raw)
        data = body.fields.get("data")
        if data is None:
            raise InvalidPayload("field 'data': missing (the multipart event JSON)")
        try:
            return decode_json_object(data)
        except MalformedBody as exc:
            raise MalformedBody(f"field 'data': {exc.detail}") from None
