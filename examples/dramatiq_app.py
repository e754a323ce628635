"""hookreceiver with Dramatiq: receivers store and answer, Dramatiq workers run the handlers.

Run from the repository root, with the environment of ``examples/starlette_app.py`` (and
``examples/queued.py``), as many of each as you like::

    uvicorn --no-proxy-headers examples.dramatiq_app:app            # the receivers
    dramatiq examples.dramatiq_app                                  # the workers

``HOOKRECEIVER_BROKER_URL`` defaults to ``amqp://guest:guest@127.0.0.1:5672``
(``redis://...`` uses Dramatiq's Redis broker). The broker carries delivery ids only; the
inbox (``HOOKRECEIVER_INBOX``) holds the deliveries, and each worker process sweeps for those
whose message was lost.

The JSON event lines come out on the ``dramatiq`` command's stderr (or ``--log-file``): Dramatiq
sends its worker processes' stdout there.
"""

from __future__ import annotations

import dramatiq
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from examples.queued import broker_url, build_queued_receiver, queue_name, sweep_every, sweep_grace
from hookreceiver.integrations.dramatiq import install

hooks = build_queued_receiver()
url = broker_url("amqp://guest:guest@127.0.0.1:5672")
if url.startswith(("redis://", "rediss://")):
    from dramatiq.brokers.redis import RedisBroker

    broker: dramatiq.Broker = RedisBroker(url=url)
else:
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(url=url)
dramatiq.set_broker(broker)
queue = install(
    broker, hooks, queue_name=queue_name(), sweep_every=sweep_every(), grace=sweep_grace()
)


async def health(request: Request) -> JSONResponse:
    """The app's own routes are untouched by the middleware."""
    return JSONResponse({"ok": True})


app = Starlette(routes=[Route("/health", health)], middleware=[Middleware(hooks.asgi_middleware)])
