"""The bad-input roots over a real socket: uvicorn (ASGI) and wsgiref (WSGI) on loopback, an
httpx client. Each is answered 400 with a short JSON error (a parser bug: the provider's
policy), never 500."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from bad_input_support import every_provider

from hookreceiver import Receiver
from hookreceiver.testing.factories import SimulatedDelivery, documo, faxplus, updox, wirecloud
from hookreceiver.testing.factories import zipwhip as zipwhip_factory
from support.servers import serve_asgi, serve_wsgi

pytestmark = pytest.mark.slow

HUGE = "9" * 5000
EARLY = "0001-01-01T00:00:00+05:00"


def _patched(sim: SimulatedDelivery, path: list[str], literal: str) -> SimulatedDelivery:
    payload = json.loads(sim.body)
    node: Any = payload
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = "__here__"
    body = json.dumps(payload).replace('"__here__"', literal).encode()
    return sim.replace(body=body, path=sim.path)


CASES: dict[str, Callable[[], SimulatedDelivery]] = {
    "faxplus-huge-int": lambda: _patched(faxplus.fax_sent(), ["data", "pages"], HUGE),
    "updox-huge-int": lambda: _patched(updox.inbound_fax(), ["faxId"], HUGE),
    "zipwhip-huge-int": lambda: _patched(zipwhip_factory.receive(), ["id"], HUGE),
    "kazoo-json-huge-int": lambda: _patched(
        wirecloud.channel_create(format="json"), ["timestamp"], HUGE
    ),
    "faxplus-early-time": lambda: _patched(
        faxplus.fax_received(), ["hook", "event_time"], json.dumps(EARLY)
    ),
    "zipwhip-get-early-time": lambda: zipwhip_factory.receive(method="GET", dateCreated=EARLY),
    "documo-early-time": lambda: documo.fax_inbound(createdAt=EARLY),
    "updox-70kb-id": lambda: updox.inbound_fax(faxId="x" * 70_000),
    "kazoo-70kb-call-id": lambda: wirecloud.channel_destroy(call_id="c" * 70_000),
}


@pytest.fixture(scope="module", params=["uvicorn", "wsgiref"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, Receiver]]:
    hooks = every_provider()
    if request.param == "uvicorn":
        with serve_asgi(hooks.asgi_app) as url:
            yield url, hooks
    else:
        with serve_wsgi(hooks.wsgi_app) as url:
            yield url, hooks


def post(base: str, sim: SimulatedDelivery) -> httpx.Response:
    headers = [(n, v) for n, v in sim.headers if n.lower() != "content-length"]
    return httpx.request(
        sim.method, sim.url(base), headers=headers, content=sim.body or None, timeout=30
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_over_a_socket_is_a_400(server: tuple[str, Receiver], case: str) -> None:
    base, _ = server
    response = post(base, CASES[case]())
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error", "detail"}


def test_a_parser_bug_over_a_socket_keeps_kazoo_answered_200(
    server: tuple[str, Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, hooks = server
    endpoint = next(e for e in hooks.router.endpoints if e.provider.name == "wirecloud")

    def parse(*args: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(endpoint.provider, "parse", parse)
    response = post(base, wirecloud.channel_create())
    assert response.status_code == 200
    assert response.json()["error"] == "internal_error"


@pytest.mark.parametrize(
    "factory",
    [
        lambda: zipwhip_factory.receive(method="GET"),
        lambda: wirecloud.channel_destroy(method="GET"),
    ],
    ids=["zipwhip", "kazoo"],
)
def test_a_get_delivery_is_handled_under_every_server(
    server: tuple[str, Receiver], factory: Callable[[], SimulatedDelivery]
) -> None:
    # wsgiref (and Django's runserver, built on it) say "text/plain" for a request that sent
    # no Content-Type: a GET delivery's event is in its query string, not a body.
    base, _ = server
    response = post(base, factory())
    assert response.status_code == 200, response.text
