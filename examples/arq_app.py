"""hookreceiver with arq: receivers store and answer, arq workers run the handlers.

Run from the repository root, with the environment of ``examples/starlette_app.py`` (and
``examples/queued.py``), as many of each as you like::

    uvicorn --no-proxy-headers examples.arq_app:app                 # the receivers
    arq examples.arq_app.WorkerSettings                             # the workers

``HOOKRECEIVER_BROKER_URL`` defaults to ``redis://127.0.0.1:6379/0``. Redis carries delivery
ids only; the inbox (``HOOKRECEIVER_INBOX``) holds the deliveries, and the cron job sweeps for
those whose message was lost.
"""

from __future__ import annotations

from arq.connections import RedisSettings
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from examples.queued import broker_url, build_queued_receiver, queue_name, sweep_every, sweep_grace
from hookreceiver.integrations.arq import install

hooks = build_queued_receiver()
queue = install(
    hooks,
    RedisSettings.from_dsn(broker_url("redis://127.0.0.1:6379/0")),
    queue_name=queue_name(),
    sweep_every=sweep_every(),
    grace=sweep_grace(),
)


class WorkerSettings:
    """``arq examples.arq_app.WorkerSettings``."""

    functions = queue.functions
    cron_jobs = queue.cron_jobs
    redis_settings = queue.redis_settings
    queue_name = queue.queue_name


async def health(request: Request) -> JSONResponse:
    """The app's own routes are untouched by the middleware."""
    return JSONResponse({"ok": True})


app = Starlette(routes=[Route("/health", health)], middleware=[Middleware(hooks.asgi_middleware)])
