"""Apps that serve a receiver under a prefix the way each framework mounts a sub-app (and, for
contrast, as plain middleware), importable by a gunicorn subprocess as ``support.mount_apps``."""

from __future__ import annotations

from typing import Any

from hookreceiver import Receiver, providers

LOOPBACK = ["127.0.0.1", "::1"]


def receiver(seen: list[Any] | None = None, *, relative: bool = False, **options: Any) -> Receiver:
    """Fax.Plus at ``/hooks/faxplus`` and ``/hooks/fax/{tenant}`` (or, ``relative``, at the
    paths below the mount point: ``/faxplus`` and ``/fax/{tenant}``)."""
    hooks = Receiver(**options)
    prefix = "" if relative else "/hooks"
    hooks.endpoint(f"{prefix}/faxplus", providers.FaxPlus(allow_ips=LOOPBACK))
    hooks.endpoint(f"{prefix}/fax/{{tenant}}", providers.FaxPlus(allow_ips=LOOPBACK))

    @hooks.on("faxplus.*")
    def handle(event: Any, ctx: Any) -> None:
        if seen is not None:
            seen.append((event.hook.id, dict(ctx.params)))

    return hooks


def echo_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The main WSGI app: says which path it was given."""
    body = f"main app: {environ.get('PATH_INFO')}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def werkzeug_app(seen: list[Any] | None = None, relative: bool = False) -> Any:
    """``DispatcherMiddleware(main, {"/hooks": hooks.wsgi_app})``."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    return DispatcherMiddleware(echo_wsgi, {"/hooks": receiver(seen, relative=relative).wsgi_app})


def plain_wsgi_app(seen: list[Any] | None = None) -> Any:
    """The receiver as WSGI middleware around the main app, no prefix."""
    return receiver(seen).wsgi_middleware(echo_wsgi)


def litestar_app(seen: list[Any] | None = None, relative: bool = False) -> Any:
    """A Litestar app with the receiver's ASGI app as an ``is_mount=True`` handler."""
    from litestar import Litestar, asgi, get
    from litestar.types import Receive, Scope, Send

    hooks = receiver(seen, relative=relative)

    @asgi("/hooks", is_mount=True, copy_scope=True)
    async def mounted(scope: Scope, receive: Receive, send: Send) -> None:
        await hooks.asgi_app(scope, receive, send)  # type: ignore[arg-type]

    @get("/health", sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"ok": "yes"}

    return Litestar(route_handlers=[mounted, health])


def starlette_app(seen: list[Any] | None = None, relative: bool = False) -> Any:
    """A Starlette app with ``Mount("/hooks", app=hooks.asgi_app)``."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    hooks = receiver(seen, relative=relative)
    return Starlette(
        routes=[
            Route("/health", lambda request: PlainTextResponse("ok")),
            Mount("/hooks", app=hooks.asgi_app),
        ]
    )
