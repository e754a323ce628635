"""Whatever a request carries, the console answers a page of its own: 2xx/3xx, or a 4xx
refusal, never a 500 (property tests, the ASGI app called in process)."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookreceiver import Receiver
from hookreceiver.console import ConsoleApp
from hookreceiver.console.auth import basic_credentials, same_origin
from hookreceiver.inbox import InboxRecord, InboxState, SQLiteInbox

ADMIN = ("alice", "pw-alice-0123")
AUTH = b"Basic " + base64.b64encode(b"alice:pw-alice-0123")


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Any:
    inbox = SQLiteInbox(Path(tmp_path_factory.mktemp("input")) / "input.db")
    inbox.put(
        InboxRecord(
            id="r1",
            state=InboxState.FAILED,
            endpoint="/hooks/x",
            provider="documo",
            event_name=None,
            key=None,
            received_at=1.0,
            updated_at=1.0,
            attempts=1,
            next_attempt_at=1.0,
            last_error="boom",
            size=0,
        )
    )
    app = ConsoleApp(Receiver(inbox=inbox, worker=False), auth=[ADMIN])
    yield app
    inbox.close()


def call(app: ConsoleApp, method: str, path: str, query: bytes, headers: list[Any], body: bytes):
    answer: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.update(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": query,
        "headers": headers,
        "client": ("127.0.0.1", 1),
    }
    asyncio.run(app(scope, receive, send))
    return answer


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.sampled_from(["q", "provider", "event", "state", "since", "until", "cursor", "size"]),
        text,
        max_size=5,
    ),
    st.sampled_from(["/", "/overview", "/replay", "/deliveries/r1", "/deliveries/r1/files/0"]),
)
def test_any_query_is_a_page_or_a_refusal(
    console: ConsoleApp, query: dict[str, str], path: str
) -> None:
    encoded = "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items()).encode()
    answer = call(console, "GET", path, encoded, [(b"authorization", AUTH)], b"")
    assert answer["status"] in (200, 400, 404), (path, query)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text,
    st.binary(max_size=300),
    st.one_of(st.none(), text),
    st.sampled_from(["GET", "POST", "PUT", "HEAD"]),
)
def test_any_path_credentials_and_form_are_answered(
    console: ConsoleApp, path: str, body: bytes, origin: str | None, method: str
) -> None:
    headers: list[Any] = [
        (b"authorization", AUTH),
        (b"host", b"console.test"),
        (b"content-type", b"application/x-www-form-urlencoded"),
    ]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    answer = call(console, method, "/" + path, b"", headers, body)
    assert 200 <= answer["status"] < 500, (method, path)
    if method == "POST":
        assert answer["status"] == 403  # no valid token in random bytes


@given(
    st.one_of(
        st.none(),
        text,
        st.binary(max_size=80).map(lambda b: "Basic " + base64.b64encode(b).decode()),
    )
)
def test_any_authorization_value_parses_or_is_none(value: str | None) -> None:
    found = basic_credentials(value)
    assert found is None or b":" in found


@given(st.dictionaries(st.sampled_from(["origin", "referer", "host"]), text))
def test_any_origin_headers_are_judged(headers: dict[str, str]) -> None:
    assert same_origin(headers) in (True, False)
