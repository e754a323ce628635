"""hookreceiver with Celery: receivers store and answer, Celery workers run the handlers.

Run from the repository root, with the environment of ``examples/starlette_app.py`` (and
``examples/queued.py``), as many of each as you like::

    uvicorn --no-proxy-headers examples.celery_app:app              # the receivers
    celery -A examples.celery_app worker -B                         # the workers (+ beat)

(In production run one ``celery -A examples.celery_app beat`` instead of ``-B``.)
``HOOKRECEIVER_BROKER_URL`` defaults to ``amqp://guest:guest@127.0.0.1:5672//``. The broker
carries delivery ids only; the inbox (``HOOKRECEIVER_INBOX``, PostgreSQL for several hosts)
holds the deliveries, and beat's sweep re-sends those whose message was lost.

``app`` is both Celery's app and the ASGI app: ``celery -A`` and uvicorn each look for
``app``, so one object serves both.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from examples.queued import broker_url, build_queued_receiver, queue_name, sweep_every, sweep_grace
from hookreceiver.integrations.celery import install

hooks = build_queued_receiver()


class WebhookApp(Celery):  # type: ignore[misc]
    """A Celery app that is also the receivers' ASGI app."""

    asgi: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.asgi(scope, receive, send)


async def health(request: Request) -> JSONResponse:
    """The app's own routes are untouched by the middleware."""
    return JSONResponse({"ok": True})


app = WebhookApp("hookreceiver-example", broker=broker_url("amqp://guest:guest@127.0.0.1:5672//"))
app.conf.update(
    task_default_queue=queue_name(),
    worker_redirect_stdouts=False,  # the JSON event lines go to stdout as they are
    broker_connection_retry_on_startup=True,
)
queue = install(app, hooks, sweep_every=sweep_every(), grace=sweep_grace())
app.asgi = Starlette(
    routes=[Route("/health", health)], middleware=[Middleware(hooks.asgi_middleware)]
)
