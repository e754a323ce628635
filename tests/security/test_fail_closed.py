"""Failing closed, and guards running cheapest first, before the body is read."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from typing import Any

import pytest
from security_support import URL_KEYS, Probe, Request, Result, Seen

from hookreceiver import (
    BasicAuth,
    ConfigurationError,
    IPAllowlist,
    Receiver,
    StandardWebhooks,
    URLSigner,
    providers,
)
from hookreceiver.security import SignedURLGuard


def test_endpoint_without_verification_refuses_to_start() -> None:
    hooks = Receiver()
    with pytest.raises(ConfigurationError, match="no sender verification") as error:
        hooks.endpoint("/hooks/probe", Probe())
    assert "insecure_no_verification=True" in str(error.value)
    with pytest.raises(ConfigurationError, match="no sender verification"):
        hooks.endpoint("/hooks/faxplus", providers.FaxPlus(ip_preset=False))
    assert hooks.router.endpoints == []


@pytest.mark.parametrize("everyone", [["0.0.0.0/0"], ["::/0"], ["0.0.0.0/0", "::/0"]])
def test_an_allowlist_of_everyone_is_no_verification(everyone: list[str]) -> None:
    hooks = Receiver()
    with pytest.raises(ConfigurationError, match="0.0.0.0/0 or ::/0 lets everyone in"):
        hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=everyone))
    # Another guard beside it still verifies; an explicit opt-out starts.
    hooks.endpoint(
        "/hooks/documo",
        providers.Documo(ip_preset=False, allow_ips=everyone, basic_auth=[("u", "p" * 12)]),
    )
    hooks.endpoint(
        "/hooks/open", providers.FaxPlus(allow_ips=everyone, insecure_no_verification=True)
    )
    assert [e.path for e in hooks.router.endpoints] == ["/hooks/documo", "/hooks/open"]


def test_explicit_opt_out_starts_with_a_warning(
    caplog: pytest.LogCaptureFixture,
    adapter: Callable[[Receiver, Request], Result],
    seen: Seen,
) -> None:
    hooks = seen.attach(Receiver())
    with caplog.at_level(logging.WARNING, logger="hookreceiver"):
        hooks.endpoint("/hooks/open", Probe(insecure_no_verification=True))
    assert "/hooks/open (probe) accepts deliveries from anyone" in caplog.text
    assert adapter(hooks, Request("/hooks/open")).status == 200
    assert len(seen.calls) == 1


def test_provider_presets_merge_with_the_users_networks() -> None:
    faxplus = providers.FaxPlus(allow_ips=["192.0.2.0/24"])
    (allowlist,) = faxplus.guards
    assert isinstance(allowlist, IPAllowlist)
    assert allowlist.allows("34.65.253.117") and allowlist.allows("192.0.2.9")
    only_mine = providers.FaxPlus(ip_preset=False, allow_ips=["192.0.2.0/24"])
    assert not only_mine.guards[0].allows("34.65.253.117")  # type: ignore[attr-defined]


def test_guards_are_ordered_cheapest_first() -> None:
    hmac_guard = StandardWebhooks(b"0123456789abcdef0123")
    probe = Probe(
        guards=[hmac_guard],
        signed_urls=URLSigner(URL_KEYS),
        basic_auth=[("u", "p")],
        allow_ips=["192.0.2.1"],
    )
    kinds = [type(guard) for guard in probe.guards]
    assert kinds == [IPAllowlist, BasicAuth, SignedURLGuard, StandardWebhooks]
    assert [guard.needs_body for guard in probe.guards] == [False, False, False, True]


def test_the_cheapest_refusal_answers(
    adapter: Callable[[Receiver, Request], Result], seen: Seen
) -> None:
    hooks = seen.attach(Receiver())
    hooks.endpoint("/hooks/both", Probe(allow_ips=["192.0.2.1"], basic_auth=[("u", "pw")]))
    good_auth = [("authorization", "Basic " + base64.b64encode(b"u:pw").decode())]
    stranger = adapter(hooks, Request("/hooks/both", headers=good_auth))
    no_auth = adapter(hooks, Request("/hooks/both", peer="192.0.2.1"))
    both = adapter(hooks, Request("/hooks/both", peer="192.0.2.1", headers=good_auth))
    assert (stranger.status, no_auth.status, both.status) == (403, 401, 200)


def test_refused_100_mb_body_is_never_pulled_from_asgi(seen: Seen) -> None:
    hooks = seen.attach(Receiver())
    hooks.endpoint("/hooks/ip", Probe(allow_ips=["192.0.2.1"]))
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 1_048_576, "more_body": pulled < 100}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/hooks/ip",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"104857600")],
        "client": ("203.0.113.9", 5555),
    }
    asyncio.run(hooks.asgi_app(scope, receive, send))
    assert sent[0]["status"] == 403
    assert pulled == 0


def test_refused_100_mb_body_is_never_read_from_wsgi(seen: Seen) -> None:
    hooks = seen.attach(Receiver())
    hooks.endpoint("/hooks/ip", Probe(allow_ips=["192.0.2.1"]))

    class Untouchable:
        def read(self, *args: object) -> bytes:
            raise AssertionError("the body was read")

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/hooks/ip",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "104857600",
        "REMOTE_ADDR": "203.0.113.9",
        "wsgi.input": Untouchable(),
    }
    statuses: list[str] = []
    body = b"".join(hooks.wsgi_app(environ, lambda status, headers: statuses.append(status)))
    assert statuses == ["403 Forbidden"]
    assert b"address_not_allowed" in body
