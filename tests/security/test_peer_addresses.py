"""The allowlist on true peer addresses: real servers on 127.0.0.1, clients bound to 127.0.0.2,
127.0.0.3 and 127.0.0.4 (Linux routes all of 127.0.0.0/8 to the loopback interface).

127.0.0.2 is the allowed sender, 127.0.0.3 a stranger, 127.0.0.4 a trusted reverse proxy.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from security_support import Probe, Seen

from hookreceiver import Receiver, TrustedProxies
from support.servers import serve_asgi, serve_wsgi

pytestmark = pytest.mark.slow

SENDER, STRANGER, PROXY = "127.0.0.2", "127.0.0.3", "127.0.0.4"
SERVERS = {"asgi": serve_asgi, "wsgi": serve_wsgi}


def _loopback_aliases_work() -> bool:
    try:
        with socket.socket() as probe:
            probe.bind((STRANGER, 0))
    except OSError:
        return False
    return True


if not _loopback_aliases_work():  # pragma: no cover - macOS without lo0 aliases
    pytest.skip("127.0.0.3 cannot be bound on this host", allow_module_level=True)


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, Seen]]:
    seen = Seen()
    hooks = seen.attach(Receiver(proxies=TrustedProxies([PROXY])))
    hooks.endpoint("/hooks/ip", Probe(allow_ips=[SENDER]))
    app = hooks.asgi_app if request.param == "asgi" else hooks.wsgi_app
    with SERVERS[request.param](app) as url:
        yield url, seen


def post(url: str, source: str, event_id: str, headers: dict[str, str] | None = None) -> int:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, base_url=url, timeout=5) as client:
        response = client.post("/hooks/ip", json={"id": event_id}, headers=headers or {})
    return response.status_code


CASES = [
    ("allowed-sender", SENDER, {}, 200, SENDER),
    ("stranger", STRANGER, {}, 403, None),
    ("stranger-spoofs-xff", STRANGER, {"X-Forwarded-For": SENDER}, 403, None),
    ("stranger-spoofs-forwarded", STRANGER, {"Forwarded": f"for={SENDER}"}, 403, None),
    ("proxy-forwards-sender", PROXY, {"X-Forwarded-For": SENDER}, 200, SENDER),
    ("proxy-forwards-stranger", PROXY, {"X-Forwarded-For": f"{SENDER}, {STRANGER}"}, 403, None),
    ("proxy-itself", PROXY, {}, 403, None),
]


@pytest.mark.parametrize(
    "name, source, headers, status, peer", CASES, ids=[case[0] for case in CASES]
)
def test_allowlist_sees_the_real_peer(
    server: tuple[str, Seen],
    name: str,
    source: str,
    headers: dict[str, str],
    status: int,
    peer: str | None,
) -> None:
    url, seen = server
    before = len(seen.calls)

    assert post(url, source, name, headers) == status

    new = seen.calls[before:]
    assert new == ([] if peer is None else [("probe.ping", name, peer, None)])


def test_refused_sender_with_a_100_mb_body_is_answered_before_sending_it(
    server: tuple[str, Seen],
) -> None:
    url, seen = server
    host, port = url.removeprefix("http://").split(":")
    before = len(seen.calls)
    with socket.socket() as sock:
        sock.bind((STRANGER, 0))
        sock.settimeout(5)
        sock.connect((host, int(port)))
        started = time.monotonic()
        sock.sendall(
            b"POST /hooks/ip HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n"
        )
        response = b""
        while b"\r\n\r\n" not in response or not response.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            response += chunk
        elapsed = time.monotonic() - started
    assert response.startswith(b"HTTP/1.") and b" 403 " in response.split(b"\r\n", 1)[0]
    assert b'"address_not_allowed"' in response
    assert elapsed < 2
    assert seen.calls[before:] == []
