"""Celery: inbox deliveries handled by your Celery workers, in one call.

::

    from celery import Celery
    from hookreceiver import Receiver
    from hookreceiver.inbox import open_inbox
    from hookreceiver.integrations.celery import install

    hooks = Receiver(store=..., inbox=open_inbox("postgresql://..."), worker=False)
    celery = Celery("webhooks", broker="amqp://guest:guest@127.0.0.1:5672//")
    queue = install(celery, hooks)

The receivers (``uvicorn``) store each verified delivery in the inbox, answer, and send the
task ``hookreceiver.process_delivery(record_id, headers)``; the workers (``celery -A app
worker``) take the delivery from the inbox and run its handlers. The broker carries the id and
a few headers (the delivery id, the trace context), never the payload. Celery's own retries are
off: a failed attempt is sent again with the inbox's backoff as its ``countdown``. Run beat
(``celery -A app beat``, or ``worker -B``) for the sweep task ``hookreceiver.sweep``, which
re-sends deliveries whose message was lost (the broker was down when they arrived, a worker
died). While a handler runs, its worker renews its lease on the delivery, so a handler slower
than the inbox's lease never runs twice; a worker that dies stops renewing, and its delivery is
taken over by the next sweep once the lease is over.

Countdowns are held by the worker that received them, unacknowledged: on RabbitMQ keep its
``consumer_timeout`` (30 minutes by default) above the inbox's longest retry delay
(``Retry(max_delay=...)``).

Needs ``pip install 'hookreceiver[celery]'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._sender import BrokerQueue

if TYPE_CHECKING:
    from celery import Celery

    from ..inbox.protocols import InboxReceiver

__all__ = ["CeleryQueue", "install"]


class CeleryQueue(BrokerQueue):
    """The inbox's hand-off to Celery: the tasks it registered, and how it sends them.

    Attributes:
        task: the Celery task that processes one delivery (``prefix.process_delivery``).
        sweep_task: the task beat runs every ``sweep_every`` seconds (``prefix.sweep``).
        queue: the Celery queue the tasks are sent to (``None``: the app's default).
    """

    def __init__(
        self,
        app: Celery,
        receiver: InboxReceiver,
        *,
        grace: float = 60.0,
        sweep_every: float = 30.0,
        queue: str | None = None,
        prefix: str = "hookreceiver",
    ) -> None:
        self.app = app
        self.queue = queue

        def process_delivery(record_id: str, headers: dict[str, str] | None = None) -> None:
            self.process(record_id, headers)

        def sweep() -> int:
            return self.sweep()

        # Retries are hookreceiver's (the inbox's backoff): Celery's are off.
        self.task: Any = app.task(
            name=f"{prefix}.process_delivery", ignore_result=True, max_retries=0
        )(process_delivery)
        self.sweep_task: Any = app.task(name=f"{prefix}.sweep", ignore_result=True)(sweep)
        options: dict[str, Any] = {"expires": sweep_every}
        if queue is not None:
            options["queue"] = queue
        app.add_periodic_task(
            sweep_every, self.sweep_task.s(), name=f"{prefix}.sweep", options=options
        )
        super().__init__(receiver, grace=grace)

    def send(self, record_id: str, delay: float, headers: Mapping[str, str]) -> None:
        """Send the task for ``record_id``, due in ``delay`` seconds (its ``countdown``)."""
        # retry=False: with the broker down, fail at once (the delivery waits in the inbox
        # for the sweep) instead of holding the sender for kombu's retries.
        self.task.apply_async(
            (record_id, dict(headers)),
            countdown=delay if delay > 0 else None,
            queue=self.queue,
            retry=False,
        )


def install(
    app: Celery,
    receiver: InboxReceiver,
    *,
    grace: float = 60.0,
    sweep_every: float = 30.0,
    queue: str | None = None,
    prefix: str = "hookreceiver",
) -> CeleryQueue:
    """Register hookreceiver's tasks with ``app`` and send ``receiver``'s inbox deliveries
    to them.

    Args:
        app: your Celery app.
        receiver: the receiver whose inbox, endpoints and handlers are used (created with
            ``worker=False``: Celery's workers replace the in-process one).
        grace: seconds past its due time (or its lease's end) after which the sweep sends a
            delivery again.
        sweep_every: seconds between sweeps (a beat schedule entry).
        queue: the Celery queue to send to (``None``: the app's default queue).
        prefix: the tasks' name prefix (``prefix.process_delivery``, ``prefix.sweep``).
    """
    return CeleryQueue(
        app, receiver, grace=grace, sweep_every=sweep_every, queue=queue, prefix=prefix
    )
