"""The webhook endpoints as a FastAPI ``APIRouter``, optionally documented in OpenAPI.

::

    from fastapi import FastAPI
    from hookreceiver.integrations.fastapi import webhook_router

    app = FastAPI()
    app.include_router(webhook_router(hooks, openapi=True))

Each endpoint of the receiver becomes a route of the router, at the path the sender uses, or
below the ``prefix`` it is included with (``include_router(router, prefix="/api")`` serves
``/hooks/documo`` at ``/api/hooks/documo``), for the provider's methods. A request to it is
answered by the receiver's own ASGI adapter, exactly as ``hooks.asgi_middleware`` would: guards
before the body, limits while it streams, the provider's statuses. FastAPI never reads or
validates the body, and its dependencies do not run for it.

With ``openapi=True`` each endpoint is listed in the app's OpenAPI document, like FastAPI's
own ``app.webhooks`` entries: the request body is any of the provider's event models (their
schemas land in ``components``), tagged with the provider's name, with the statuses the
receiver answers. The schema describes the event's fields; the description names the content
types the sender uses (a Documo fax is multipart with the JSON in its ``data`` field, Kazoo a
form).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, Union

from ..delivery import PATH_PLACEHOLDER

try:
    from fastapi import APIRouter, Body, Path
    from fastapi.routing import APIRoute
    from starlette.requests import Request
    from starlette.responses import Response
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "hookreceiver.integrations.fastapi needs FastAPI: pip install 'hookreceiver[fastapi]'"
    ) from exc

if TYPE_CHECKING:
    from ..core.routing import Endpoint, Router

__all__ = ["WebhookReceiver", "WebhookRoute", "webhook_router"]

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "Handled, a duplicate, or accepted into the inbox"},
    400: {"description": "The body does not decode or validate"},
    401: {"description": "Credentials missing or wrong"},
    403: {"description": "Sender address, signed URL or signature refused"},
    413: {"description": "Body over the limit"},
    415: {"description": "A content type this sender does not use"},
    503: {"description": "Being handled elsewhere, or the store is unavailable: retry"},
}


class WebhookReceiver(Protocol):
    """What the router needs of a receiver (the ``Receiver`` facade is one)."""

    @property
    def router(self) -> Router:
        """The endpoints."""

    @property
    def asgi_app(self) -> ASGIApp:
        """The receiver's mountable ASGI app."""


class _Delegate(Response):
    """The answer of a webhook route: the receiver's ASGI app answers on the raw connection.

    Under a prefix (``include_router(..., prefix="/api")``) the scope's ``root_path`` is
    extended to the prefix, so the receiver finds its endpoint below it, as under a ``Mount``.
    The prefix is what precedes the endpoint's own path (its template filled with the matched
    path parameters): how FastAPI includes a router (copied routes in older versions, an
    included router's context in newer ones) does not matter.
    """

    def __init__(self, app: ASGIApp, template: str) -> None:
        self.app = app
        self.template = template
        self.background = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        root: str = scope.get("root_path") or ""
        path: str = scope["path"]
        if root and not path.startswith(root):  # a pre-3.0 server: path below root_path
            path = root + path
        params = scope.get("path_params") or {}
        own = PATH_PLACEHOLDER.sub(lambda m: str(params.get(m.group(1), m.group(0))), self.template)
        if path != own and path.endswith(own) and len(path) - len(own) > len(root):
            scope = {**scope, "path": path, "root_path": path[: len(path) - len(own)]}
        await self.app(scope, receive, send)


class WebhookRoute(APIRoute):
    """An ``APIRoute`` answered by the receiver's ASGI app (FastAPI reads nothing of it)."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        app: ASGIApp = getattr(self.endpoint, "hookreceiver_app")  # noqa: B009
        template: str = getattr(self.endpoint, "hookreceiver_path")  # noqa: B009

        async def handle(request: Request) -> Response:
            return _Delegate(app, template)

        return handle


def _documenting_endpoint(endpoint: Endpoint, app: ASGIApp, openapi: bool) -> Callable[..., Any]:
    """A function FastAPI reads the operation from (never called: the receiver answers)."""
    provider = endpoint.provider
    models = list(getattr(provider, "event_models", {}).values()) if openapi else []

    async def webhook(**_: Any) -> None:  # pragma: no cover - never called
        raise AssertionError("webhook routes are answered by the receiver")

    parameters = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=str, default=Path(...))
        for name in PATH_PLACEHOLDER.findall(endpoint.path)
    ]
    if models:
        body_type: Any = models[0] if len(models) == 1 else Union[tuple(models)]  # noqa: UP007
        parameters.append(
            inspect.Parameter(
                "hookreceiver_payload",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=body_type,
                default=Body(...),
            )
        )
    webhook.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    webhook.__name__ = f"{provider.name}_webhook"
    webhook.hookreceiver_app = app  # type: ignore[attr-defined]
    webhook.hookreceiver_path = endpoint.path  # type: ignore[attr-defined]
    return webhook


def webhook_router(
    receiver: WebhookReceiver,
    *,
    openapi: bool = False,
    tags: Sequence[str | Enum] | None = None,
) -> APIRouter:
    """An ``APIRouter`` serving every endpoint of ``receiver`` through its ASGI adapter.

    Args:
        receiver: the receiver whose endpoints to serve (register them first).
        openapi: list the endpoints and their event models in the OpenAPI document.
        tags: OpenAPI tags (default: each endpoint's provider name).
    """
    router = APIRouter(route_class=WebhookRoute)
    app = receiver.asgi_app
    for endpoint in receiver.router.endpoints:
        provider = endpoint.provider
        events = sorted(getattr(provider, "event_models", {}))
        content_types = ", ".join(sorted(getattr(provider, "content_types", ())))
        documenting = _documenting_endpoint(endpoint, app, openapi)
        for method in sorted(endpoint.methods):  # one route each: one operation id each
            router.add_api_route(
                endpoint.path,
                documenting,
                methods=[method],
                include_in_schema=openapi,
                tags=list(tags) if tags is not None else [provider.name],
                summary=f"{provider.name} webhook",
                description=(
                    f"Deliveries from {provider.name} ({content_types}), verified and answered "
                    f"by hookreceiver. Events: {', '.join(events) or 'any'}."
                ),
                responses=_ANSWERS,
                response_class=Response,
                name=f"hookreceiver:{method}:{endpoint.path}",
            )
    return router
