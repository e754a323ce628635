"""What the three task-queue examples share: the receiver of ``examples/webhooks.py`` with every
endpoint in inbox mode and no in-process worker (the queue's workers handle the deliveries).

Environment variables, beside those of ``examples/starlette_app.py``:

``HOOKRECEIVER_INBOX``       the inbox's URL, shared by receivers and workers: for several
                             hosts ``postgresql://user@host/db`` (passed to psycopg as given, so
                             ``?options=-csearch_path%3Dmyschema`` works; ``?table=`` names it).
``HOOKRECEIVER_STORE``       the dedup store's URL: ``postgresql://...?table=``, ``redis://...``
                             or ``sqlite:///path``.
``HOOKRECEIVER_BROKER_URL``  the broker (each example names its default).
``HOOKRECEIVER_QUEUE``       the broker queue's name (default ``hookreceiver``).
``HOOKRECEIVER_SWEEP_EVERY`` seconds between sweeps for lost messages (default 30).
``HOOKRECEIVER_SWEEP_GRACE`` seconds a delivery may be overdue before a sweep re-sends it
                             (default 60).

Each handled event is one JSON line on stdout with ``event``, ``idempotency_key``, ``pid`` and
``delivery_id``, written by the worker that ran its handlers.
"""

from __future__ import annotations

import json
import logging
import os

from examples.webhooks import build_receiver
from hookreceiver import Receiver

__all__ = ["broker_url", "build_queued_receiver", "queue_name", "sweep_every", "sweep_grace"]


class _WithPid(logging.Formatter):
    """The receiver's JSON event line, with the process that handled the event."""

    def format(self, record: logging.LogRecord) -> str:
        line = record.getMessage()
        try:
            fields = json.loads(line)
        except ValueError:
            return line
        return json.dumps({**fields, "pid": record.process})


def build_queued_receiver() -> Receiver:
    """The examples' receiver for task-queue workers: all endpoints ``ack="inbox"``."""
    hooks = build_receiver(worker=False, ack="inbox")
    # StreamHandler writes each line and its newline in one call: concurrent lines never mix.
    for handler in logging.getLogger("hookreceiver.events").handlers:
        handler.setFormatter(_WithPid())
    return hooks


def broker_url(default: str) -> str:
    """``HOOKRECEIVER_BROKER_URL``, or ``default``."""
    return os.environ.get("HOOKRECEIVER_BROKER_URL", default)


def queue_name() -> str:
    """``HOOKRECEIVER_QUEUE``, or ``hookreceiver``."""
    return os.environ.get("HOOKRECEIVER_QUEUE", "hookreceiver")


def sweep_every() -> int:
    """``HOOKRECEIVER_SWEEP_EVERY`` seconds, or 30."""
    return int(os.environ.get("HOOKRECEIVER_SWEEP_EVERY", "30"))


def sweep_grace() -> float:
    """``HOOKRECEIVER_SWEEP_GRACE`` seconds, or 60."""
    return float(os.environ.get("HOOKRECEIVER_SWEEP_GRACE", "60"))
