"""The WSGI middleware: pass-through in Flask, webhook handling, and over a real socket."""

from __future__ import annotations

from typing import Any

import httpx
from flask import Flask, request

from hookreceiver import Receiver, providers
from support.payloads import faxplus_payload
from support.servers import serve_wsgi


def flask_app(seen: list[Any]) -> Flask:
    app = Flask(__name__)

    @app.post("/echo")
    def echo() -> dict[str, Any]:
        data = request.get_data()
        return {"len": len(data), "body": data.decode()}

    hooks = Receiver()
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))

    @hooks.on("*")
    def handle(event: Any, ctx: Any) -> None:
        seen.append((event.hook.id, ctx.client))

    app.wsgi_app = hooks.wsgi_middleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


def test_flask_pass_through_keeps_the_body() -> None:
    seen: list[Any] = []
    client = flask_app(seen).test_client()
    response = client.post("/echo", data=b"y" * 200_000)
    assert response.get_json() == {"len": 200_000, "body": "y" * 200_000}
    assert seen == []


def test_flask_webhook_handled_and_deduplicated() -> None:
    seen: list[Any] = []
    client = flask_app(seen).test_client()
    payload = faxplus_payload(hook_id="w-1")
    env = {"REMOTE_ADDR": "127.0.0.1"}
    first = client.post("/hooks/faxplus", json=payload, environ_base=env)
    second = client.post("/hooks/faxplus", json=payload, environ_base=env)
    wrong = client.put("/hooks/faxplus", json=payload, environ_base=env)
    spoof = client.post("/hooks/faxplus", json=payload, environ_base={"REMOTE_ADDR": "6.6.6.6"})
    assert first.status_code == 200 and first.get_json() == {"status": "handled"}
    assert second.get_json() == {"status": "duplicate"}
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"
    assert spoof.status_code == 403
    assert seen == [("w-1", "127.0.0.1")]


def test_mountable_wsgi_app() -> None:
    hooks = Receiver()
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    from werkzeug.test import Client

    client = Client(hooks.wsgi_app)
    assert client.get("/nowhere").status_code == 404
    response = client.post(
        "/hooks/faxplus", json=faxplus_payload(), environ_base={"REMOTE_ADDR": "127.0.0.1"}
    )
    assert response.status_code == 200


def test_over_a_real_socket() -> None:
    seen: list[Any] = []
    app = flask_app(seen)
    with serve_wsgi(app) as url, httpx.Client(base_url=url) as client:
        first = client.post("/hooks/faxplus", json=faxplus_payload(hook_id="ws-1"))
        too_big = client.post(
            "/hooks/faxplus",
            content=b"{" + b" " * (2 * 1024 * 1024),
            headers={"content-type": "application/json"},
        )
        passed = client.post("/echo", content=b"abc")
    assert first.status_code == 200
    assert too_big.status_code == 413
    assert passed.json()["body"] == "abc"
    assert seen == [("ws-1", "127.0.0.1")]
