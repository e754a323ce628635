"""The delivery engine: one sans-IO flow of typed effects, two drivers, one entry point.

Its own layer, just above :mod:`hookreceiver.core` (whose value types and protocols it uses;
the core never imports it), and typed against ``core.protocols.ReceiverState``, never the
``Receiver`` facade. The walk of a delivery:
an adapter builds a :class:`~hookreceiver.Delivery` and calls :func:`dispatch` (or
:func:`adispatch`); :mod:`.flow` verifies, reads and parses it, :mod:`.handling` claims, runs
the handlers and settles; the :mod:`drivers <.drivers>` perform the :mod:`effects <.effects>`;
the :class:`DeliveryReport` goes to the receiver's observers and back to the adapter.
"""

from .dispatch import INTERNAL_ERROR, NOT_FOUND, DeliveryAbandoned, adispatch, dispatch
from .drivers import drive_async, drive_sync
from .effects import Effect, perform
from .report import DeliveryReport, EventLog, Observer, notify
from .tracing import DeliveryTrace, Tracer

__all__ = [
    "INTERNAL_ERROR",
    "NOT_FOUND",
    "DeliveryAbandoned",
    "DeliveryReport",
    "DeliveryTrace",
    "Effect",
    "EventLog",
    "Observer",
    "Tracer",
    "adispatch",
    "dispatch",
    "drive_async",
    "drive_sync",
    "notify",
    "perform",
]
