"""Sending simulated deliveries in-process (receiver, ASGI, WSGI) and over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from five_providers import DOCUMO_AUTH, Seen
from flask import Flask
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from hookreceiver import DeliveryContext, Receiver, providers
from hookreceiver.testing import (
    TransportError,
    WebhookClient,
    deliver,
    documo,
    faxplus,
    find_receiver,
    send_http,
    updox,
    zipwhip,
)
from support.servers import free_port, serve_asgi, serve_wsgi


def _starlette(hooks: Receiver) -> Starlette:
    async def home(request: Any) -> PlainTextResponse:
        return PlainTextResponse("home")

    routes = [Route("/", home, methods=["GET", "POST"])]
    return Starlette(routes=routes, middleware=[Middleware(hooks.asgi_middleware)])


def _flask(hooks: Receiver) -> Flask:
    app = Flask("flask_under_test")
    app.wsgi_app = hooks.wsgi_middleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


@pytest.fixture(params=["receiver", "starlette", "flask", "asgi_app", "wsgi_app"])
def target(request: pytest.FixtureRequest, hooks: Receiver) -> Any:
    return {
        "receiver": lambda: hooks,
        "starlette": lambda: _starlette(hooks),
        "flask": lambda: _flask(hooks),
        "asgi_app": lambda: hooks.asgi_app,
        "wsgi_app": lambda: hooks.wsgi_app,
    }[request.param]()


def test_every_kind_of_target_runs_the_handlers_and_shows_them(
    target: Any, hooks: Receiver, seen: Seen
) -> None:
    client = WebhookClient(target)
    assert client.receiver is hooks
    result = client.send(documo.fax_inbound(pages=2, basic_auth=DOCUMO_AUTH))
    assert (result.status, result.outcome) == (200, "handled")
    assert result.header("content-type") == "application/json"
    assert [call.name for call in result.calls or []] == ["build_receiver.<locals>.everything"]
    assert result.events == [seen.events[0][0]]
    assert result.calls and result.calls[0].context.event_name == "documo.fax.inbound"
    assert result.delivery.path == "/hooks/documo/fax.inbound"
    assert "ran: build_receiver.<locals>.everything" in repr(result)

    again = client.send(result.delivery)
    assert (again.status, again.outcome, again.calls) == (200, "duplicate", [])


def test_async_sending_on_the_running_loop(target: Any, seen: Seen) -> None:
    async def main() -> list[int]:
        client = WebhookClient(target)
        results = [await client.asend(zipwhip.receive()) for _ in range(2)]
        return [r.status for r in results]

    assert asyncio.run(main()) == [200, 200]
    assert seen.names == ["zipwhip.message.receive"] * 2


def test_handler_order_types_and_errors_are_recorded() -> None:
    hooks = Receiver()
    hooks.endpoint("/fp", providers.FaxPlus())

    @hooks.on("faxplus.fax_received")
    async def first(event: Any, ctx: DeliveryContext) -> None:
        pass

    @hooks.on("fax.received")
    def normalized(event: Any, ctx: DeliveryContext) -> None:
        raise RuntimeError("boom")

    result = deliver(faxplus.fax_received(), hooks)
    assert result.status == 500 and result.outcome == "handler_failed"
    calls = result.calls or []
    assert [(c.handler, c.normalized) for c in calls] == [(first, False), (normalized, True)]
    assert isinstance(calls[1].error, RuntimeError) and calls[0].error is None
    assert result.ran(first) and not result.ran(deliver)
    # The retry runs both again: the failure released the claim.
    assert deliver(result.delivery, hooks).handlers == [first, normalized]


def test_outside_a_testing_send_handlers_are_untouched(hooks: Receiver, seen: Seen) -> None:
    WebhookClient(hooks)  # instruments the registry
    delivery = zipwhip.receive().to_delivery()
    assert hooks.handle(delivery).status == 200
    assert seen.names == ["zipwhip.message.receive"]


def test_unknown_app_gives_a_clear_message_about_handler_calls() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    result = deliver(faxplus.fax_sent(), app)
    assert result.status == 204 and result.calls is None
    with pytest.raises(LookupError, match="pass receiver="):
        result.events  # noqa: B018


def test_find_receiver_through_wrappers(hooks: Receiver) -> None:
    assert find_receiver(_starlette(hooks)) is hooks
    assert find_receiver(_flask(hooks)) is hooks
    assert find_receiver(hooks.asgi_middleware(hooks.asgi_app)) is hooks
    assert find_receiver(object()) is None


def test_routing_to_the_providers_endpoint(hooks: Receiver) -> None:
    client = WebhookClient(hooks)
    assert client.send(updox.inbound_fax()).delivery.path == "/hooks/updox/inbound_fax"
    assert client.send(documo.user_create(basic_auth=DOCUMO_AUTH)).status == 200
    explicit = client.send(faxplus.fax_sent(path="/elsewhere"))
    assert explicit.status == 404 and explicit.delivery.path == "/elsewhere"


def test_non_webhook_paths_pass_through_to_the_app(hooks: Receiver) -> None:
    result = WebhookClient(_starlette(hooks)).send(faxplus.fax_sent(path="/"))
    assert (result.status, result.body) == (200, b"home")


def test_over_http_to_uvicorn_and_a_wsgi_server(hooks: Receiver, seen: Seen) -> None:
    for serve, app in ((serve_asgi, _starlette(hooks)), (serve_wsgi, _flask(hooks))):
        with serve(app) as base:
            result = send_http(zipwhip.receive(), base)
            assert result.status == 403  # the real peer is 127.0.0.1, not Zipwhip
            client = WebhookClient(base)
            sent = client.send(faxplus.fax_sent(path="/nowhere"))
            assert sent.status == 404 and sent.calls is None
    assert seen.names == []


def test_over_http_with_a_trusted_proxy_header() -> None:
    from hookreceiver.security import TrustedProxies

    hooks = Receiver(proxies=TrustedProxies(["127.0.0.1"]))
    hooks.endpoint("/hooks/zipwhip/{event}", providers.Zipwhip())
    with serve_asgi(hooks.asgi_app) as base:
        client = WebhookClient(base, forward_sender="X-Forwarded-For")
        assert client.send(zipwhip.receive()).status == 200
        assert client.send(zipwhip.receive(sender="198.18.0.1")).status == 403
        assert client.send(zipwhip.receive(method="GET")).status == 200


def test_http_transport_errors_are_raised_clearly() -> None:
    with pytest.raises(TransportError, match="POST http://127.0.0.1:"):
        send_http(faxplus.fax_sent(), f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(ValueError, match="not an http"):
        send_http(faxplus.fax_sent(), "ftp://example.com")


def test_in_process_results_carry_the_receivers_report(target: Any, hooks: Receiver) -> None:
    client = WebhookClient(target)
    result = client.send(documo.fax_inbound(pages=1, basic_auth=DOCUMO_AUTH))
    assert result.report is not None
    assert result.report.outcome.value == result.outcome == "handled"
    assert result.report.context is not None
    assert result.report.context.event_name == "documo.fax.inbound"
    refused = client.send(documo.fax_inbound(pages=1))  # no credentials
    assert refused.report is not None and refused.report.response.status == refused.status
    assert refused.outcome == refused.json()["error"] == refused.report.code


def test_a_request_the_wrapped_app_answers_has_no_report(hooks: Receiver) -> None:
    result = WebhookClient(_starlette(hooks)).send(faxplus.fax_sent(path="/"))
    assert result.report is None and result.status == 200
