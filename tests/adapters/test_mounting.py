"""Mounting under a prefix: the endpoint's path is matched against the full path the sender
used, whichever way the framework passes the prefix (Starlette keeps it in ``path`` and sets
``root_path``; Litestar's ``is_mount=True`` strips it from ``path`` and leaves only ``raw_path``;
Werkzeug's ``DispatcherMiddleware`` moves it to ``SCRIPT_NAME``), in process and over sockets."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from support.mount_apps import (
    litestar_app,
    plain_wsgi_app,
    receiver,
    starlette_app,
    werkzeug_app,
)
from support.payloads import faxplus_payload
from support.servers import serve_asgi, serve_gunicorn, serve_wsgi

pytestmark = pytest.mark.anyio

ASGI_MOUNTS = {"litestar": litestar_app, "starlette": starlette_app}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def post_asgi(app: Any, path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post(path, **kwargs)


@pytest.mark.parametrize(
    ("framework", "relative"),
    [("litestar", False), ("starlette", False), ("starlette", True)],
    ids=["litestar", "starlette", "starlette-relative-paths"],
)
async def test_asgi_mounted_under_a_prefix_in_process(framework: str, relative: bool) -> None:
    # Endpoints are registered with their full paths; relative ones (/faxplus) work too where
    # the framework reports the prefix in root_path (Starlette does, Litestar does not).
    seen: list[Any] = []
    app = ASGI_MOUNTS[framework](seen, relative=relative)
    first = await post_asgi(app, "/hooks/faxplus", json=faxplus_payload(hook_id="m-1"))
    templated = await post_asgi(app, "/hooks/fax/acme", json=faxplus_payload(hook_id="m-2"))
    elsewhere = await post_asgi(app, "/hooks/nowhere", json=faxplus_payload())
    doubled = await post_asgi(app, "/hooks/hooks/faxplus", json=faxplus_payload())
    assert (first.status_code, first.json()) == (200, {"status": "handled"})
    assert (templated.status_code, templated.json()) == (200, {"status": "handled"})
    assert elsewhere.status_code == doubled.status_code == 404
    assert seen == [("m-1", {}), ("m-2", {"tenant": "acme"})]


def test_wsgi_dispatcher_middleware_in_process() -> None:
    from werkzeug.test import Client

    for relative in (False, True):
        seen: list[Any] = []
        client = Client(werkzeug_app(seen, relative=relative))
        env = {"REMOTE_ADDR": "127.0.0.1"}
        first = client.post("/hooks/faxplus", json=faxplus_payload(hook_id="w-1"), environ_base=env)
        templated = client.post(
            "/hooks/fax/acme", json=faxplus_payload(hook_id="w-2"), environ_base=env
        )
        elsewhere = client.post("/hooks/nowhere", json=faxplus_payload(), environ_base=env)
        doubled = client.post("/hooks/hooks/faxplus", json=faxplus_payload(), environ_base=env)
        main = client.get("/faxplus")
        assert (first.status_code, first.get_json()) == (200, {"status": "handled"})
        assert templated.status_code == 200
        assert elsewhere.status_code == doubled.status_code == 404
        assert main.get_data() == b"main app: /faxplus"
        assert seen == [("w-1", {}), ("w-2", {"tenant": "acme"})]


def test_plain_wsgi_middleware_without_a_prefix_still_matches() -> None:
    from werkzeug.test import Client

    seen: list[Any] = []
    client = Client(plain_wsgi_app(seen))
    env = {"REMOTE_ADDR": "127.0.0.1"}
    handled = client.post("/hooks/faxplus", json=faxplus_payload(hook_id="pw"), environ_base=env)
    passed = client.post("/faxplus", json=faxplus_payload(), environ_base=env)
    assert handled.get_json() == {"status": "handled"}
    assert passed.get_data() == b"main app: /faxplus"
    assert seen == [("pw", {})]


async def test_plain_asgi_middleware_without_a_prefix_still_matches() -> None:
    seen: list[Any] = []
    hooks = receiver(seen)

    async def main(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = hooks.asgi_middleware(main)
    handled = await post_asgi(app, "/hooks/faxplus", json=faxplus_payload(hook_id="p-1"))
    passed = await post_asgi(app, "/faxplus", json=faxplus_payload())
    assert handled.json() == {"status": "handled"}
    assert passed.status_code == 204
    assert seen == [("p-1", {})]


@pytest.mark.parametrize(
    "scope_path",
    [
        "/hooks/faxplus",  # Starlette: the prefix kept in path (root_path + path would double it)
        "/faxplus",  # the older convention: the prefix moved from path to root_path
    ],
)
async def test_both_root_path_conventions_find_the_endpoint(scope_path: str) -> None:
    seen: list[Any] = []
    hooks = receiver(seen)
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        body = json.dumps(faxplus_payload(hook_id="d-1")).encode()
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": scope_path,
        "root_path": "/hooks",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
    }
    await hooks.asgi_app(scope, receive, send)
    assert sent[0]["status"] == 200 and seen == [("d-1", {})]


# Over real sockets ---------------------------------------------------------------------------


def deliver(url: str, hook_id: str) -> list[tuple[int, Any]]:
    with httpx.Client(base_url=url) as client:
        answers = [
            client.post("/hooks/faxplus", json=faxplus_payload(hook_id=hook_id)),
            client.post("/hooks/faxplus", json=faxplus_payload(hook_id=hook_id)),
            client.post("/hooks/fax/acme", json=faxplus_payload(hook_id=f"{hook_id}-t")),
            client.post("/hooks/nowhere", json=faxplus_payload()),
        ]
    return [
        (r.status_code, r.json() if "json" in r.headers["content-type"] else r.text)
        for r in answers
    ]


EXPECTED = [(200, {"status": "handled"}), (200, {"status": "duplicate"})]
EXPECTED += [(200, {"status": "handled"})]
NOT_FOUND = (404, {"error": "not_found", "detail": "no webhook endpoint at this path"})


@pytest.mark.parametrize("framework", sorted(ASGI_MOUNTS))
def test_asgi_mounted_under_uvicorn(framework: str) -> None:
    seen: list[Any] = []
    with serve_asgi(ASGI_MOUNTS[framework](seen)) as url:
        assert deliver(url, f"u-{framework}") == [*EXPECTED, NOT_FOUND]
    assert seen == [(f"u-{framework}", {}), (f"u-{framework}-t", {"tenant": "acme"})]


def test_uvicorn_root_path_behind_a_proxy_that_strips_the_prefix() -> None:
    # `uvicorn --root-path /api` behind a proxy that strips /api: path is /api/hooks/faxplus,
    # the endpoint /hooks/faxplus (the app's own path) is still found.
    seen: list[Any] = []
    with serve_asgi(receiver(seen).asgi_app, root_path="/api") as url:
        assert deliver(url, "rp") == [*EXPECTED, NOT_FOUND]
    assert seen == [("rp", {}), ("rp-t", {"tenant": "acme"})]


def test_werkzeug_dispatcher_under_wsgiref() -> None:
    seen: list[Any] = []
    with serve_wsgi(werkzeug_app(seen)) as url:
        assert deliver(url, "wsgiref") == [*EXPECTED, NOT_FOUND]
    assert seen == [("wsgiref", {}), ("wsgiref-t", {"tenant": "acme"})]


@pytest.mark.parametrize("app", ["werkzeug_app()", "plain_wsgi_app()"])
def test_under_gunicorn(app: str) -> None:
    with serve_gunicorn(f"support.mount_apps:{app}") as url:
        passed = (200, "main app: /hooks/nowhere")
        assert deliver(url, f"g-{app}") == [*EXPECTED, passed if "plain" in app else NOT_FOUND]
        with httpx.Client(base_url=url) as client:
            assert client.get("/faxplus").text == "main app: /faxplus"


@pytest.mark.parametrize("framework", ["litestar", "starlette"])
async def test_signed_urls_under_a_mounted_prefix(framework: str) -> None:
    from urllib.parse import urlsplit

    from litestar import Litestar, asgi
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from hookreceiver import Receiver, URLSigner, providers
    from hookreceiver.testing import updox

    template = "/hooks/updox/{event}/{token}"
    hooks = Receiver(public_base_url="https://hooks.example.com")
    hooks.endpoint(template, providers.Updox(signed_urls=URLSigner("k" * 32)))
    seen: list[Any] = []
    hooks.on("updox.*")(lambda event, ctx: seen.append((ctx.event_name, ctx.signed)))
    if framework == "litestar":

        @asgi("/hooks", is_mount=True, copy_scope=True)
        async def mounted(scope: Any, receive: Any, send: Any) -> None:
            await hooks.asgi_app(scope, receive, send)

        app: Any = Litestar(route_handlers=[mounted])
    else:
        app = Starlette(routes=[Mount("/hooks", app=hooks.asgi_app)])
    url = hooks.callback_url(template, event="outbound_fax", context={"job": 7})
    path = urlsplit(url).path
    delivery = updox.outbound_fax()
    headers = dict(delivery.headers)
    signed = await post_asgi(app, path, content=delivery.body, headers=headers)
    forged = await post_asgi(
        app, path.replace("outbound_fax", "inbound_fax"), content=delivery.body, headers=headers
    )
    assert (signed.status_code, forged.status_code) == (200, 403)
    assert seen == [("updox.outbound_fax", {"job": 7})]
