"""Typed models of Documo webhook events.

The fax object's fields are those of Documo's published samples (camelCase on the wire, read
into snake_case attributes: ``messageId`` -> ``message_id``). Legacy payloads carry a few ids
twice (``accountId`` and ``account_id``): the camelCase value fills the attribute, the other is
kept in ``model_extra`` like every field not listed here (and in ``model_dump(by_alias=True)``;
a dump by attribute name reports the attribute's value).
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from pydantic import (
    Field,
    PrivateAttr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from ...parsing.attachment import Attachment
from ..types import CamelModel, FlexibleId, Int64, OpenEnum, UTCDateTime

__all__ = [
    "AccountEvent",
    "DocumentComplete",
    "DocumentFailed",
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


class FaxStatus(str, Enum):
    """A fax's ``status``; values Documo adds later are kept as plain text."""

    SUCCESS = "success"
    TRANSMITTING = "transmitting"
    SCHEDULED = "scheduled"
    FAILED = "failed"
    PROCESSING = "processing"
    CANCELLED = "cancelled"


class FaxDirection(str, Enum):
    """A fax's ``direction``."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class DocumoAccount(CamelModel):
    """The ``account`` object of a fax."""

    uuid: str | None = None
    account_number: FlexibleId | None = None
    account_name: str | None = None
    account_type: str | None = None


class _FaxFields(CamelModel):
    """Every field of Documo's fax object; all optional."""

    message_id: FlexibleId | None = None
    result_info: str | None = None
    delivery_id: FlexibleId | None = None
    watermark: FlexibleId | None = None
    message_number: FlexibleId | None = None
    status: Annotated[FaxStatus | str, OpenEnum(FaxStatus)] | None = None
    pages_count: Int64 | None = None
    pages_complete: Int64 | None = None
    duration: Int64 | None = None  # milliseconds
    fax_number: str | None = None
    fax_csid: str | None = None
    fax_caller_id: FlexibleId | None = None
    fax_ecm: Int64 | None = Field(None, alias="faxECM")
    fax_speed: Int64 | None = None
    fax_detected: bool | None = None
    fax_protocol: Int64 | None = None
    fax_attempt: Int64 | None = None
    direction: Annotated[FaxDirection | str, OpenEnum(FaxDirection)] | None = None
    channel_type: str | None = None
    recipient_name: str | None = None
    subject: str | None = None
    device_id: FlexibleId | None = None
    faxbridge_id: FlexibleId | None = None
    account_id: FlexibleId | None = None
    error_code: FlexibleId | None = None
    result_code: FlexibleId | None = None
    is_archived: bool | None = None
    is_file_purged: bool | None = None
    country: str | None = None
    created_at: UTCDateTime | None = None
    resolved_date: UTCDateTime | None = None
    deleted_at: UTCDateTime | None = None
    processing_status_name: str | None = None
    classification_label: str | None = None
    account: DocumoAccount | None = None
    cf: dict[str, Any] = Field(default_factory=dict)

    _attachment: Attachment | None = PrivateAttr(default=None)

    # No return annotation: pydantic would take it for the dump's JSON schema (``{}`` for Any).
    @model_serializer(mode="wrap")
    def _attributes_win(  # type: ignore[no-untyped-def]
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ):
        # Extras are dumped after the fields: by attribute name, a legacy twin (account_id
        # beside accountId) would overwrite the attribute's value. By alias both are kept.
        extra, fields = self.__pydantic_extra__, type(self).model_fields
        if info.by_alias or not extra or extra.keys().isdisjoint(fields):
            return handler(self)
        shadow = self.model_copy()
        shadow.__pydantic_extra__ = {k: v for k, v in extra.items() if k not in fields}
        return handler(shadow)

    @property
    def attachment(self) -> Attachment | None:
        """The fax document, when the webhook sends it (legacy multipart ``attachment``).

        Streamed to a temporary file while it arrived; removed after the handlers finish.
        """
        return self._attachment

    @property
    def is_final(self) -> bool:
        """Whether ``status`` is final: a later non-final post must not overwrite it."""
        return self.status in (FaxStatus.SUCCESS, FaxStatus.FAILED, FaxStatus.CANCELLED)


class DocumoFax(_FaxFields):
    """Documo's fax object, as the legacy ``fax.*`` webhooks post it."""

    message_id: FlexibleId


class FaxInbound(DocumoFax):
    """``documo.fax.inbound``: a fax was received (``attachment`` holds it when enabled)."""


class FaxOutbound(DocumoFax):
    """``documo.fax.outbound``: an outbound fax succeeded or failed."""


class FaxOutboundExtended(DocumoFax):
    """``documo.fax.outbound.extended``: an outbound fax's status changed (any status).

    Documo posts one per status, possibly out of order. Once a final status of a fax has been
    handled, a later non-final one is answered as a duplicate and not handled (see
    ``Documo(never_downgrade=...)``).
    """


class FaxV1Event(_FaxFields):
    """Base of the newer JSON ``fax.v1.*`` events.

    Documo has not published their schema: the fax object is read from the body (or from its
    ``data`` member), every field is optional and everything is kept.
    """


class FaxV1InboundInit(FaxV1Event):
    """``documo.fax.v1.inbound.init``: an inbound fax started."""


class FaxV1InboundPage(FaxV1Event):
    """``documo.fax.v1.inbound.page``: a page of an inbound fax arrived."""


class FaxV1InboundSucceed(FaxV1Event):
    """``documo.fax.v1.inbound.succeed``: an inbound fax was received."""


class FaxV1InboundFailed(FaxV1Event):
    """``documo.fax.v1.inbound.failed``: an inbound fax failed."""


class FaxV1InboundComplete(FaxV1Event):
    """``documo.fax.v1.inbound.complete``: an inbound fax's processing finished."""


class FaxV1OutboundInit(FaxV1Event):
    """``documo.fax.v1.outbound.init``: an outbound fax started."""


class FaxV1OutboundSucceed(FaxV1Event):
    """``documo.fax.v1.outbound.succeed``: an outbound fax was delivered."""


class FaxV1OutboundFailed(FaxV1Event):
    """``documo.fax.v1.outbound.failed``: an outbound fax failed."""


class FaxV1OutboundComplete(FaxV1Event):
    """``documo.fax.v1.outbound.complete``: an outbound fax's processing finished."""


class AccountEvent(CamelModel):
    """Base of account and number events; Documo publishes no samples, so all is kept."""


class UserCreate(AccountEvent):
    """``documo.user.create``."""


class UserDelete(AccountEvent):
    """``documo.user.delete``."""


class NumberAdd(AccountEvent):
    """``documo.number.add``."""


class NumberRelease(AccountEvent):
    """``documo.number.release``."""


class DocumentComplete(AccountEvent):
    """``documo.document.complete``."""


class DocumentFailed(AccountEvent):
    """``documo.document.failed``."""


class NumberV1Add(AccountEvent):
    """``documo.fax.v1.number.add``."""


class NumberV1Release(AccountEvent):
    """``documo.fax.v1.number.release``."""


_MODELS: dict[str, type[CamelModel]] = {
    "fax.inbound": FaxInbound,
    "fax.outbound": FaxOutbound,
    "fax.outbound.extended": FaxOutboundExtended,
    "user.create": UserCreate,
    "user.delete": UserDelete,
    "number.add": NumberAdd,
    "number.release": NumberRelease,
    "document.complete": DocumentComplete,
    "document.failed": DocumentFailed,
    "fax.v1.inbound.init": FaxV1InboundInit,
    "fax.v1.inbound.page": FaxV1InboundPage,
    "fax.v1.inbound.succeed": FaxV1InboundSucceed,
    "fax.v1.inbound.failed": FaxV1InboundFailed,
    "fax.v1.inbound.complete": FaxV1InboundComplete,
    "fax.v1.outbound.init": FaxV1OutboundInit,
    "fax.v1.outbound.succeed": FaxV1OutboundSucceed,
    "fax.v1.outbound.failed": FaxV1OutboundFailed,
    "fax.v1.outbound.complete": FaxV1OutboundComplete,
    "fax.v1.number.add": NumberV1Add,
    "fax.v1.number.release": NumberV1Release,
}
