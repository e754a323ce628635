"""The Standard Webhooks HMAC guard: the spec's test vector, rotation, tolerance, end to end."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from security_support import HMAC_SECRET, NOW, Clock, Probe, Request, Result, Seen

from hookreceiver import (
    ConfigurationError,
    Delivery,
    Headers,
    NotVerified,
    Receiver,
    StandardWebhooks,
)
from hookreceiver.security import GuardRequest

# From the reference implementation's tests (standard-webhooks/libraries/python).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def guard_request(*headers: tuple[str, str]) -> GuardRequest:
    return GuardRequest(Delivery("POST", "/h", headers=Headers(headers)), "/h", {}, None)


def signed_headers(
    msg_id: str, ts: int, signature: str, prefix: str = "webhook-"
) -> list[tuple[str, str]]:
    return [
        (prefix + "id", msg_id),
        (prefix + "timestamp", str(ts)),
        (prefix + "signature", signature),
    ]


def test_spec_test_vector() -> None:
    guard = StandardWebhooks(VECTOR_SECRET, clock=Clock(VECTOR_TS + 10))
    assert guard.sign(VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE
    request = guard_request(*signed_headers(VECTOR_ID, VECTOR_TS, VECTOR_SIGNATURE))
    guard.check(request)
    guard.check_body(request, VECTOR_BODY)
    with pytest.raises(NotVerified, match="no signature matches"):
        guard.check_body(request, VECTOR_BODY + b" ")


def test_several_signatures_and_several_secrets() -> None:
    old = StandardWebhooks(b"old-secret-0123456789abcdef")
    guard = StandardWebhooks([VECTOR_SECRET, b"old-secret-0123456789abcdef"], clock=Clock(NOW))
    ts = int(NOW)
    header = " ".join(
        [
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            "v2," + old.sign("m1", ts, b"{}")[3:],
            "v1a,bm90IGNoZWNrZWQ=",
            old.sign("m1", ts, b"{}"),
        ]
    )
    request = guard_request(*signed_headers("m1", ts, header))
    guard.check(request)
    guard.check_body(request, b"{}")  # the old secret still verifies while rotating


@pytest.mark.parametrize("offset, ok", [(-300, True), (300, True), (-301, False), (301, False)])
def test_tolerance_window_on_the_injected_clock(offset: int, ok: bool) -> None:
    clock = Clock(NOW)
    guard = StandardWebhooks(HMAC_SECRET, clock=clock, tolerance=300)
    ts = int(NOW) + offset
    request = guard_request(*signed_headers("m", ts, guard.sign("m", ts, b"{}")))
    if ok:
        guard.check(request)
    else:
        with pytest.raises(NotVerified, match="tolerance"):
            guard.check(request)


def test_other_header_prefix_for_svix_senders() -> None:
    guard = StandardWebhooks(HMAC_SECRET, clock=Clock(NOW), header_prefix="svix-")
    ts = int(NOW)
    request = guard_request(*signed_headers("m", ts, guard.sign("m", ts, b"{}"), "svix-"))
    guard.check(request)
    guard.check_body(request, b"{}")
    with pytest.raises(NotVerified, match="svix-id"):
        guard.check(guard_request(*signed_headers("m", ts, guard.sign("m", ts, b"{}"))))


def test_end_to_end_body_is_read_only_when_headers_pass(
    adapter: Callable[[Receiver, Request], Result], seen: Seen
) -> None:
    guard = StandardWebhooks(HMAC_SECRET, clock=Clock(NOW))
    hooks = seen.attach(Receiver())
    hooks.endpoint("/hooks/signed", Probe(guards=[guard]))
    body = b'{"id": "evt-7"}'
    ts = int(NOW)
    good = Request("/hooks/signed", headers=signed_headers("m7", ts, guard.sign("m7", ts, body)))
    good.body = body
    stale = Request("/hooks/signed", headers=signed_headers("m7", ts - 3600, "v1,AAAA"))

    accepted = adapter(hooks, good)
    refused = adapter(hooks, stale)

    assert accepted.status == 200
    assert refused.status == 403 and refused.body_reads == 0
    assert refused.json()["error"] == "invalid_signature"
    assert [call[1] for call in seen.calls] == ["evt-7"]


def test_from_environment() -> None:
    environ = {"SENDER_SECRETS": f"{HMAC_SECRET}, whsec_b2xkLXNlY3JldC0wMTIzNDU2Nzg5"}
    guard = StandardWebhooks.from_env("SENDER_SECRETS", environ=environ, tolerance=60)
    assert guard.tolerance == 60
    assert "MfKQ" not in repr(guard)


@pytest.mark.parametrize(
    "secrets, message",
    [
        ([], "at least one secret"),
        ("whsec_!!!", "base64"),
        ("whsec_c2hvcnQ=", "at least 16 bytes"),
        (b"short", "at least 16 bytes"),
    ],
)
def test_configuration_errors(secrets: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        StandardWebhooks(secrets)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="tolerance"):
        StandardWebhooks(HMAC_SECRET, tolerance=0)
