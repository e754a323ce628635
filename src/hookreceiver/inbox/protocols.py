"""What the inbox uses of a receiver: :class:`InboxReceiver`.

The :class:`~hookreceiver.Receiver` facade sits above the inbox, so the inbox never imports it;
it types the receiver it is handed as this protocol, the core's
:class:`~hookreceiver.core.protocols.ReceiverState` with the inbox's own parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..core.protocols import ReceiverState

if TYPE_CHECKING:
    from ..core.handlers import HandlerSpec
    from .base import Inbox
    from .journal import Journal

__all__ = ["InboxReceiver"]


@runtime_checkable
class InboxReceiver(ReceiverState, Protocol):
    """A receiver as the inbox worker, replay, task queues and the inbox commands use it."""

    @property
    def inbox(self) -> Inbox | None:
        """Where verified deliveries are kept until handled, if anywhere."""

    @property
    def journal(self) -> Journal | None:
        """The fallback journal, if configured."""

    @property
    def dead_letter_handlers(self) -> Sequence[HandlerSpec]:
        """Called when an inbox delivery has failed its last attempt."""
