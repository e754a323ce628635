"""hookreceiver mounted in a Starlette app, as pure ASGI middleware.

Run from the repository root::

    DOCUMO_BASIC_AUTH=documo:change-me \
    UPDOX_URL_KEYS=$(python -c 'import secrets; print(secrets.token_urlsafe(32))') \
    WIRECLOUD_URL_KEYS=$(python -c 'import secrets; print(secrets.token_urlsafe(32))') \
    uvicorn --no-proxy-headers examples.starlette_app:app

``--no-proxy-headers`` matters: by default uvicorn believes ``X-Forwarded-For`` from
127.0.0.1 and replaces the sender's address with it, so behind a same-host tunnel anyone could
claim a Fax.Plus or Zipwhip address. Senders' addresses behind a proxy come from
``HOOKRECEIVER_TRUSTED_PROXIES`` instead. Under gunicorn:
``gunicorn -k uvicorn.workers.UvicornWorker --forwarded-allow-ips='' examples.starlette_app:app``.
Access log lines show signed URLs' tokens as ``[redacted]`` (see ``examples/webhooks.py``).

Environment variables:

``DOCUMO_BASIC_AUTH``       required: ``user:password`` pairs for Documo, comma-separated
                            (list the new pair beside the old one while rotating).
``UPDOX_URL_KEYS``          required: keys that sign Updox callback URLs, newest first.
``WIRECLOUD_URL_KEYS``      required: keys that sign Wirecloud (Kazoo) webhook URLs.
``HOOKRECEIVER_STORE``      the dedup store's URL (default ``hookreceiver-dedup.db``, a SQLite
                            path): ``sqlite:///path``, ``redis://...?prefix=``,
                            ``postgresql://...?table=`` or ``memory``.
``HOOKRECEIVER_INBOX``      the inbox's URL (default ``sqlite:///hookreceiver-inbox.db``; or
                            ``postgresql://...``), as ``hookreceiver inbox --inbox`` reads it.
``HOOKRECEIVER_ALLOW_IPS``  more sender addresses for Fax.Plus, Zipwhip and Documo, beside
                            their published ones (``127.0.0.1`` to try it locally).
``HOOKRECEIVER_TRUSTED_PROXIES``  your reverse proxies' networks; only then is
                            ``X-Forwarded-For`` believed (by hookreceiver: keep the
                            server's own proxy handling off, as above).
``HOOKRECEIVER_PUBLIC_URL`` the base URL providers reach this app at (for callback URLs).
``HOOKRECEIVER_JOURNAL``    a local directory keeping Kazoo deliveries while the inbox is
                            unreachable (default ``hookreceiver-journal``).
``HOOKRECEIVER_CONSOLE_AUTH``  ``user:password`` pairs (comma-separated) of the operator
                            console, mounted at ``/console/`` when this or the next is set.
``HOOKRECEIVER_CONSOLE_READONLY_AUTH``  pairs that may look at the console but not act.

Each handled event is logged as one JSON line on stdout. With ``hookreceiver[prometheus]``
installed the app serves its metrics at ``/metrics`` (on its own port, without auth: see
``docs/observability.md`` to protect it or serve it on another port in production); with
``hookreceiver[otel]``, every delivery is traced (run it under ``opentelemetry-instrument``).
Several worker processes: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route

from examples.webhooks import build_receiver, observe
from hookreceiver.console import ConsoleAuth

hooks = build_receiver()


async def health(request: Request) -> JSONResponse:
    """The app's own routes are untouched by the middleware."""
    return JSONResponse({"ok": True})


def console_routes() -> list[BaseRoute]:
    """The operator console at /console/, when credentials for it are configured."""
    pairs = {
        name: ConsoleAuth.from_env(name) if os.environ.get(name) else None
        for name in ("HOOKRECEIVER_CONSOLE_AUTH", "HOOKRECEIVER_CONSOLE_READONLY_AUTH")
    }
    if not any(pairs.values()):
        return []
    console = hooks.console_app(
        auth=pairs["HOOKRECEIVER_CONSOLE_AUTH"],
        readonly_auth=pairs["HOOKRECEIVER_CONSOLE_READONLY_AUTH"],
    )
    return [Mount("/console", app=console)]


routes = [Route("/health", health), *console_routes()]
if observe(hooks):
    routes.append(Route("/metrics", hooks.metrics_asgi_app()))

app = Starlette(routes=routes, middleware=[Middleware(hooks.asgi_middleware)])
