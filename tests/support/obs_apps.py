"""A receiver with metrics for the observability tests, and the apps serving it with
``/metrics``: importable by a gunicorn subprocess as ``support.obs_apps`` (its directories come
from ``HOOKRECEIVER_OBS_DIR``).

Its handler fails on purpose by the delivery's hook id: ``boom`` always (handler failed),
``retry`` on the first attempt only (an inbox retry that then succeeds), ``dead`` always (an inbox
delivery that fails its last attempt).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hookreceiver import DeliveryContext, Receiver, providers
from hookreceiver.inbox import Retry, SQLiteInbox
from hookreceiver.security import BasicAuth
from hookreceiver.stores import SQLiteStore

LOOPBACK = ["127.0.0.1"]
DOCUMO_AUTH = ("documo", "obs-test-pass")


def receiver(directory: str | os.PathLike[str], *, registry: Any = None) -> Receiver:
    """The receiver: Fax.Plus (open to loopback, locked to Fax.Plus's own addresses, and in
    inbox mode) and Documo with basic auth; SQLite store and inbox in ``directory``."""
    root = Path(directory)
    hooks = Receiver(
        store=SQLiteStore(root / "dedup.db"),
        inbox=SQLiteInbox(root / "inbox.db", retry=Retry(max_attempts=2, first_delay=0.2)),
        worker={"poll_interval": 0.1},
    )
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=LOOPBACK))
    hooks.endpoint("/hooks/faxplus-locked", providers.FaxPlus())
    hooks.endpoint("/hooks/faxplus-inbox", providers.FaxPlus(allow_ips=LOOPBACK), ack="inbox")
    hooks.endpoint(
        "/hooks/documo",
        providers.Documo(allow_ips=LOOPBACK, guards=[BasicAuth([DOCUMO_AUTH])]),
    )

    @hooks.on("*")
    def handle(event: Any, ctx: DeliveryContext) -> None:
        key = ctx.idempotency_key
        if "boom" in key or "dead" in key or ("retry" in key and ctx.attempt == 1):
            raise RuntimeError(f"failing on purpose ({ctx.event_name})")

    hooks.enable_metrics(registry=registry)
    return hooks


def _directory() -> str:
    return os.environ["HOOKRECEIVER_OBS_DIR"]


def asgi_app() -> Any:
    """Starlette with the receiver as middleware and ``/metrics`` routed to its metrics."""
    from prometheus_client import CollectorRegistry
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Route

    hooks = receiver(_directory(), registry=CollectorRegistry())
    return Starlette(
        routes=[Route("/metrics", hooks.metrics_asgi_app())],
        middleware=[Middleware(hooks.asgi_middleware)],
    )


def wsgi_app() -> Any:
    """Flask with the receiver as middleware and ``/metrics`` dispatched to its metrics."""
    from flask import Flask
    from prometheus_client import CollectorRegistry
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    hooks = receiver(_directory(), registry=CollectorRegistry())
    app = Flask(__name__)
    app.wsgi_app = hooks.wsgi_middleware(  # type: ignore[method-assign]
        DispatcherMiddleware(app.wsgi_app, {"/metrics": hooks.metrics_wsgi_app()})
    )
    return app
