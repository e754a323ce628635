"""The ASGI adapter builds its Delivery slot by slot (no __init__ calls, on the hot path): the
result must be exactly what the constructors build, every field and every slot set."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from hookreceiver.adapters.asgi import _BodyStream, delivery_from_scope
from hookreceiver.delivery import Delivery, Headers

RAW_HEADERS = [
    (b"host", b"example.test"),
    (b"content-type", b"application/json; charset=utf-8"),
    (b"x-hook", b"caf\xe9"),
    (b"x-hook", b"two"),
]


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"{}", "more_body": False}


def scopes() -> list[dict[str, Any]]:
    full = {
        "type": "http",
        "method": "POST",
        "scheme": "https",
        "path": "/hooks/caf\u00e9",
        "raw_path": b"/hooks/caf%C3%A9",
        "query_string": b"a=1&b=%C3%A9&c=\xe9",
        "headers": RAW_HEADERS,
        "client": ("203.0.113.9", 4000),
    }
    bare = {"type": "http", "method": "GET", "path": "/x", "headers": []}
    no_client = {**full, "client": None, "raw_path": None, "query_string": b""}
    return [full, bare, no_client]


def expected(scope: dict[str, Any], path: str | None) -> Delivery:
    client = scope.get("client")
    raw_path = scope.get("raw_path")
    return Delivery(
        scope["method"],
        scope["path"] if path is None else path,
        (scope.get("query_string") or b"").decode("latin-1"),
        Headers.from_raw(scope["headers"]),
        client[0] if client else None,
        b"",
        None if raw_path is None else raw_path.decode("latin-1"),
        scope.get("scheme", "http"),
    )


@pytest.mark.parametrize("scope", scopes())
@pytest.mark.parametrize("path", [None, "/mounted/x"])
def test_the_delivery_equals_the_one_the_constructors_build(
    scope: dict[str, Any], path: str | None
) -> None:
    built = delivery_from_scope(scope, receive, path)
    want = expected(scope, path)
    assert type(built) is Delivery
    for field in dataclasses.fields(Delivery):  # every field set, a new one included
        if field.name in ("headers", "body"):
            continue
        assert getattr(built, field.name) == getattr(want, field.name), field.name
    assert built.headers.items_list() == want.headers.items_list()
    if scope["headers"]:
        assert built.headers.get_all("x-hook") == ["caf\u00e9", "two"]
    assert built.content_type == want.content_type
    assert built.query_params() == want.query_params()
    assert repr(built.headers) == repr(want.headers)


def test_every_slot_of_the_headers_and_the_body_stream_is_set() -> None:
    built = delivery_from_scope(scopes()[0], receive, None, None)
    assert isinstance(built.headers, Headers) and isinstance(built.body, _BodyStream)
    for obj in (built, built.headers, built.body):
        for cls in type(obj).__mro__:
            for name in cls.__dict__.get("__slots__", ()):
                getattr(obj, name)  # AttributeError if the adapter forgot one
    fresh = _BodyStream(receive)
    for name in _BodyStream.__slots__:
        assert getattr(built.body, name) == getattr(fresh, name) or name == "_receive"


def test_the_body_stream_reads_what_receive_gives() -> None:
    built = delivery_from_scope(scopes()[0], receive)
    stream = built.body
    assert isinstance(stream, _BodyStream)

    async def read() -> list[bytes]:
        return [chunk async for chunk in stream]

    assert asyncio.run(read()) == [b"{}"]
