"""Typed models of Updox webhook events (camelCase on the wire, read into snake_case).

Imported on first use (see :mod:`hookreceiver.providers.updox`); every name here is also
public there.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from ..types import CamelModel, FlexibleId, OpenEnum

__all__ = [
    "AccountStatus",
    "InboundDirect",
    "InboundFax",
    "InboundMdn",
    "MdnStatus",
    "ModuleStatus",
    "OutboundFax",
    "OutboundFaxStatus",
]


class OutboundFaxStatus(str, Enum):
    """``outbound_fax`` statuses; values Updox adds later are kept as plain text."""

    BUSY = "busy"
    CANCELLED = "cancelled"
    FAILURE = "failure"
    RECEIVED = "received"
    SUCCESS = "success"


class MdnStatus(str, Enum):
    """``inbound_mdn`` statuses (Direct message disposition notifications)."""

    RECEIVED = "received"
    PROCESSED = "processed"
    DISPATCHED = "dispatched"
    FAILED = "failed"
    DELETED = "deleted"
    DENIED = "denied"


class InboundFax(CamelModel):
    """``updox.inbound_fax``: a fax was received into Updox."""

    fax_id: FlexibleId
    account_id: FlexibleId | None = None


class OutboundFax(CamelModel):
    """``updox.outbound_fax``: a fax sent out of Updox changed status."""

    fax_id: FlexibleId
    account_id: FlexibleId | None = None
    status: Annotated[OutboundFaxStatus | str, OpenEnum(OutboundFaxStatus)]


class InboundDirect(CamelModel):
    """``updox.inbound_direct``: a Direct message arrived."""

    message_id: FlexibleId
    account_id: FlexibleId | None = None
    user_id: FlexibleId | None = None


class InboundMdn(CamelModel):
    """``updox.inbound_mdn``: a Direct message's disposition (MDN) changed."""

    message_id: FlexibleId
    mdn_status: Annotated[MdnStatus | str, OpenEnum(MdnStatus)]


class AccountStatus(CamelModel):
    """``updox.account_status``: an account was activated or deactivated."""

    account_id: FlexibleId
    active: bool


class ModuleStatus(CamelModel):
    """``updox.module_status``: a practice's module was switched on or off."""

    practice_id: FlexibleId | None = None
    module_id: FlexibleId
    active: bool


_MODELS: dict[str, type[CamelModel]] = {
    "inbound_fax": InboundFax,
    "outbound_fax": OutboundFax,
    "inbound_direct": InboundDirect,
    "inbound_mdn": InboundMdn,
    "account_status": AccountStatus,
    "module_status": ModuleStatus,
}
