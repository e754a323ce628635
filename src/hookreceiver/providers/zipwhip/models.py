"""Typed models of Zipwhip webhook events (camelCase on the wire, read into snake_case).

Imported on first use (see :mod:`hookreceiver.providers.zipwhip`); every name here is also
public there.
"""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import Annotated, Any

from ..types import CamelModel, ExactInt, FlexibleId, Int64, OpenEnum, UTCDateTime

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
]


class StatusCode(IntEnum):
    """Zipwhip's ``statusCode``; codes it adds later are kept as plain integers."""

    RECIPIENT_STOPPED = -1234  # the recipient sent STOP (failure)
    INTERNAL_ERROR = -855  # final failure
    SPAM_PROTECTION = -801  # failure
    DELIVERED_UNCONFIRMED = 0  # final success
    IN_PROCESS = 1
    QUEUED_2 = 2
    QUEUED_3 = 3
    DELIVERED_CONFIRMED = 4  # final success
    ERROR_CONFIRMED = 5  # final failure
    DELIVERED_BY_RECEIPT = 6  # final success
    ERROR_BY_RECEIPT = 7  # final failure


class MessageType(str, Enum):
    """``messageType``: mobile-originated, Zipwhip-originated or mobile-terminated."""

    MO = "MO"
    ZO = "ZO"
    MT = "MT"


class Message(CamelModel):
    """A Zipwhip message, as every message event carries it (wire names are camelCase)."""

    id: ExactInt
    body: str | None = None
    body_size: Int64 | None = None
    visible: bool | None = None
    has_attachment: bool | None = None
    date_read: UTCDateTime | None = None
    bcc: Any = None
    cc: Any = None
    final_destination: str | None = None
    final_source: str | None = None
    message_type: Annotated[MessageType | str, OpenEnum(MessageType)] | None = None
    deleted: bool | None = None
    status_code: Annotated[StatusCode | int, OpenEnum(StatusCode)] | None = None
    message_status: Int64 | None = None
    scheduled_date: UTCDateTime | None = None
    fingerprint: FlexibleId | None = None
    message_transport: Int64 | None = None
    contact_id: ExactInt | None = None
    address: str | None = None
    read: bool | None = None
    date_created: UTCDateTime | None = None
    date_deleted: UTCDateTime | None = None
    date_delivered: UTCDateTime | None = None
    device_id: ExactInt | None = None


class MessageReceive(Message):
    """``zipwhip.message.receive``: a text arrived."""


class MessageSend(Message):
    """``zipwhip.message.send``: a text was sent."""


class MessageProgress(Message):
    """``zipwhip.message.progress``: a sent text's ``statusCode`` changed."""


class MessageRead(Message):
    """``zipwhip.message.read``: a text was marked read."""


class MessageDelete(Message):
    """``zipwhip.message.delete``: a text was deleted."""


class OptOutChange(CamelModel):
    """``zipwhip.optout.change``: a contact opted out or back in.

    Zipwhip publishes no sample of this payload: every field is kept (``model_extra``).
    """

    address: str | None = None


_MODELS: dict[str, type[CamelModel]] = {
    "message.receive": MessageReceive,
    "message.send": MessageSend,
    "message.progress": MessageProgress,
    "message.read": MessageRead,
    "message.delete": MessageDelete,
    "optout.change": OptOutChange,
}

# What the URL segment (or the event= option) may say for each event.
