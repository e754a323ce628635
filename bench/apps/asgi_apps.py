"""ASGI targets, each served alone by uvicorn (httptools) in its own process.

- ``hookreceiver_app``: a Starlette app with the receiver's middleware around it, as the README
  mounts it; Fax.Plus at ``/hooks/faxplus`` (IP allowlist 127.0.0.1, memory store, no-op async
  handler). ``hookreceiver_in_starlette_app``: the same middleware inside Starlette's own list.
- ``starlette_app``: a bare Starlette route that json-loads the body.
- ``fastapi_app``: a FastAPI endpoint taking a pydantic model of the same payload.
- ``raw_app``: a raw ASGI callable that reads the body and answers 200 (the ceiling).
- ``hookreceiver_documo_app`` / ``starlette_form_app``: the multipart targets.
- ``hookreceiver_recorded_app``: ``hookreceiver_asgi_app`` with a SQLite inbox, its endpoint in
  ``sync`` mode: each handled delivery is also recorded in the inbox (queued on the request
  path, written in batches by a background thread; both are counted).
  ``hookreceiver_recorded_queue_app``: the same with the writer asleep (the request path's share).
  ``hookreceiver_inbox_sync_app``: the inbox, no recording (``record_sync=False``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hookreceiver import DeliveryContext, Receiver, providers

from .documo import documo_provider

__all__ = [
    "fastapi_app",
    "hookreceiver_app",
    "hookreceiver_asgi_app",
    "hookreceiver_documo_app",
    "hookreceiver_in_starlette_app",
    "hookreceiver_inbox_sync_app",
    "hookreceiver_recorded_app",
    "hookreceiver_recorded_queue_app",
    "raw_app",
    "starlette_app",
    "starlette_form_app",
]

HANDLED = {"status": "handled"}
HANDLED_BODY = b'{"status":"handled"}'


async def _home(request: Request) -> Response:
    return PlainTextResponse("the app the receiver is mounted in")


async def _noop(event: object, ctx: DeliveryContext) -> None:
    """The handler: does nothing, so only the receiver's own cost is measured."""


# hookreceiver ---------------------------------------------------------------------------------

hooks = Receiver()
hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
hooks.on("*")(_noop)

#: The README's mount: the receiver's middleware around the app.
hookreceiver_app = hooks.asgi_middleware(Starlette(routes=[Route("/", _home)]))
#: The other mount the README names: inside Starlette's own middleware list.
hookreceiver_in_starlette_app = Starlette(
    routes=[Route("/", _home)], middleware=[Middleware(hooks.asgi_middleware)]
)
#: The receiver's own mountable app, without Starlette around it.
hookreceiver_asgi_app = hooks.asgi_app


def _recorded_app(write: bool = True, record: bool = True) -> Any:
    from hookreceiver.inbox import SQLiteInbox
    from hookreceiver.inbox.recorder import SyncRecorder

    path = os.path.join(tempfile.mkdtemp(prefix="hookreceiver-bench-"), "inbox.db")
    inbox = SQLiteInbox(path, synchronous="NORMAL")
    recorded = Receiver(inbox=inbox, worker=False, record_sync=record)
    recorded.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]), ack="sync")
    recorded.on("*")(_noop)
    if not write:  # the request path's share alone: the writer never wakes during the run
        for observer in recorded.observers:
            if isinstance(observer, SyncRecorder):
                observer.interval = 1e6
                observer.flush = lambda: 0  # type: ignore[method-assign]  # nor at exit
                # Kept alive in the queue, a run's reports would cost the collector and the
                # allocator what a draining writer saves: one kept at most.
                observer._queue = deque(maxlen=1)
    return recorded.asgi_app


#: The same, recording each sync delivery in an inbox.
hookreceiver_recorded_app = _recorded_app()
#: The same, the background writer kept asleep: what recording costs the request path.
hookreceiver_recorded_queue_app = _recorded_app(write=False)
#: An inbox but no recording: what the inbox alone costs a sync delivery.
hookreceiver_inbox_sync_app = _recorded_app(record=False)

documo_hooks = Receiver()
documo_hooks.endpoint("/hooks/documo", documo_provider())
documo_hooks.on("*")(_noop)

hookreceiver_documo_app = Starlette(
    routes=[Route("/", _home)], middleware=[Middleware(documo_hooks.asgi_middleware)]
)


# Bare Starlette -------------------------------------------------------------------------------


async def _starlette_faxplus(request: Request) -> Response:
    json.loads(await request.body())
    return JSONResponse(HANDLED)


starlette_app = Starlette(
    routes=[Route("/", _home), Route("/hooks/faxplus", _starlette_faxplus, methods=["POST"])]
)


async def _starlette_form(request: Request) -> Response:
    async with request.form() as form:
        data = form["data"]
        json.loads(data if isinstance(data, str) else await data.read())
        form["attachment"]  # noqa: B018 - the file part must be there, as for the receiver
    return JSONResponse(HANDLED)


starlette_form_app = Starlette(
    routes=[Route("/", _home), Route("/hooks/documo", _starlette_form, methods=["POST"])]
)


# FastAPI --------------------------------------------------------------------------------------


class Hook(BaseModel):
    """Fax.Plus ``hook``."""

    id: str
    event: str
    event_time: datetime
    target: str | None = None


class Fax(BaseModel):
    """Fax.Plus ``data``."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    uid: str | None = None
    pages: int | None = None
    from_number: str | None = Field(None, alias="from")
    to_number: str | None = Field(None, alias="to")
    start_time: datetime | None = None
    file: str | None = None
    file_name: str | None = None
    cost: float | None = None
    status: str


class FaxPlusDelivery(BaseModel):
    """The whole Fax.Plus delivery."""

    hook: Hook
    data: Fax


fastapi_app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@fastapi_app.post("/hooks/faxplus")
async def _fastapi_faxplus(delivery: FaxPlusDelivery) -> dict[str, str]:
    return HANDLED


# Raw ASGI: the ceiling ------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

_RAW_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"20")]


async def raw_app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """Read the body, answer 200. Nothing less can serve a webhook."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": _RAW_HEADERS})
    await send({"type": "http.response.body", "body": HANDLED_BODY})
