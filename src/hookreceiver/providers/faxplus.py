"""Fax.Plus: JSON ``{hook, data}`` deliveries for ``fax_sent``, ``fax_received`` and
``fax_page_received``.

Facts (``shared/providers/NOTES.md``): POST JSON only; times are ``YYYY-MM-DD HH:mm:ss`` in UTC;
the docs say ``from``/``to`` while the official SDKs' model says ``from_number``/``to_number``:
both are accepted. ``hook.id != data.id`` means the fax is being retried, so the idempotency key
is ``(hook.event, hook.id)``. Sender addresses 34.65.253.117 and 34.65.146.131.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import ClassVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from ..core.delivery import Delivery
from ..core.events import GenericEvent, ParsedEvent
from ..parsing.body import Body
from ..parsing.json import decode_json_object
from .base import Provider, validate_model
from .types import FlexibleId, UTCDateTime

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


class FaxPlusHook(BaseModel):
    """The ``hook`` part: which webhook fired, and when."""

    model_config = ConfigDict(extra="allow")

    id: FlexibleId
    event: str
    event_time: UTCDateTime
    target: str | None = None


class FaxPlusFax(BaseModel):
    """The ``data`` part: the fax session."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: FlexibleId
    uid: FlexibleId | None = None
    pages: int | None = None
    from_number: str | None = Field(None, validation_alias=AliasChoices("from", "from_number"))
    to_number: str | None = Field(None, validation_alias=AliasChoices("to", "to_number"))
    start_time: UTCDateTime | None = None
    file: str | None = None
    file_name: str | None = None
    cost: float | None = None
    status: FaxStatus | str


class _FaxPlusEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    hook: FaxPlusHook
    data: FaxPlusFax

    @property
    def is_retry(self) -> bool:
        """Fax.Plus retries a fax under a new hook id: ``hook.id != data.id``."""
        return self.hook.id != self.data.id


class FaxSent(_FaxPlusEvent):
    """``faxplus.fax_sent``: a fax was sent (see ``data.status``)."""


class FaxReceived(_FaxPlusEvent):
    """``faxplus.fax_received``: a fax was received."""


class FaxPage(_FaxPlusEvent):
    """Base of page-streaming events."""


class FaxPageReceived(FaxPage):
    """``faxplus.fax_page_received``: one page of a fax being received (fax streaming)."""


_MODELS: dict[str, type[_FaxPlusEvent]] = {
    "fax_sent": FaxSent,
    "fax_received": FaxReceived,
    "fax_page_received": FaxPageReceived,
}


class FaxPlus(Provider):
    """Fax.Plus webhooks: POST JSON; sender IP preset on by default."""

    name: ClassVar[str] = "faxplus"
    ip_preset: ClassVar[tuple[str, ...]] = ("34.65.253.117", "34.65.146.131")
    events: ClassVar[frozenset[str]] = frozenset(f"faxplus.{e}" for e in _MODELS)

    def parse(self, delivery: Delivery, params: Mapping[str, str], body: Body) -> ParsedEvent:
        """Decode the JSON, find the event in ``hook.event``, validate its model."""
        payload = decode_json_object(body.raw)
        hook = payload.get("hook")
        event = hook.get("event") if isinstance(hook, dict) else None
        if not isinstance(event, str) or not event:
            event = validate_model(FaxPlusHook, hook).event  # raises naming the bad field
        model_type = _MODELS.get(event)
        name = self.event_name(event)
        if model_type is None:
            generic = GenericEvent(provider=self.name, name=name, payload=payload)
            hook_id = hook.get("id") if isinstance(hook, dict) else None
            return ParsedEvent(name, self.name, f"faxplus:{event}:{hook_id}", generic)
        model = validate_model(model_type, payload)
        return ParsedEvent(name, self.name, f"faxplus:{event}:{model.hook.id}", model)
