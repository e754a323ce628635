"""The FastAPI router under a real uvicorn server: deliveries answered by the receiver's own
adapter, the app's other routes untouched, and opt-in OpenAPI entries with the event models."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from hookreceiver import DeliveryContext, Receiver, URLSigner, providers
from hookreceiver.integrations.fastapi import webhook_router
from hookreceiver.providers.documo import FaxInbound
from hookreceiver.testing import documo, send_http, updox, zipwhip
from support.servers import serve_asgi

pytestmark = pytest.mark.slow

KEY = "fastapi-key-" + "k" * 20


def make_app(*, openapi: bool, prefix: str = "") -> tuple[FastAPI, list[tuple[str, Any]]]:
    hooks = Receiver(log_events=False)
    hooks.endpoint(
        "/hooks/documo",
        providers.Documo(basic_auth=[("documo", "s3cret")], allow_ips=["127.0.0.1"]),
    )
    hooks.endpoint("/hooks/zipwhip/{event}", providers.Zipwhip(allow_ips=["127.0.0.1"]))
    hooks.endpoint(
        "/hooks/updox/{event}/{token}",
        providers.Updox(signed_urls=URLSigner([KEY], expires_in=None)),
    )
    seen: list[tuple[str, Any]] = []

    @hooks.on("*")
    async def record(event: Any, ctx: DeliveryContext) -> None:
        pages = [len(a.read()) for a in ctx.attachments]
        seen.append((ctx.event_name, pages or ctx.signed))

    app = FastAPI()
    app.include_router(webhook_router(hooks, openapi=openapi), prefix=prefix)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/other", dependencies=[Depends(lambda: None)])
    def other(payload: dict[str, int]) -> dict[str, int]:
        return {"sum": sum(payload.values())}

    return app, seen


def test_deliveries_over_http_are_answered_by_the_receiver() -> None:
    app, seen = make_app(openapi=False)
    with serve_asgi(app) as base:
        fax = documo.fax_inbound(pages=2, basic_auth=("documo", "s3cret"))
        assert send_http(fax, base).status == 200
        wrong = send_http(fax.with_basic_auth("documo", "nope"), base)
        assert wrong.status == 401 and wrong.header("www-authenticate")
        assert wrong.json() == {"error": "unauthorized", "detail": "wrong credentials"}
        message = zipwhip.receive(path="/hooks/zipwhip/receive")
        assert send_http(message, base).status == 200
        signed = URLSigner([KEY], expires_in=None).url(
            base, "/hooks/updox/{event}/{token}", {"event": "inbound_fax"}, {"job": 3}
        )
        assert send_http(updox.inbound_fax(url=signed), base).status == 200
        forged = signed.rsplit("/", 1)[0] + "/forged"
        assert send_http(updox.inbound_fax(url=forged), base).status == 403
        assert httpx.get(base + "/hooks/documo").status_code == 405
        assert httpx.get(base + "/health").json() == {"status": "ok"}
        assert httpx.post(base + "/other", json={"a": 1, "b": 2}).json() == {"sum": 3}
        assert httpx.get(base + "/openapi.json").json()["paths"].keys() == {"/health", "/other"}
    assert seen == [
        ("documo.fax.inbound", [len(fax.attachment or b"")]),
        ("zipwhip.message.receive", None),
        ("updox.inbound_fax", {"job": 3}),
    ]


def test_openapi_lists_each_endpoint_with_its_event_models() -> None:
    app, _ = make_app(openapi=True)
    with serve_asgi(app) as base:
        document = httpx.get(base + "/openapi.json").json()
        fax = documo.fax_inbound(pages=1, basic_auth=("documo", "s3cret"))
        assert send_http(fax, base).status == 200  # documented, still the receiver's
    paths = document["paths"]
    assert {"/hooks/documo", "/hooks/zipwhip/{event}", "/hooks/updox/{event}/{token}"} <= set(paths)
    operation = paths["/hooks/documo"]["post"]
    assert operation["tags"] == ["documo"]
    assert {"200", "401", "403", "413"} <= set(operation["responses"])
    assert "multipart/form-data" in operation["description"]
    schemas = document["components"]["schemas"]
    assert FaxInbound.__name__ in schemas
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    refs = {item["$ref"].rsplit("/", 1)[1] for item in body.get("anyOf", [body])}
    assert FaxInbound.__name__ in refs
    zipwhip_params = paths["/hooks/zipwhip/{event}"]["post"]["parameters"]
    assert [p["name"] for p in zipwhip_params] == ["event"]
    assert set(paths["/hooks/zipwhip/{event}"]) == {"post", "put", "get"}


@pytest.mark.parametrize("root_path", ["", "/proxied"])
def test_a_router_included_under_a_prefix_answers_there(root_path: str) -> None:
    # include_router(..., prefix="/api") answered 404 to every delivery: the receiver looked
    # for /api/hooks/documo among its endpoints.
    app, seen = make_app(openapi=True, prefix="/api")
    with serve_asgi(app, root_path=root_path) as base:
        fax = documo.fax_inbound(pages=1, basic_auth=("documo", "s3cret"))
        # Behind a proxy that strips root_path (uvicorn --root-path puts it back in the scope).
        assert send_http(fax, base + "/api").status == 200
        assert send_http(fax.with_basic_auth("documo", "nope"), base + "/api").status == 401
        message = zipwhip.receive(path="/hooks/zipwhip/receive")
        assert send_http(message, base + "/api").status == 200
        signed = URLSigner([KEY], expires_in=None).url(
            base + "/api", "/hooks/updox/{event}/{token}", {"event": "inbound_fax"}, {"job": 4}
        )
        assert send_http(updox.inbound_fax(url=signed), base).status == 200
        assert send_http(fax, base).status == 404  # not at the unprefixed path
        paths = httpx.get(base + "/openapi.json").json()["paths"]
        assert "/api/hooks/documo" in paths and "/hooks/documo" not in paths
    assert [name for name, _ in seen] == [
        "documo.fax.inbound",
        "zipwhip.message.receive",
        "updox.inbound_fax",
    ]
