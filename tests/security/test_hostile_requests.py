"""Hostile requests, each run through the real ASGI and WSGI adapters.

Every case asserts the status, a short JSON error with the expected code, that no handler ran,
that the body was not read (unless a body signature had to be checked), and that no secret, nor
any credential or token the request carried, appears in the response or the log.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from security_support import (
    HMAC_SECRET,
    NEW_PASSWORD,
    NOW,
    OLD_PASSWORD,
    SECRETS,
    URL_KEYS,
    Clock,
    Probe,
    Request,
    Result,
    Seen,
)

from hookreceiver import Receiver, StandardWebhooks, TrustedProxies, URLSigner

SIGNER = URLSigner(URL_KEYS, clock=Clock())
PAST_SIGNER = URLSigner(URL_KEYS, clock=Clock(NOW - 3600))
FOREIGN_SIGNER = URLSigner(["someone-elses-key-0123456789"], clock=Clock())
HMAC = StandardWebhooks(HMAC_SECRET, clock=Clock())
OTHER_HMAC = StandardWebhooks(b"another-sender-secret-0123456789", clock=Clock())

TOKEN_IN = SIGNER.sign("/hooks/signed/{event}", {"event": "inbound"}, {"fax_job": 42})
TOKEN_OTHER_ENDPOINT = SIGNER.sign("/hooks/other/{event}", {"event": "inbound"})
TOKEN_EXPIRED = PAST_SIGNER.sign("/hooks/signed/{event}", {"event": "inbound"}, expires_in=60)
TOKEN_FOREIGN = FOREIGN_SIGNER.sign("/hooks/signed/{event}", {"event": "inbound"})
TOKEN_PATH = SIGNER.sign("/hooks/kazoo/{token}")
BODY = b'{"id": "evt-1"}'


def basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


def tampered(token: str) -> str:
    payload, _, signature = token.rpartition(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    return f"{flipped}.{signature}"


def hmac_headers(
    body: bytes = BODY, ts: int = int(NOW), msg_id: str = "msg_1", guard: StandardWebhooks = HMAC
) -> list[tuple[str, str]]:
    return [
        ("webhook-id", msg_id),
        ("webhook-timestamp", str(ts)),
        ("webhook-signature", guard.sign(msg_id, ts, body)),
    ]


def build(seen: Seen) -> dict[str, Receiver]:
    """Two receivers: proxies trusted by X-Forwarded-For, and by Forwarded."""
    xff = Receiver(proxies=TrustedProxies(["10.0.0.0/8", "fd00::/8"]))
    allow = ["198.51.100.0/24", "2001:db8::/32"]
    xff.endpoint("/hooks/ip", Probe(allow_ips=allow))
    xff.endpoint(
        "/hooks/basic", Probe(basic_auth=[("documo", OLD_PASSWORD), ("documo", NEW_PASSWORD)])
    )
    xff.endpoint("/hooks/signed/{event}", Probe(signed_urls=SIGNER))
    xff.endpoint("/hooks/other/{event}", Probe(signed_urls=SIGNER))
    xff.endpoint("/hooks/kazoo/{token}", Probe(signed_urls=SIGNER))
    xff.endpoint("/hooks/hmac", Probe(guards=[StandardWebhooks(HMAC_SECRET, clock=Clock())]))
    fwd = Receiver(proxies=TrustedProxies(["10.0.0.0/8"], header="forwarded"))
    fwd.endpoint("/hooks/ip", Probe(allow_ips=allow))
    return {"xff": seen.attach(xff), "fwd": seen.attach(fwd)}


@dataclass
class Case:
    name: str
    request: Request
    status: int
    error: str
    receiver: str = "xff"
    reads_body: bool = False
    leaks: list[str] = field(default_factory=list)


def ip(name: str, peer: str | None, *headers: tuple[str, str], receiver: str = "xff") -> Case:
    request = Request("/hooks/ip", peer=peer, headers=list(headers))
    return Case(name, request, 403, "address_not_allowed", receiver)


def auth(name: str, *headers: tuple[str, str]) -> Case:
    leaks = [value for _, value in headers if len(value) >= 8]
    request = Request("/hooks/basic", headers=list(headers))
    return Case(name, request, 401, "unauthorized", leaks=leaks)


def signed(
    name: str, path: str, query: str, error: str = "invalid_token", *, status: int = 403
) -> Case:
    leaks = [part for part in query.split("=", 1)[1:] if len(part) >= 8]
    return Case(name, Request(path, query=query), status, error, leaks=leaks)


def hmac_case(name: str, headers: list[tuple[str, str]], *, body: bytes = BODY) -> Case:
    reads = any(k == "webhook-signature" for k, _ in headers) and name.startswith("body")
    request = Request("/hooks/hmac", headers=headers, body=body)
    leaks = [v for k, v in headers if k == "webhook-signature"]
    return Case(name, request, 403, "invalid_signature", reads_body=reads, leaks=leaks)


TRUSTED = "10.0.0.1"
XFF = "x-forwarded-for"
CASES = [
    # Addresses and forwarding chains ---------------------------------------------------------
    ip("peer-not-allowed", "203.0.113.5"),
    ip("untrusted-peer-xff-spoof", "203.0.113.5", (XFF, "198.51.100.7")),
    ip("untrusted-peer-forwarded-spoof", "203.0.113.5", ("forwarded", "for=198.51.100.7")),
    ip("untrusted-peer-header-case", "203.0.113.5", ("X-FORWARDED-FOR", "198.51.100.7")),
    ip("spoofed-left-entry", TRUSTED, (XFF, "198.51.100.7, 203.0.113.5")),
    ip("spoofed-behind-two-proxies", TRUSTED, (XFF, "198.51.100.7, 203.0.113.5, 10.9.9.9")),
    ip("duplicated-xff-lines", TRUSTED, (XFF, "198.51.100.7"), (XFF, "203.0.113.5")),
    ip("xff-garbage", TRUSTED, (XFF, "not-an-address")),
    ip("xff-empty", TRUSTED, (XFF, "")),
    ip("xff-trailing-empty-entry", TRUSTED, (XFF, "198.51.100.7, ")),
    ip("xff-space-separated", TRUSTED, (XFF, "203.0.113.5 198.51.100.7")),
    ip("xff-bad-port", TRUSTED, (XFF, "198.51.100.7:http")),
    ip("xff-ipv6-zone-id", TRUSTED, (XFF, "2001:db8::1%eth0")),
    ip("xff-bracketed-zone-port", TRUSTED, (XFF, "[2001:db8::1%25eth0]:443")),
    ip("xff-integer-address", TRUSTED, (XFF, "3325256711")),
    ip("xff-leading-zero-octet", TRUSTED, (XFF, "198.051.100.7")),
    ip("xff-mapped-disallowed", TRUSTED, (XFF, "::ffff:203.0.113.5")),
    ip("xff-overlong", TRUSTED, (XFF, "198.51.100.7, " * 5000 + "10.0.0.2")),
    ip("xff-all-trusted-overlong-chain", TRUSTED, (XFF, ", ".join(["10.1.1.1"] * 40))),
    ip("trusted-proxy-itself", TRUSTED),
    ip("mapped-trusted-proxy-spoof", "::ffff:10.0.0.1", (XFF, "203.0.113.5")),
    ip("peer-mapped-disallowed", "::ffff:203.0.113.5"),
    ip("peer-zone-id", "fe80::1%lo"),
    ip("peer-missing", None),
    ip("fwd-xff-ignored", TRUSTED, (XFF, "198.51.100.7"), receiver="fwd"),
    ip(
        "fwd-spoofed-left",
        TRUSTED,
        ("forwarded", "for=198.51.100.7, for=203.0.113.5"),
        receiver="fwd",
    ),
    ip("fwd-unknown", TRUSTED, ("forwarded", "for=unknown"), receiver="fwd"),
    ip("fwd-obfuscated", TRUSTED, ("forwarded", "for=_hidden"), receiver="fwd"),
    ip(
        "fwd-comma-in-quotes",
        TRUSTED,
        ("forwarded", 'for=203.0.113.5;by="x,for=198.51.100.7"'),
        receiver="fwd",
    ),
    ip(
        "fwd-repeated-for",
        TRUSTED,
        ("forwarded", "for=198.51.100.7;for=198.51.100.8"),
        receiver="fwd",
    ),
    ip("fwd-unterminated-quote", TRUSTED, ("forwarded", 'for="198.51.100.7'), receiver="fwd"),
    ip("fwd-no-for", TRUSTED, ("forwarded", "proto=https;by=10.0.0.1"), receiver="fwd"),
    ip("fwd-zone-id", TRUSTED, ("forwarded", 'for="[2001:db8::1%25eth0]"'), receiver="fwd"),
    ip("fwd-junk-after-quote", TRUSTED, ("forwarded", 'for="198.51.100.7"x'), receiver="fwd"),
    # Basic auth ----------------------------------------------------------------------------------
    auth("no-authorization"),
    auth(
        "wrong-scheme",
        (
            "authorization",
            "Bearer " + base64.b64encode(b"documo:" + OLD_PASSWORD.encode()).decode(),
        ),
    ),
    auth("scheme-only", ("authorization", "Basic")),
    auth("empty-authorization", ("authorization", "")),
    auth("bad-base64", ("authorization", "Basic !!!not~base64!!!")),
    auth(
        "missing-padding",
        ("authorization", basic(b"documo:" + OLD_PASSWORD.encode())[:-1].rstrip("=")),
    ),
    auth("no-colon", ("authorization", basic(b"documo" + OLD_PASSWORD.encode()))),
    auth("not-utf8", ("authorization", basic(b"documo:\xff\xfe" + OLD_PASSWORD.encode()))),
    auth("empty-password", ("authorization", basic(b"documo:"))),
    auth("empty-user", ("authorization", basic(b":" + OLD_PASSWORD.encode()))),
    auth("wrong-password", ("authorization", basic(b"documo:" + OLD_PASSWORD.encode() + b"x"))),
    auth("user-case-changed", ("authorization", basic(b"DOCUMO:" + OLD_PASSWORD.encode()))),
    auth(
        "password-trailing-newline",
        ("authorization", basic(b"documo:" + OLD_PASSWORD.encode() + b"\n")),
    ),
    auth("non-ascii-near-miss", ("authorization", basic("documo:n3w-Passwörd-ñ".encode()))),
    auth("non-ascii-in-header", ("authorization", "Basic ñöñ" + OLD_PASSWORD)),
    auth(
        "latin1-encoded-password",
        ("authorization", basic(b"documo:" + NEW_PASSWORD.encode("latin-1"))),
    ),
    auth(
        "duplicated-authorization",
        ("authorization", basic(b"documo:" + OLD_PASSWORD.encode())),
        ("authorization", basic(b"documo:" + OLD_PASSWORD.encode())),
    ),
    auth("overlong-authorization", ("authorization", "Basic " + "A" * 100_000)),
    auth(
        "proxy-authorization-only",
        ("proxy-authorization", basic(b"documo:" + OLD_PASSWORD.encode())),
    ),
    # Signed URLs ---------------------------------------------------------------------------------
    signed("token-missing", "/hooks/signed/inbound", "", "token_required"),
    signed("token-garbage", "/hooks/signed/inbound", "token=abc.def"),
    signed("token-not-ascii", "/hooks/signed/inbound", "token=%C3%A9" + TOKEN_IN[2:]),
    signed("token-tampered", "/hooks/signed/inbound", "token=" + tampered(TOKEN_IN)),
    signed("token-foreign-key", "/hooks/signed/inbound", "token=" + TOKEN_FOREIGN),
    signed("token-expired", "/hooks/signed/inbound", "token=" + TOKEN_EXPIRED, "token_expired"),
    signed("token-other-event", "/hooks/signed/outbound", "token=" + TOKEN_IN),
    signed("token-other-endpoint", "/hooks/signed/inbound", "token=" + TOKEN_OTHER_ENDPOINT),
    signed("token-replayed-on-other-endpoint", "/hooks/other/inbound", "token=" + TOKEN_IN),
    signed("token-twice", "/hooks/signed/inbound", f"token={TOKEN_IN}&token={TOKEN_IN}"),
    signed("token-under-other-name", "/hooks/signed/inbound", "tok=" + TOKEN_IN, "token_required"),
    signed("token-overlong", "/hooks/signed/inbound", "token=" + "A" * 5000),
    signed("dot-dot-segment", "/hooks/signed/..", "token=" + TOKEN_IN),
    signed("encoded-dot-segment", "/hooks/signed/%2E%2E", "token=" + TOKEN_IN),
    signed(
        "encoded-slash-in-event",
        "/hooks/signed/inbound%2F..%2Fother",
        "token=" + TOKEN_IN,
        "not_found",
        status=404,
    ),
    signed(
        "encoded-slash-traversal",
        "/hooks/signed/x%2F..%2Finbound",
        "token=" + TOKEN_IN,
        "not_found",
        status=404,
    ),
    signed("path-token-garbage", "/hooks/kazoo/not-a-token", ""),
    signed("path-token-tampered", "/hooks/kazoo/" + tampered(TOKEN_PATH), ""),
    signed("path-token-from-query-endpoint", "/hooks/kazoo/" + TOKEN_IN, ""),
    # Standard Webhooks HMAC -------------------------------------------------------------------
    hmac_case("headers-missing", []),
    hmac_case("timestamp-too-old", hmac_headers(ts=int(NOW) - 301)),
    hmac_case("timestamp-too-new", hmac_headers(ts=int(NOW) + 301)),
    hmac_case(
        "timestamp-not-integer",
        [("webhook-id", "msg_1"), ("webhook-timestamp", "1.7e9"), ("webhook-signature", "v1,AAAA")],
    ),
    hmac_case(
        "signature-only-v1a",
        [
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", str(int(NOW))),
            ("webhook-signature", "v1a," + "A" * 88),
        ],
    ),
    hmac_case(
        "signature-garbage",
        [
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", str(int(NOW))),
            ("webhook-signature", "v1,!!!!"),
        ],
    ),
    hmac_case("id-with-dot", hmac_headers(msg_id="msg.1")),
    hmac_case("duplicated-id", [*hmac_headers(), ("webhook-id", "msg_2")]),
    hmac_case("body-tampered", hmac_headers(), body=b'{"id": "evt-2"}'),
    hmac_case("body-other-senders-secret", hmac_headers(guard=OTHER_HMAC)),
]


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_request_is_refused(
    case: Case,
    adapter: Callable[[Receiver, Request], Result],
    seen: Seen,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = build(seen)[case.receiver]

    result = adapter(receiver, case.request)

    assert result.status == case.status
    assert result.json()["error"] == case.error
    assert set(result.json()) == {"error", "detail"}
    assert len(result.body) < 200
    assert seen.calls == []
    if not case.reads_body:
        assert result.body_reads == 0
    if case.status == 401:
        assert result.headers["www-authenticate"] == 'Basic realm="probe", charset="UTF-8"'
    exposed = result.body.decode() + repr(result.headers) + caplog.text
    for secret in [*SECRETS, *case.leaks]:
        assert secret not in exposed
    assert "Traceback" not in caplog.text


ALLOWED = [
    ("xff", Request("/hooks/ip", peer="198.51.100.7"), None),
    ("xff", Request("/hooks/ip", peer="::ffff:198.51.100.7"), None),
    ("xff", Request("/hooks/ip", peer="2001:db8::5"), None),
    ("xff", Request("/hooks/ip", peer=TRUSTED, headers=[(XFF, "203.0.113.9, 198.51.100.7")]), None),
    (
        "xff",
        Request(
            "/hooks/ip",
            peer="fd00::1",
            headers=[(XFF, "198.51.100.7"), (XFF, "10.0.0.9, [::ffff:10.0.0.8]:8080")],
        ),
        None,
    ),
    (
        "fwd",
        Request(
            "/hooks/ip",
            peer=TRUSTED,
            headers=[("Forwarded", 'For="[2001:db8::1]:4711";proto=https, for=10.0.0.7')],
        ),
        None,
    ),
    (
        "xff",
        Request(
            "/hooks/basic", headers=[("authorization", basic(b"documo:" + OLD_PASSWORD.encode()))]
        ),
        None,
    ),
    (
        "xff",
        Request(
            "/hooks/basic",
            headers=[("authorization", "bAsIc  " + basic(b"documo:" + NEW_PASSWORD.encode())[6:])],
        ),
        None,
    ),
    ("xff", Request("/hooks/signed/inbound", query="token=" + TOKEN_IN), {"fax_job": 42}),
    (
        "xff",
        Request("/hooks/kazoo/" + TOKEN_PATH, method="GET", query="id=evt-1&call_id=x", body=b""),
        {},
    ),
    ("xff", Request("/hooks/hmac", headers=hmac_headers()), None),
]


@pytest.mark.parametrize(
    "which, request_, signed", ALLOWED, ids=[str(i) for i in range(len(ALLOWED))]
)
def test_the_same_receivers_accept_genuine_senders(
    which: str,
    request_: Request,
    signed: dict[str, object] | None,
    adapter: Callable[[Receiver, Request], Result],
    seen: Seen,
) -> None:
    result = adapter(build(seen)[which], request_)

    assert result.status == 200, result.body
    assert [(call[1], call[3]) for call in seen.calls] == [("evt-1", signed)]
