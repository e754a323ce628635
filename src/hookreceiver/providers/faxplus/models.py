"""Typed models of Fax.Plus webhook events: ``{hook, data}``.

Imported on first use (see :mod:`hookreceiver.providers.faxplus`); every name here is also
public there.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from pydantic import AliasChoices, Field

from ..types import FlexibleId, Int64, OpenEnum, UTCDateTime, WireModel

__all__ = [
    "FaxPage",
    "FaxPageReceived",
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
