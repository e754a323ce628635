"""Dramatiq: inbox deliveries handled by your Dramatiq workers, in one call.

::

    import dramatiq
    from dramatiq.brokers.rabbitmq import RabbitmqBroker
    from hookreceiver.integrations.dramatiq import install

    hooks = Receiver(store=..., inbox=open_inbox("postgresql://..."), worker=False)
    broker = RabbitmqBroker(url="amqp://guest:guest@127.0.0.1:5672")
    dramatiq.set_broker(broker)
    queue = install(broker, hooks)

Receivers store each verified delivery in the inbox, answer, and send the actor
``hookreceiver_process(record_id, headers)``; the workers (``dramatiq app``) take the delivery
from the inbox and run its handlers. The broker carries the id and a few headers (the delivery
id, the trace context), never the payload. Dramatiq's retries are off (``max_retries=0``) and
its time limit is lifted (a handler may run as long as it needs: its lease is renewed
meanwhile); a failed attempt is sent again with the inbox's backoff as its ``delay``.

Dramatiq has no scheduler of its own, so every worker process sweeps: :class:`Sweeper`, a
middleware ``install`` adds to the broker, runs a thread in each worker process that re-sends,
every ``sweep_every`` seconds, the deliveries whose message was lost (the broker was down when
they arrived, a worker died after its lease). Sweeps are idempotent: a message sent twice finds
its delivery taken or done and does nothing. To sweep from a scheduler of your own instead
(APScheduler, cron), pass ``sweep_every=None`` and call ``queue.sweep()`` there.

Needs ``pip install 'hookreceiver[dramatiq]'`` (RabbitMQ: ``dramatiq[rabbitmq]``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._sender import BrokerQueue

if TYPE_CHECKING:
    from dramatiq import Broker, Worker

    from ..inbox.protocols import InboxReceiver

__all__ = ["DramatiqQueue", "Sweeper", "install"]

logger = logging.getLogger("hookreceiver")

#: A time limit no handler reaches (Dramatiq's default kills an actor after 10 minutes).
_NO_TIME_LIMIT = 365 * 24 * 3600 * 1000


def _dramatiq() -> Any:
    try:
        import dramatiq
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "hookreceiver.integrations.dramatiq needs dramatiq: "
            "pip install 'hookreceiver[dramatiq]'"
        ) from exc
    return dramatiq


class Sweeper:
    """A Dramatiq middleware: a thread in each worker process calling ``queue.sweep()`` every
    ``every`` seconds, from the worker's boot to its shutdown."""

    def __init__(self, queue: DramatiqQueue, every: float) -> None:
        self.queue = queue
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        """Start sweeping (Dramatiq calls this in each worker process)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="hookreceiver-sweep", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        """Stop sweeping."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.queue.sweep()
            except Exception as exc:  # the inbox is down: the next sweep tries again
                logger.warning("sweep failed: %s", exc)


def _middleware(sweeper: Sweeper) -> Any:
    """The sweeper as a ``dramatiq.Middleware`` subclass (imported only here)."""
    base = _dramatiq().Middleware

    class _Sweep(base):  # type: ignore[misc,valid-type]
        def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
            sweeper.after_worker_boot(broker, worker)

        def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
            sweeper.before_worker_shutdown(broker, worker)

    return _Sweep()


class DramatiqQueue(BrokerQueue):
    """The inbox's hand-off to Dramatiq: the actor it declared, and how it sends messages.

    Attributes:
        actor: the actor that processes one delivery.
        sweeper: the middleware sweeping in each worker process (``None`` when disabled).
    """

    def __init__(
        self,
        broker: Broker,
        receiver: InboxReceiver,
        *,
        grace: float = 60.0,
        sweep_every: float | None = 30.0,
        queue_name: str = "hookreceiver",
        actor_name: str = "hookreceiver_process",
    ) -> None:
        dramatiq = _dramatiq()
        self.broker = broker

        def process(record_id: str, headers: dict[str, str] | None = None) -> None:
            self.process(record_id, headers)

        process.__name__ = actor_name
        self.actor: Any = dramatiq.actor(
            process,
            actor_name=actor_name,
            queue_name=queue_name,
            broker=broker,
            max_retries=0,
            time_limit=_NO_TIME_LIMIT,
        )
        self.sweeper: Sweeper | None = None
        if sweep_every is not None:
            self.sweeper = Sweeper(self, sweep_every)
            broker.add_middleware(_middleware(self.sweeper))
        super().__init__(receiver, grace=grace)

    def send(self, record_id: str, delay: float, headers: Mapping[str, str]) -> None:
        """Send the actor's message for ``record_id``, due in ``delay`` seconds."""
        self.actor.send_with_options(
            args=(record_id, dict(headers)),
            delay=int(delay * 1000) if delay > 0 else None,
        )


def install(
    broker: Broker,
    receiver: InboxReceiver,
    *,
    grace: float = 60.0,
    sweep_every: float | None = 30.0,
    queue_name: str = "hookreceiver",
    actor_name: str = "hookreceiver_process",
) -> DramatiqQueue:
    """Declare hookreceiver's actor on ``broker`` and send ``receiver``'s inbox deliveries
    to it.

    Args:
        broker: your Dramatiq broker (``RabbitmqBroker``, ``RedisBroker``).
        receiver: the receiver whose inbox, endpoints and handlers are used (created with
            ``worker=False``: Dramatiq's workers replace the in-process one).
        grace: seconds past its due time (or its lease's end) after which the sweep sends a
            delivery again.
        sweep_every: seconds between sweeps in each worker process; ``None`` to call
            ``queue.sweep()`` from a scheduler of your own.
        queue_name: the Dramatiq queue the actor's messages go to.
        actor_name: the actor's name.
    """
    return DramatiqQueue(
        broker,
        receiver,
        grace=grace,
        sweep_every=sweep_every,
        queue_name=queue_name,
        actor_name=actor_name,
    )
