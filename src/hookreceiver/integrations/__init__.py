"""Integrations with the tools and frameworks around a receiver: the task queues you already
run as the inbox's workers (Celery, Dramatiq, arq), and framework-native pieces (a FastAPI
router, :mod:`.fastapi`, and a Django app, :mod:`.django`, see ``docs/frameworks-native.md``).

Each types the receiver it is handed with a protocol, never the ``Receiver`` facade, and
imports its tool only inside its own module: the core never needs them.

Each task-queue module wires a receiver's inbox to one tool in one call (``install``): it
registers the task, actor or function that processes one delivery, sends a message for every
delivery the receivers accept, and sweeps for lost messages::

    hookreceiver.integrations.celery.install(celery_app, hooks)        # [celery]
    hookreceiver.integrations.dramatiq.install(broker, hooks)          # [dramatiq]
    hookreceiver.integrations.arq.install(hooks, redis_settings)       # [arq]

What holds in all three:

- **The inbox is the source of truth.** A message carries a delivery's id and a few headers
  (``delivery_id``, and the trace context the receiving side kept with the record), never its
  payload or attachments. A message lost, sent twice or delivered late costs a delay, never an
  event: the worker takes the delivery from the inbox only when it is due, under a lease.
- **Retries are hookreceiver's.** The queue's own retries are off; a failed attempt is sent
  again after the inbox's backoff (``Retry``) as the message's delay, and the last failure
  leaves the delivery ``failed`` for ``on_dead_letter`` and replays.
- **A periodic sweep** (Celery beat, a thread in each Dramatiq worker, an arq cron job) sends
  again the deliveries overdue by more than ``grace`` seconds: those accepted while the broker
  was down, and those of a worker that died (once its lease is over).
- **Leases are renewed while handlers run**, so a handler slower than the inbox's lease runs
  once; a worker that dies stops renewing, and its delivery is taken over after the lease.
- **The answer never waits for the broker**: receivers send from a background thread, and
  while the broker is down they keep answering (the inbox holds the deliveries).

Create the receiver with ``worker=False``: the queue's workers replace the in-process one. See
``docs/scaling.md`` for the topology and sizing, and ``examples/celery_app.py``,
``examples/dramatiq_app.py`` and ``examples/arq_app.py``.
"""

from __future__ import annotations

__all__: list[str] = []
