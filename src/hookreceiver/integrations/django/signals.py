"""Django signals for webhook events: one per event name, and one for every event.

``webhook_received`` is sent for every handled event; ``event_signal(name)`` is the signal of
one event name (``"documo.fax.inbound"``), or of a cross-provider view (``"fax.received"``,
sent with the normalized event). Both send ``sender`` = the event's model class, ``event``
and ``context`` (a :class:`~hookreceiver.DeliveryContext`). A receiver that raises fails
the delivery like a handler would: the sender is told to retry, or the inbox retries it.
"""

from __future__ import annotations

import threading
from typing import Any

from django.dispatch import Signal

__all__ = ["event_signal", "send_event", "webhook_received"]

#: Sent for every handled event.
webhook_received = Signal()

_signals: dict[str, Signal] = {}
_lock = threading.Lock()


def event_signal(name: str) -> Signal:
    """The signal of event ``name`` (created on first use; the same object afterwards)."""
    found = _signals.get(name)
    if found is None:
        with _lock:
            found = _signals.setdefault(name, Signal())
    return found


def send_event(event: Any, context: Any) -> None:
    """Send the signals of one handled event (the receiver's catch-all handler calls this)."""
    name = context.event_name
    event_signal(name).send(sender=type(event), event=event, context=context)
    parsed = context.event
    view = parsed.normalized if parsed.normalized_name else None
    if view is not None and parsed.normalized_name in _signals:
        _signals[parsed.normalized_name].send(sender=type(view), event=view, context=context)
    webhook_received.send(sender=type(event), event=event, context=context)
