"""Cross-provider views, so one handler can serve several providers.

Every provider event that is a fax, a message or a call also carries a normalized view, which
handlers registered under its normalized name (or its class) receive::

    @hooks.on("fax.received")              # Documo, Fax.Plus and Updox inbound faxes
    def fax_in(fax: FaxEvent, ctx: DeliveryContext) -> None:
        print(fax.provider, fax.fax_id, fax.status, fax.source)   # source: the full typed model

    @hooks.on(FaxEvent)                    # every fax event, whatever its name
    def any_fax(fax: FaxEvent, ctx: DeliveryContext) -> None: ...

Normalized names:

==================  ==============================================================
``fax.received``    an inbound fax finished (``status`` says whether it succeeded)
``fax.sent``        an outbound fax finished (success, partial, failed, cancelled)
``fax.progress``    a fax is under way (queued, transmitting, one page received)
``message.received`` a message arrived (Zipwhip receive, Updox inbound Direct)
``message.sent``    a message was sent (Zipwhip send)
``message.status``  an outbound message's delivery status changed (progress, MDN)
``message.read``    a message was marked read
``message.deleted`` a message was deleted
``call.started``    a call leg was created (Kazoo channel_create)
``call.answered``   a call leg was answered
``call.bridged``    two call legs were bridged
``call.ended``      a call leg hung up (duration, billing seconds, hangup cause)
==================  ==============================================================

Each view keeps the provider's full typed model in ``source``; the view's small status
vocabularies are below, with the provider's own value in ``provider_status``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny

from ..parsing.attachment import Attachment

__all__ = [
    "NORMALIZED_NAMES",
    "CallEvent",
    "CallPhase",
    "Direction",
    "FaxEvent",
    "FaxStatus",
    "MessageEvent",
    "MessageStatus",
    "fax_name",
]

#: ``inbound`` (to the account) or ``outbound`` (from it).
Direction = Literal["inbound", "outbound"]

#: A fax's outcome: final (``success``, ``partial``, ``failed``, ``cancelled``), under way
#: (``in_progress``), or a provider value not mapped yet (``unknown``).
FaxStatus = Literal["success", "partial", "failed", "cancelled", "in_progress", "unknown"]

#: A message's state.
MessageStatus = Literal[
    "received", "sent", "pending", "delivered", "failed", "read", "deleted", "unknown"
]

#: Where a call leg is.
CallPhase = Literal["started", "answered", "bridged", "ended"]

#: Every normalized name, for documentation and strictness checks.
NORMALIZED_NAMES = frozenset(
    {
        "fax.received",
        "fax.sent",
        "fax.progress",
        "message.received",
        "message.sent",
        "message.status",
        "message.read",
        "message.deleted",
        "call.started",
        "call.answered",
        "call.bridged",
        "call.ended",
    }
)

_FINAL_FAX = frozenset({"success", "partial", "failed", "cancelled"})


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, defer_build=True)

    #: The provider's name (``"documo"``).
    provider: str
    #: The provider's full event name (``"documo.fax.inbound"``).
    event: str
    #: The provider's full typed model of the event.
    source: SerializeAsAny[BaseModel] = Field(repr=False)


class FaxEvent(_View):
    """A fax event from any fax provider (Documo, Fax.Plus, Updox).

    Attributes:
        direction: ``inbound`` or ``outbound``.
        fax_id: the provider's id of the fax (Documo ``messageId``, Fax.Plus ``data.id``,
            Updox ``faxId``).
        status: the small normalized status (see :data:`FaxStatus`).
        provider_status: the provider's own status value, when it sends one.
        pages: pages transferred, when known.
        from_number: the sending number or id, when known.
        to_number: the receiving number or id, when known.
        attachment: the fax document when it came with the delivery (Documo legacy webhooks);
            its temporary file is removed after the handlers finish.
    """

    direction: Direction
    fax_id: str
    status: FaxStatus
    provider_status: str | None = None
    pages: int | None = None
    from_number: str | None = None
    to_number: str | None = None
    attachment: Attachment | None = Field(default=None, exclude=True, repr=False)

    @property
    def is_final(self) -> bool:
        """Whether the fax reached a final status (do not overwrite it with a later one)."""
        return self.status in _FINAL_FAX

    @property
    def ok(self) -> bool:
        """Whether the fax went through completely."""
        return self.status == "success"


class MessageEvent(_View):
    """A message event (Zipwhip texts, Updox Direct messages and their MDNs).

    Attributes:
        direction: ``inbound`` or ``outbound``.
        message_id: the provider's message id, as text (Zipwhip's 64-bit ids stay exact).
        status: the small normalized status (see :data:`MessageStatus`).
        provider_status: the provider's own status value or code, as text.
        from_address: the sender's number or address, when known.
        to_address: the recipient's number or address, when known.
        body: the message text, when the provider sends it.
    """

    direction: Direction
    message_id: str
    status: MessageStatus
    provider_status: str | None = None
    from_address: str | None = None
    to_address: str | None = None
    body: str | None = None


class CallEvent(_View):
    """A call leg event (Wirecloud / Kazoo channel events).

    Attributes:
        phase: ``started``, ``answered``, ``bridged`` or ``ended``.
        call_id: the leg's call id.
        direction: ``inbound`` or ``outbound`` (``None`` when Kazoo omits it).
        from_number: the caller's number (``caller_id_number``, else ``from``).
        to_number: the callee's number (``callee_id_number``, else ``to``).
        timestamp: when Kazoo produced the event, aware UTC.
        duration_seconds: for ``ended``: the leg's duration.
        billing_seconds: for ``ended``: the billed seconds.
        hangup_cause: for ``ended``: e.g. ``NORMAL_CLEARING``.
        other_leg_call_id: the bridged leg, when known.
    """

    phase: CallPhase
    call_id: str
    direction: Direction | None = None
    from_number: str | None = None
    to_number: str | None = None
    timestamp: datetime | None = None
    duration_seconds: int | None = None
    billing_seconds: int | None = None
    hangup_cause: str | None = None
    other_leg_call_id: str | None = None


def fax_name(direction: str, status: FaxStatus) -> str:
    """The normalized name of a fax event: ``fax.received``, ``fax.sent`` or ``fax.progress``."""
    if status == "in_progress":
        return "fax.progress"
    return "fax.received" if direction == "inbound" else "fax.sent"
