"""WSGI targets, each served alone by gunicorn (one worker) in its own process.

- ``hookreceiver_flask_app``: Flask with the receiver's WSGI middleware in front; Fax.Plus at
  ``/hooks/faxplus`` (IP allowlist 127.0.0.1, memory store, no-op async handler, which runs on
  the receiver's background event loop).
- ``hookreceiver_flask_sync_app``: the same with a sync no-op handler, the kind a WSGI app
  usually registers: it runs in the server's thread, with no hop to the event loop.
- ``flask_app``: a bare Flask route that json-loads the body.
"""

from __future__ import annotations

import json

from flask import Flask, Response, request

from hookreceiver import DeliveryContext, Receiver, providers

__all__ = ["flask_app", "hookreceiver_flask_app", "hookreceiver_flask_sync_app"]

HANDLED_BODY = '{"status":"handled"}'


async def _noop(event: object, ctx: DeliveryContext) -> None:
    """The handler: does nothing, so only the receiver's own cost is measured."""


def _sync_noop(event: object, ctx: DeliveryContext) -> None:
    """The same handler, sync."""


def _home() -> str:
    return "the app the receiver is mounted in"


hooks = Receiver()
hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
hooks.on("*")(_noop)

hookreceiver_flask_app = Flask("hookreceiver_bench")
hookreceiver_flask_app.add_url_rule("/", view_func=_home)
hookreceiver_flask_app.wsgi_app = hooks.wsgi_middleware(  # type: ignore[method-assign]
    hookreceiver_flask_app.wsgi_app
)

sync_hooks = Receiver()
sync_hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
sync_hooks.on("*")(_sync_noop)

hookreceiver_flask_sync_app = Flask("hookreceiver_sync_bench")
hookreceiver_flask_sync_app.add_url_rule("/", view_func=_home)
hookreceiver_flask_sync_app.wsgi_app = sync_hooks.wsgi_middleware(  # type: ignore[method-assign]
    hookreceiver_flask_sync_app.wsgi_app
)


flask_app = Flask("flask_bench")
flask_app.add_url_rule("/", view_func=_home)


@flask_app.post("/hooks/faxplus")
def _flask_faxplus() -> Response:
    json.loads(request.get_data())
    return Response(HANDLED_BODY, mimetype="application/json")
