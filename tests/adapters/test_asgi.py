"""The ASGI middleware: pass-through, webhook handling in Starlette, FastAPI and Litestar, and
over a real socket."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from hookreceiver import Receiver, providers
from support.payloads import faxplus_payload
from support.servers import serve_asgi

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_receiver(seen: list[Any]) -> Receiver:
    hooks = Receiver()
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1", "::1"]))

    @hooks.on("faxplus.*")
    async def handle(event: Any, ctx: Any) -> None:
        seen.append((event.hook.id, ctx.client))

    return hooks


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"path": request.url.path, "len": len(body), "body": body.decode()})


def starlette_app(hooks: Receiver, lifespan_log: list[str] | None = None) -> Starlette:
    return Starlette(
        routes=[Route("/echo", echo, methods=["POST"]), Route("/hooks/other", echo)],
        middleware=[Middleware(hooks.asgi_middleware)],
    )


async def test_unknown_path_passes_through_with_its_body() -> None:
    seen: list[Any] = []
    app = starlette_app(make_receiver(seen))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        big = "x" * 300_000
        response = await client.post("/echo", content=big)
    assert response.status_code == 200
    assert response.json() == {"path": "/echo", "len": 300_000, "body": big}
    assert seen == []


async def test_webhook_is_handled_and_never_reaches_the_app() -> None:
    seen: list[Any] = []
    app = starlette_app(make_receiver(seen))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/hooks/faxplus", json=faxplus_payload(hook_id="h-1"))
        wrong = await client.get("/hooks/faxplus")
    assert response.status_code == 200
    assert seen == [("h-1", "127.0.0.1")]
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert wrong.json()["error"] == "method_not_allowed"


async def test_lifespan_of_the_wrapped_app_still_runs() -> None:
    events: list[str] = []
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        events.append("startup")
        yield
        events.append("shutdown")

    app = Starlette(
        routes=[Route("/ping", lambda r: PlainTextResponse("pong"))],
        middleware=[Middleware(make_receiver([]).asgi_middleware)],
        lifespan=lifespan,
    )
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: Any) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert events == ["startup", "shutdown"]
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_websockets_pass_through() -> None:
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    app = Starlette(
        routes=[WebSocketRoute("/hooks/faxplus", ws)],
        middleware=[Middleware(make_receiver([]).asgi_middleware)],
    )
    inbox = [{"type": "websocket.connect"}]
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0) if inbox else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/hooks/faxplus", "headers": [], "query_string": b""}
    await app(scope, receive, send)
    assert [m["type"] for m in sent][:2] == ["websocket.accept", "websocket.send"]
    assert sent[1]["text"] == "hello"


async def test_fastapi_app_mounts_the_middleware() -> None:
    from fastapi import FastAPI

    seen: list[Any] = []
    api = FastAPI()

    @api.get("/health")
    def health() -> dict[str, str]:
        return {"ok": "yes"}

    api.add_middleware(make_receiver(seen).asgi_middleware)
    transport = httpx.ASGITransport(app=api, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/health")).json() == {"ok": "yes"}
        response = await client.post("/hooks/faxplus", json=faxplus_payload(hook_id="fa"))
    assert response.status_code == 200
    assert seen == [("fa", "127.0.0.1")]


async def test_litestar_app_mounts_the_middleware() -> None:
    from litestar import Litestar, get

    seen: list[Any] = []

    @get("/health", sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"ok": "yes"}

    # Litestar runs its middleware only for paths it routes itself, so the receiver wraps the
    # whole Litestar app instead (pure ASGI, so that is all it takes).
    app = make_receiver(seen).asgi_middleware(Litestar(route_handlers=[health]))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/health")).json() == {"ok": "yes"}
        response = await client.post("/hooks/faxplus", json=faxplus_payload(hook_id="ls"))
    assert response.status_code == 200
    assert seen == [("ls", "127.0.0.1")]


async def test_mountable_asgi_app_answers_404_elsewhere() -> None:
    seen: list[Any] = []
    app = make_receiver(seen).asgi_app
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.post("/nowhere", content=b"x")).status_code == 404
        response = await client.post("/hooks/faxplus", json=faxplus_payload(hook_id="m"))
    assert response.status_code == 200
    assert seen == [("m", "127.0.0.1")]


def test_over_a_real_socket_with_uvicorn() -> None:
    seen: list[Any] = []
    app = starlette_app(make_receiver(seen))
    payload = faxplus_payload(hook_id="sock-1")
    with serve_asgi(app) as url:
        with httpx.Client(base_url=url) as client:
            first = client.post("/hooks/faxplus", json=payload)
            again = client.post("/hooks/faxplus", json=payload)
            passed = client.post("/echo", content=b"abc")
            too_big = client.post(
                "/hooks/faxplus",
                content=b"{" + b" " * (2 * 1024 * 1024),
                headers={"content-type": "application/json"},
            )
    assert first.status_code == 200 and first.json() == {"status": "handled"}
    assert again.json() == {"status": "duplicate"}
    assert passed.json()["body"] == "abc"
    assert too_big.status_code == 413
    assert seen == [("sock-1", "127.0.0.1")]


async def test_client_disconnect_mid_body_sends_nothing() -> None:
    hooks = make_receiver([])
    sent: list[Any] = []
    messages = [
        {"type": "http.request", "body": b'{"hook":', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/hooks/faxplus",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
    }
    await hooks.asgi_app(scope, receive, send)
    assert sent == []


async def test_payload_json_error_shape_over_starlette() -> None:
    app = starlette_app(make_receiver([]))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(
            "/hooks/faxplus", content=b"{bad", headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert set(json.loads(response.content)) == {"error", "detail"}


def _scope(path: str = "/hooks/faxplus") -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
    }


async def test_body_in_many_messages_is_joined_in_order() -> None:
    seen: list[Any] = []
    hooks = make_receiver(seen)
    body = json.dumps(faxplus_payload(hook_id="chunked")).encode()
    pieces = [body[:7], b"", body[7:50], body[50:]]
    messages = [
        {"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1}
        for i, piece in enumerate(pieces)
    ]
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    await hooks.asgi_app(_scope(), receive, send)
    assert sent[0]["status"] == 200
    assert messages == []
    assert seen == [("chunked", "127.0.0.1")]


async def test_body_past_the_limit_is_refused_without_reading_the_rest() -> None:
    seen: list[Any] = []
    hooks = Receiver()
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"], max_body=1000))
    hooks.on("*")(lambda event, ctx: seen.append(event))
    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b"x" * 600, "more_body": True}

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    await hooks.asgi_app(_scope(), receive, send)
    assert sent[0]["status"] == 413
    assert received == 2  # 600 bytes, then 1,200: refused at the first chunk past the limit
    assert seen == []
