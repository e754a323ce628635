"""The app the task-queue tests and the queue benchmark run: receivers (``uvicorn queue_app:app``)
and workers of one tool (``HRQ_TOOL``: celery, dramatiq or arq), configured by environment.

``HOOKRECEIVER_INBOX`` / ``HOOKRECEIVER_STORE``: PostgreSQL URLs (a schema of the test's own via
``?options=-csearch_path%3D...``); ``HOOKRECEIVER_BROKER_URL``; ``HOOKRECEIVER_QUEUE``;
``HRQ_LEASE`` (seconds, inbox and claims); ``HRQ_RETRY_DELAY``; ``HRQ_SWEEP_EVERY``;
``HRQ_SWEEP_GRACE``; ``HRQ_WORKER=1``: an in-process worker in each receiver (the benchmark's
baseline) instead of a queue.

The handler reads its orders from the Fax.Plus payload's ``data.file_name``: ``fail-first``
raises on the delivery's first attempt, ``sleep:S`` sleeps ``S`` seconds. It writes one JSON
line (one ``os.write``) when it starts and one when it is done, with ``event``,
``idempotency_key``, ``pid``, ``delivery_id``, ``attempt``, ``t`` and the message's headers.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from hookreceiver import DeliveryContext, Receiver, providers
from hookreceiver.inbox import Retry, open_inbox
from hookreceiver.inbox.queues import current_headers
from hookreceiver.stores.postgres import PostgresStore

TOOL = os.environ.get("HRQ_TOOL", "celery")
LEASE = float(os.environ.get("HRQ_LEASE", "30"))
SWEEP_EVERY = int(os.environ.get("HRQ_SWEEP_EVERY", "1"))
SWEEP_GRACE = float(os.environ.get("HRQ_SWEEP_GRACE", "30"))
BROKER = os.environ.get("HOOKRECEIVER_BROKER_URL", "")
QUEUE = os.environ.get("HOOKRECEIVER_QUEUE", "hookreceiver")
IN_PROCESS = os.environ.get("HRQ_WORKER") == "1"

hooks = Receiver(
    store=PostgresStore(os.environ["HOOKRECEIVER_STORE"]),
    inbox=open_inbox(
        os.environ["HOOKRECEIVER_INBOX"],
        lease=LEASE,
        retry=Retry(max_attempts=20, first_delay=float(os.environ.get("HRQ_RETRY_DELAY", "0.5"))),
        max_connections=20,
    ),
    lease=LEASE,
    worker={"concurrency": 4, "poll_interval": 0.2} if IN_PROCESS else False,
    log_events=False,
)
hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]), ack="inbox")


def _line(phase: str, ctx: DeliveryContext) -> None:
    line = {
        "phase": phase,
        "event": ctx.event_name,
        "idempotency_key": ctx.idempotency_key,
        "pid": os.getpid(),
        "delivery_id": ctx.delivery_id,
        "attempt": ctx.attempt,
        "t": time.time(),
        "headers": dict(current_headers.get() or {}),
    }
    os.write(1, (json.dumps(line) + "\n").encode())


@hooks.on("*")
def handle(event: Any, ctx: DeliveryContext) -> None:
    orders = str(json.loads(ctx.raw_body)["data"].get("file_name", ""))
    _line("start", ctx)
    if orders == "fail-first" and ctx.attempt == 1:
        raise RuntimeError("the first attempt fails, as ordered")
    if orders.startswith("sleep:"):
        time.sleep(float(orders.removeprefix("sleep:")))
    _line("done", ctx)


asgi = hooks.asgi_app
queue: Any = None
celery_app: Any = None
WorkerSettings: Any = None

if IN_PROCESS:
    pass
elif TOOL == "celery":
    from celery import Celery

    from hookreceiver.integrations.celery import install as install_celery

    celery_app = Celery("hrq", broker=BROKER)
    celery_app.conf.update(
        task_default_queue=QUEUE,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        worker_enable_remote_control=False,
        worker_prefetch_multiplier=4,
    )
    queue = install_celery(celery_app, hooks, sweep_every=SWEEP_EVERY, grace=SWEEP_GRACE)
elif TOOL == "dramatiq":
    import dramatiq

    from hookreceiver.integrations.dramatiq import install as install_dramatiq

    if BROKER.startswith("redis://"):
        from dramatiq.brokers.redis import RedisBroker

        broker: Any = RedisBroker(url=BROKER, namespace=f"hrq-{QUEUE}")
    else:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=BROKER)
    dramatiq.set_broker(broker)
    queue = install_dramatiq(
        broker, hooks, queue_name=QUEUE, sweep_every=SWEEP_EVERY, grace=SWEEP_GRACE
    )
elif TOOL == "arq":
    from arq.connections import RedisSettings

    from hookreceiver.integrations.arq import install as install_arq

    queue = install_arq(
        hooks,
        RedisSettings.from_dsn(BROKER),
        queue_name=QUEUE,
        sweep_every=SWEEP_EVERY,
        grace=SWEEP_GRACE,
    )

    class WorkerSettings:  # type: ignore[no-redef]
        functions = queue.functions
        cron_jobs = queue.cron_jobs
        redis_settings = queue.redis_settings
        queue_name = queue.queue_name
        max_jobs = 16
        poll_delay = 0.1


async def app(scope: Any, receive: Any, send: Any) -> None:
    """The receivers' ASGI app."""
    await asgi(scope, receive, send)
