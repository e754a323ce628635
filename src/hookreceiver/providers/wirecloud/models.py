"""Typed models of Wirecloud (2600Hz Kazoo) webhook events.

Kazoo omits undefined fields, so nearly every field is optional; ``call_id`` is what a channel
event is about and is required. Form bodies carry every value as text: booleans arrive as
``true``/``false`` and numbers as digits, which the models coerce. ``custom_data`` configured
on the webhook is merged into the event by Kazoo and kept in ``model_extra``.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from pydantic import AliasChoices, Field, model_validator

from ..types import FlexibleId, FormDict, GregorianSeconds, IdText, Int64, OpenEnum, WireModel

__all__ = [
    "CallDirection",
    "KazooModel",
    "ChannelAnswer",
    "ChannelBridge",
    "ChannelCreate",
    "ChannelDestroy",
    "ChannelEvent",
    "Notification",
    "ObjectAction",
    "ObjectEvent",
    "Parking",
    "ParkingEventName",
]


class CallDirection(str, Enum):
    """``call_direction``."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class ObjectAction(str, Enum):
    """``action`` of an ``object`` event."""

    DOC_CREATED = "doc_created"
    DOC_EDITED = "doc_edited"
    DOC_DELETED = "doc_deleted"


class ParkingEventName(str, Enum):
    """``event_name`` of a ``parking`` event."""

    PARK_PARKED = "PARK_PARKED"
    PARK_RETRIEVED = "PARK_RETRIEVED"
    PARK_ABANDONED = "PARK_ABANDONED"


_WIRE_NAMES: dict[type, frozenset[str]] = {}


class KazooModel(WireModel):
    """Base of the Kazoo models: a blank form value of a known field counts as absent.

    A form or query string cannot say "no value" except by an empty one (``ringing_seconds=``),
    which would otherwise fail an integer or boolean field.
    """

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "" not in data.values():
            return data
        names = _WIRE_NAMES.get(cls)
        if names is None:
            names = _WIRE_NAMES[cls] = frozenset(
                name
                for key, info in cls.model_fields.items()
                for name in (key, info.alias, *_choices(info.validation_alias))
                if isinstance(name, str)
            )
        return {k: v for k, v in data.items() if v != "" or k not in names}


def _choices(alias: object) -> tuple[object, ...]:
    return tuple(getattr(alias, "choices", ()))


class ChannelEvent(KazooModel):
    """The fields every channel event carries (``from`` is read into ``from_``)."""

    call_id: IdText
    hook_event: str | None = None
    timestamp: GregorianSeconds | None = None
    account_id: str | None = None
    authorizing_id: str | None = None
    authorizing_type: str | None = None
    call_direction: Annotated[CallDirection | str, OpenEnum(CallDirection)] | None = None
    call_forwarded: bool | None = None
    callee_id_name: str | None = None
    callee_id_number: str | None = None
    caller_id_name: str | None = None
    caller_id_number: str | None = None
    custom_channel_vars: FormDict = Field(default_factory=dict)
    custom_application_vars: FormDict = Field(default_factory=dict)
    emergency_resource_used: bool | None = None
    from_: str | None = Field(None, alias="from")
    to: str | None = None
    request: str | None = None
    inception: str | None = None
    is_internal_leg: bool | None = None
    local_resource_id: str | None = None
    local_resource_used: bool | None = None
    other_leg_call_id: str | None = None
    owner_id: str | None = None
    reseller_id: str | None = None
    cluster_id: str | None = None


class ChannelCreate(ChannelEvent):
    """``wirecloud.channel_create``: a new call leg (what most call a new call)."""


class ChannelAnswer(ChannelEvent):
    """``wirecloud.channel_answer``: the called party answered."""


class ChannelBridge(ChannelEvent):
    """``wirecloud.channel_bridge``: two legs were bridged."""

    original_number: str | None = None
    other_leg_destination_number: str | None = None


class ChannelDestroy(ChannelEvent):
    """``wirecloud.channel_destroy``: the leg hung up."""

    hangup_cause: str | None = None
    hangup_code: str | None = None
    duration_seconds: Int64 | None = None
    ringing_seconds: Int64 | None = None
    billing_seconds: Int64 | None = None


class ObjectEvent(KazooModel):
    """``wirecloud.object``: a configuration document was created, edited or deleted."""

    id: FlexibleId
    account_id: str | None = None
    action: Annotated[ObjectAction | str, OpenEnum(ObjectAction)]
    type: str | None = None


class Notification(KazooModel):
    """``wirecloud.notifications``: a Kazoo notification (voicemail, fax, ...) was sent."""

    event_name: str
    app_name: str | None = None
    msg_id: str | None = None
    account_id: str | None = None


class Parking(KazooModel):
    """``wirecloud.parking``: a call was parked, retrieved or abandoned.

    Kazoo spells one field ``caller_id_Number``; it is read into ``caller_id_number``.
    """

    event_name: Annotated[ParkingEventName | str, OpenEnum(ParkingEventName)]
    account_id: str | None = None
    call_id: str | None = None
    callee_id_name: str | None = None
    callee_id_number: str | None = None
    caller_id_name: str | None = None
    caller_id_number: str | None = Field(
        None, validation_alias=AliasChoices("caller_id_Number", "caller_id_number")
    )
    parking_slot: FlexibleId | None = None


_MODELS: dict[str, type[KazooModel]] = {
    "channel_create": ChannelCreate,
    "channel_answer": ChannelAnswer,
    "channel_bridge": ChannelBridge,
    "channel_destroy": ChannelDestroy,
    "object": ObjectEvent,
    "notifications": Notification,
    "parking": Parking,
}
