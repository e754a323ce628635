"""Fax.Plus: JSON ``{hook, data}`` deliveries for ``fax_sent``, ``fax_received`` and
``fax_page_received``.

Facts (``shared/providers/NOTES.md``): POST JSON only; times are ``YYYY-MM-DD HH:mm:ss`` in UTC;
the docs say ``from``/``to`` while the official SDKs' model says ``from_number``/``to_number``:
both are accepted. ``hook.id != data.id`` means the fax is being retried, so the idempotency key
is ``(hook.event, hook.id)``. Sender addresses 34.65.253.117 and 34.65.146.131.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from enum import Enum
from typing import Annotated, ClassVar

from pydantic import AliasChoices, BaseModel, Field, ValidationError

from ..core.events import ParsedEvent
from ..delivery import Delivery
from ..parsing.body import Body
from ..parsing.json import decode_json_object
from ._common import WireModel, digest, generic_event, make_key, safe_event_name
from .base import Provider, validate_model
from .normalized import FaxEvent, fax_name
from .normalized import FaxStatus as NormalizedStatus
from .types import FlexibleId, Int64, OpenEnum, UTCDateTime

__all__ = [
    "FaxPage",
    "FaxPageReceived",
    "FaxPlus",
    "FaxPlusFax",
    "FaxPlusHook",
    "FaxReceived",
    "FaxSent",
    "FaxStatus",
]


class FaxStatus(str, Enum):
    """Fax.Plus's ``FaxStatus``; values it adds later are kept as plain strings."""

    SUCCESS = "success"
    PARTIALLY_SENT = "partially_sent"
    PARTIALLY_RECEIVED = "partially_received"
    INSUFFICIENT_CREDIT = "insufficient_credit"
    FAILED = "failed"
    FAILED_INTERNAL_PROCESS_ERROR = "failed_internal_process_error"
    FAILED_USER_BUSY = "failed_user_busy"
    FAILED_NO_ANSWER = "failed_no_answer"
    FAILED_UNALLOCATED_NUMBER = "failed_unallocated_number"
    FAILED_OFFICE_CONVERTER_ISSUE = "failed_office_converter_issue"
    FAILED_SEPARATE_FILE_PAGES_ISSUE = "failed_separate_file_pages_issue"
    FAILED_RENDER_HEADER_ISSUE = "failed_render_header_issue"
    FAILED_INVALID_NUMBER_FORMAT = "failed_invalid_number_format"
    FAILED_MIMETYPE_NOT_SUPPORTED = "failed_mimetype_not_supported"
    FAILED_DESTINATION_NOT_SUPPORTED = "failed_destination_not_supported"
    FAILED_IMAGE_PREPARATION = "failed_image_preparation"
    FAILED_TO_SEND = "failed_to_send"
    FAILED_NORMAL_TEMPORARY_FAILURE = "failed_normal_temporary_failure"
    FAILED_UNKNOWN_CONVERTER_ISSUE = "failed_unknown_converter_issue"
    FAILED_NORMAL_CLEARING = "failed_normal_clearing"
    FAILED_CONVERT_TO_TIFF_ISSUE = "failed_convert_to_tiff_issue"
    FAILED_FS_49 = "failed_fs_49"
    FAILED_FS_2 = "failed_fs_2"


class FaxPlusHook(WireModel):
    """The ``hook`` part: which webhook fired, and when."""

    id: FlexibleId
    event: str
    event_time: UTCDateTime
    target: str | None = None


class FaxPlusFax(WireModel):
    """The ``data`` part: the fax session.

    ``from_number``/``to_number`` are read from ``from``/``to`` (the docs) or from
    ``from_number``/``to_number`` (the official SDKs' model).
    """

    id: FlexibleId
    uid: FlexibleId | None = None
    pages: Int64 | None = None
    from_number: str | None = Field(None, validation_alias=AliasChoices("from", "from_number"))
    to_number: str | None = Field(None, validation_alias=AliasChoices("to", "to_number"))
    start_time: UTCDateTime | None = None
    file: str | None = None
    file_name: str | None = None
    cost: float | None = None
    status: Annotated[FaxStatus | str, OpenEnum(FaxStatus)]


class _FaxPlusEvent(WireModel):
    hook: FaxPlusHook
    data: FaxPlusFax

    @property
    def is_retry(self) -> bool:
        """Fax.Plus retries a fax under a new hook id: ``hook.id != data.id``."""
        return self.hook.id != self.data.id


class FaxSent(_FaxPlusEvent):
    """``faxplus.fax_sent``: an outbound fax finished (see ``data.status``)."""


class FaxReceived(_FaxPlusEvent):
    """``faxplus.fax_received``: a fax was received."""


class FaxPage(_FaxPlusEvent):
    """Base of page-streaming events."""


class FaxPageReceived(FaxPage):
    """``faxplus.fax_page_received``: one page of a fax being received (fax streaming)."""


class _Envelope(WireModel):
    # Only to name the missing or broken part of a body whose event cannot be read.
    hook: FaxPlusHook


_MODELS: dict[str, type[_FaxPlusEvent]] = {
    "fax_sent": FaxSent,
    "fax_received": FaxReceived,
    "fax_page_received": FaxPageReceived,
}


def fax_status(status: FaxStatus | str) -> NormalizedStatus:
    """Fax.Plus's status in the normalized vocabulary."""
    value = status.value if isinstance(status, FaxStatus) else status
    if value == "success":
        return "success"
    if value.startswith("partially_"):
        return "partial"
    if value.startswith("failed") or value == "insufficient_credit":
        return "failed"
    return "unknown"


def normalize(name: str, model: _FaxPlusEvent) -> FaxEvent:
    """The cross-provider fax view of a Fax.Plus event."""
    data = model.data
    inbound = not isinstance(model, FaxSent)
    status = "in_progress" if isinstance(model, FaxPage) else fax_status(data.status)
    return FaxEvent(
        provider="faxplus",
        event=name,
        source=model,
        direction="inbound" if inbound else "outbound",
        fax_id=data.id,
        status=status,
        provider_status=str(getattr(data.status, "value", data.status)),
        pages=data.pages,
        from_number=data.from_number,
        to_number=data.to_number,
    )


class FaxPlus(Provider):
    """Fax.Plus webhooks: POST JSON ``{hook, data}``; sender IP preset on by default.

    Event names: ``faxplus.fax_sent``, ``faxplus.fax_received``, ``faxplus.fax_page_received``
    (normalized: ``fax.sent``, ``fax.received``, ``fax.progress``). Idempotency key:
    ``(hook.event, hook.id)``; page events add a hash of ``data`` (several pages share a hook id).
    """

    name: ClassVar[str] = "faxplus"
    ip_preset: ClassVar[tuple[str, ...]] = ("34.65.253.117", "34.65.146.131")
    events: ClassVar[frozenset[str]] = frozenset(f"faxplus.{e}" for e in _MODELS)
    event_models: ClassVar[Mapping[str, type[BaseModel]]] = {
        f"faxplus.{e}": model for e, model in _MODELS.items()
    }

    def parse(self, delivery: Delivery, params: Mapping[str, str], body: Body) -> ParsedEvent:
        """Decode the JSON, find the event in ``hook.event``, validate its model."""
        event = self._parse_fast(body.raw)
        if event is not None:
            return event
        payload = decode_json_object(body.raw)
        hook = payload.get("hook")
        raw_event = hook.get("event") if isinstance(hook, dict) else None
        if not isinstance(raw_event, str) or not raw_event:
            validate_model(_Envelope, payload)  # raises naming the missing or bad field
        event_name = safe_event_name(raw_event) or "unknown"
        model_type = _MODELS.get(event_name)
        if model_type is None:
            hook_id = hook.get("id") if isinstance(hook, dict) else None
            return generic_event(self.name, event_name, payload, hook_id, digest(payload))
        model = validate_model(model_type, payload, self.event_name(event_name))
        if isinstance(model, FaxPage):
            key = make_key(self.name, event_name, model.hook.id, digest(payload.get("data")))
        else:
            key = make_key(self.name, event_name, model.hook.id)
        return self._parsed_event(event_name, model, key)

    def _parse_fast(self, raw: bytes) -> ParsedEvent | None:
        # The common case in one pass: guess the event from the bytes, validate the model
        # straight from the JSON, and keep the result only if the model's own hook.event is
        # the guess. Anything else (no guess, a page event whose key hashes the decoded data,
        # a body that does not validate) takes the general path, which names the error.
        # The compact spelling Fax.Plus sends is found without the regex; any other falls back.
        start = raw.find(b'"event":"')
        end = raw.find(b'"', start + 9) if start >= 0 else -1
        fast = _FAST_MODELS.get(raw[start + 9 : end]) if end >= 0 else None
        if fast is None:
            found = _EVENT_GUESS.search(raw)
            if found is None:
                return None
            fast = _FAST_MODELS.get(found.group(1))
            if fast is None:
                return None
        event_name, model_type = fast
        try:
            # model_validate_json's own call, without its Python frame (it adds no option here).
            model: _FaxPlusEvent = model_type.__pydantic_validator__.validate_json(raw)
        except ValidationError:
            return None
        if model.hook.event != event_name:
            return None
        key = make_key(self.name, event_name, model.hook.id)
        return self._parsed_event(event_name, model, key)

    def _parsed_event(self, event: str, model: _FaxPlusEvent, key: str) -> ParsedEvent:
        # The view is built only if a handler takes it: its name comes from the model alone.
        model_type = type(model)
        status = model.data.status
        names = self._names.get((model_type, status)) if type(status) is FaxStatus else None
        if names is None:
            names = self._event_names(event, model_type, status)
        return ParsedEvent(
            names[0],
            self.name,
            key,
            model,
            normalized_name=names[1],
            normalizer=_view,
            normalized_type=FaxEvent,
        )

    @functools.cached_property
    def _names(self) -> dict[tuple[type[_FaxPlusEvent], FaxStatus], tuple[str, str]]:
        # (model class, known status) -> (full event name, normalized name), as they are seen.
        return {}

    def _event_names(
        self, event: str, model_type: type[_FaxPlusEvent], status: FaxStatus | str
    ) -> tuple[str, str]:
        """The full and the normalized name of an event of ``model_type`` with ``status``;
        kept for the known statuses (a few dozen pairs), computed each time for others."""
        direction = "outbound" if issubclass(model_type, FaxSent) else "inbound"
        normalized = "in_progress" if issubclass(model_type, FaxPage) else fax_status(status)
        names = (self.event_name(event), fax_name(direction, normalized))
        if type(status) is FaxStatus and _MODELS.get(event) is model_type:
            self._names[(model_type, status)] = names
        return names


def _view(event: ParsedEvent) -> FaxEvent:
    return normalize(event.name, event.model)  # type: ignore[arg-type]  # a _FaxPlusEvent


# "event": "<name>" anywhere in the body: only a guess, checked against the validated model.
_EVENT_GUESS = re.compile(rb'"event"\s*:\s*"([a-z0-9_]{1,64})"')
# Events whose key needs nothing but the model (page events hash their decoded data), by the
# bytes of their name in a body.
_FAST_MODELS: dict[bytes, tuple[str, type[_FaxPlusEvent]]] = {
    name.encode(): (name, model)
    for name, model in _MODELS.items()
    if not issubclass(model, FaxPage)
}
