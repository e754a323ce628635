"""Updox: small JSON events posted to a callback URL, with no event field in the payload.

Facts (``shared/providers/NOTES.md``, ``updox.txt``): POST JSON; events ``inbound_fax``
{faxId, accountId}, ``outbound_fax`` {faxId, accountId, status}, ``inbound_direct``
{accountId, userId, messageId}, ``inbound_mdn`` {messageId, mdnStatus}, ``account_status``
{accountId, active} and ``module_status`` {practiceId, moduleId, active}; ids are longs on
current pages and strings on older ones (both accepted, kept as text). The event comes from the
URL (``/hooks/updox/{event}``, or the ``event=`` option), else from the payload's shape.

Retry rules: 2xx is success, 4xx is dropped for good, 5xx is retried every 5 minutes, 15 times.
So every failure of ours answers 503 and only a payload that cannot be valid answers 400.
No auth or signature exists: protect the endpoint with a secret or signed callback URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ...core.events import ParsedEvent
from ...core.outcome import Outcome
from ...delivery import Delivery
from ...parsing.body import Body
from ...parsing.json import decode_json_object
from .._common import (
    EventModels,
    check_event_option,
    event_from_segment,
    generic_event,
    lazy_models,
    make_key,
)
from ..base import DEFAULT_STATUSES, Provider, validate_model

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ..normalized import FaxEvent, FaxStatus, MessageEvent, MessageStatus, fax_name
    from ..types import CamelModel
    from .models import (
        _MODELS,
        AccountStatus,
        InboundDirect,
        InboundFax,
        InboundMdn,
        MdnStatus,
        ModuleStatus,
        OutboundFax,
        OutboundFaxStatus,
    )

__all__ = [
    "AccountStatus",
    "InboundDirect",
    "InboundFax",
    "InboundMdn",
    "MdnStatus",
    "ModuleStatus",
    "OutboundFax",
    "OutboundFaxStatus",
    "Updox",
]

# The models are defined in .models on first use: see _common.lazy_models.
_loaded = False
_MODEL_NAMES = (*(n for n in __all__ if n != "Updox"), "_MODELS")
_load, __getattr__, __dir__ = lazy_models(
    globals(),
    (*_MODEL_NAMES, "models"),
    {".models": _MODEL_NAMES, "..normalized": ("FaxEvent", "MessageEvent", "fax_name")},
)


def _models() -> Mapping[str, type[BaseModel]]:
    _load()
    return _MODELS


#: The events of ``_MODELS``, named without defining the models.
_EVENTS = (
    "inbound_fax",
    "outbound_fax",
    "inbound_direct",
    "inbound_mdn",
    "account_status",
    "module_status",
)

_ALIASES: dict[str, str] = {
    **{event: event for event in _EVENTS},
    **{event.replace("_", "-"): event for event in _EVENTS},
}

_FAX_STATUS: dict[str, FaxStatus] = {
    "success": "success",
    "failure": "failed",
    "busy": "failed",
    "cancelled": "cancelled",
    # "received": Updox has taken the fax in and will send it.
    "received": "in_progress",
}

_MDN_STATUS: dict[str, MessageStatus] = {
    "received": "delivered",
    "processed": "delivered",
    "dispatched": "delivered",
    "failed": "failed",
    "denied": "failed",
    "deleted": "deleted",
}


def infer_event(payload: Mapping[str, Any]) -> str | None:
    """The event a payload's shape says, for one URL that takes every event."""
    if "mdnStatus" in payload:
        return "inbound_mdn"
    if "faxId" in payload:
        return "outbound_fax" if "status" in payload else "inbound_fax"
    if "messageId" in payload:
        return "inbound_direct"
    if "moduleId" in payload or "practiceId" in payload:
        return "module_status"
    if "active" in payload and "accountId" in payload:
        return "account_status"
    return None


def _text(value: object) -> str:
    return str(getattr(value, "value", value))


def normalize(name: str, model: CamelModel) -> tuple[str | None, FaxEvent | MessageEvent | None]:
    """The normalized name and view of an Updox event (status events have none)."""
    common: dict[str, Any] = {"provider": "updox", "event": name, "source": model}
    if isinstance(model, InboundFax):
        view = FaxEvent(**common, direction="inbound", fax_id=model.fax_id, status="success")
        return "fax.received", view
    if isinstance(model, OutboundFax):
        raw = _text(model.status)
        status = _FAX_STATUS.get(raw, "unknown")
        fax = FaxEvent(
            **common, direction="outbound", fax_id=model.fax_id, status=status, provider_status=raw
        )
        return fax_name("outbound", status), fax
    if isinstance(model, InboundDirect):
        message = MessageEvent(
            **common, direction="inbound", message_id=model.message_id, status="received"
        )
        return "message.received", message
    if isinstance(model, InboundMdn):
        raw = _text(model.mdn_status)
        message = MessageEvent(
            **common,
            direction="outbound",
            message_id=model.message_id,
            status=_MDN_STATUS.get(raw, "unknown"),
            provider_status=raw,
        )
        return "message.status", message
    return None, None


def _key_parts(model: CamelModel) -> tuple[object, ...]:
    if isinstance(model, OutboundFax):
        return (model.fax_id, model.status)
    if isinstance(model, InboundFax):
        return (model.fax_id,)
    if isinstance(model, InboundMdn):
        return (model.message_id, model.mdn_status)
    if isinstance(model, InboundDirect):
        return (model.message_id,)
    if isinstance(model, AccountStatus):
        return (model.account_id, model.active)
    assert isinstance(model, ModuleStatus)
    return (model.practice_id, model.module_id, model.active)


class Updox(Provider):
    """Updox webhooks. Updox publishes no sender addresses and sends no credentials.

    Serve it at ``/hooks/updox/{event}`` (one callback URL per event, registered as
    ``.../inbound_fax`` ...), at a fixed path with ``event="inbound_fax"``, or at one path for
    every event: the event is then inferred from the payload's shape. Protect it with a signed
    or secret callback URL guard, or ``allow_ips``.

    Args:
        event: the event of a path without ``{event}``; omit to infer it from the payload.
        **options: as for :class:`~hookreceiver.providers.base.Provider`.
    """

    name: ClassVar[str] = "updox"
    event_aliases: ClassVar[Mapping[str, str]] = _ALIASES
    events: ClassVar[frozenset[str]] = frozenset(f"updox.{e}" for e in _EVENTS)
    event_models: ClassVar[Mapping[str, type[BaseModel]]] = EventModels("updox", _models)
    # Updox drops any 4xx for good and retries 5xx: a failure of ours must never be a 4xx.
    statuses: ClassVar[Mapping[Outcome, int]] = {
        **DEFAULT_STATUSES,
        Outcome.IN_FLIGHT: 503,
        Outcome.HANDLER_FAILED: 503,
        Outcome.STORE_UNAVAILABLE: 503,
        Outcome.RECEIVER_ERROR: 503,
    }

    def __init__(self, *, event: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.event = check_event_option(event, _ALIASES, self.name)

    def parse(self, delivery: Delivery, params: Mapping[str, str], body: Body) -> ParsedEvent:
        """Decode the JSON; the event from the URL, the option, or the payload's shape."""
        if not _loaded:
            _load()
        payload = decode_json_object(body.raw)
        segment = params.get("event")
        if segment is not None:
            event: str | None = event_from_segment(segment, _ALIASES)
        else:
            event = self.event or infer_event(payload)
        model_type = _MODELS.get(event) if event is not None else None
        if model_type is None:
            return generic_event(self.name, event or "unknown", payload)
        assert event is not None
        name = self.event_name(event)
        model = validate_model(model_type, payload, name)
        key = make_key(self.name, event, *_key_parts(model))
        normalized_name, view = normalize(name, model)
        return ParsedEvent(name, self.name, key, model, view, normalized_name)
