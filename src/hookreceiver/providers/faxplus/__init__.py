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
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ValidationError

from ...core.events import ParsedEvent
from ...parsing.json import decode_json_object
from .._common import (
    EventModels,
    digest,
    generic_event,
    lazy_models,
    make_key,
    safe_event_name,
)
from ..base import Provider, validate_model

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ...delivery import Delivery
    from ...parsing.body import Body
    from ..normalized import FaxEvent, fax_name
    from ..normalized import FaxStatus as NormalizedStatus
    from .models import (
        _MODELS,
        FaxPage,
        FaxPageReceived,
        FaxPlusFax,
        FaxPlusHook,
        FaxReceived,
        FaxSent,
        FaxStatus,
        _Envelope,
        _FaxPlusEvent,
    )

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

#: The events of ``_MODELS``, named without defining the models.
_EVENTS = ("fax_sent", "fax_received", "fax_page_received")

# The models are defined in .models on first use: see _common.lazy_models.
_loaded = False


def _fast_models(namespace: dict[str, Any]) -> None:
    # Events whose key needs nothing but the model (page events hash their decoded data), by
    # the bytes of their name in a body.
    namespace["_FAST_MODELS"] = {
        name.encode(): (name, model)
        for name, model in namespace["_MODELS"].items()
        if not issubclass(model, namespace["FaxPage"])
    }


_MODEL_NAMES = (*(n for n in __all__ if n != "FaxPlus"), "_MODELS", "_Envelope", "_FaxPlusEvent")
_load, __getattr__, __dir__ = lazy_models(
    globals(),
    (*_MODEL_NAMES, "models"),
    {".models": _MODEL_NAMES, "..normalized": ("FaxEvent", "fax_name")},
    _fast_models,
)


def _models() -> Mapping[str, type[_FaxPlusEvent]]:
    _load()
    return _MODELS


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
    events: ClassVar[frozenset[str]] = frozenset(f"faxplus.{e}" for e in _EVENTS)
    event_models: ClassVar[Mapping[str, type[BaseModel]]] = EventModels("faxplus", _models)

    def parse(self, delivery: Delivery, params: Mapping[str, str], body: Body) -> ParsedEvent:
        """Decode the JSON, find the event in ``hook.event``, validate its model."""
        if not _loaded:
            _load()
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
#: Filled by _load(): the (event, model) of each event name, by its bytes.
_FAST_MODELS: dict[bytes, tuple[str, type[_FaxPlusEvent]]] = {}
