"""Signed callback URLs: what a token covers, rotation, expiry, context reaching handlers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from security_support import URL_KEYS, Clock, Probe, Request, Result, Seen

from hookreceiver import ConfigurationError, NotVerified, Receiver, URLSigner
from hookreceiver.security.signed_urls import check_base_url, query_value

TEMPLATE = "/hooks/updox/{event}"


def receiver_with(signer: URLSigner, seen: Seen, **options: str) -> Receiver:
    hooks = seen.attach(Receiver(public_base_url="https://hooks.example.com/", **options))
    hooks.endpoint(TEMPLATE, Probe(signed_urls=signer))
    hooks.endpoint("/hooks/kazoo/{token}", Probe(signed_urls=signer))
    hooks.endpoint("/hooks/plain", Probe(allow_ips=["192.0.2.1"]))
    return hooks


def as_request(url: str, method: str = "POST") -> Request:
    parts = urlsplit(url)
    return Request(parts.path, method=method, query=parts.query)


def test_callback_url_round_trip_carries_the_context_to_the_handler(
    adapter: Callable[[Receiver, Request], Result], seen: Seen, clock: Clock
) -> None:
    hooks = receiver_with(URLSigner(URL_KEYS, clock=clock), seen)
    url = hooks.callback_url(TEMPLATE, event="outbound_fax", context={"fax_job": 42})

    assert url.startswith("https://hooks.example.com/hooks/updox/outbound_fax?token=")
    result = adapter(hooks, as_request(url))

    assert result.status == 200
    assert seen.calls == [("probe.outbound_fax", "evt-1", "203.0.113.50", {"fax_job": 42})]


def test_the_token_is_valid_for_every_retry_of_the_sender(
    adapter: Callable[[Receiver, Request], Result], seen: Seen, clock: Clock
) -> None:
    hooks = receiver_with(URLSigner(URL_KEYS, clock=clock), seen)
    url = hooks.callback_url(TEMPLATE, event="outbound_fax")
    first = adapter(hooks, as_request(url))
    again = adapter(hooks, as_request(url))  # the provider retries: same event, dedup'd
    other = as_request(url)
    other.body = b'{"id": "evt-2"}'  # a later event on the same per-fax URL
    third = adapter(hooks, other)
    assert (first.status, again.status, third.status) == (200, 200, 200)
    assert [call[1] for call in seen.calls] == ["evt-1", "evt-2"]
    assert seen.calls[0][3] == {}


def test_token_in_a_path_segment_survives_kazoo_appending_a_query(
    adapter: Callable[[Receiver, Request], Result], seen: Seen, clock: Clock
) -> None:
    hooks = receiver_with(URLSigner(URL_KEYS, clock=clock), seen)
    url = hooks.callback_url("/hooks/kazoo/{token}", context={"account": "a1"})
    assert "?" not in url
    request = Request(urlsplit(url).path, method="GET", query="id=evt-9&hook_event=x", body=b"")
    result = adapter(hooks, request)
    assert result.status == 200
    assert seen.calls == [("probe.ping", "evt-9", "203.0.113.50", {"account": "a1"})]


def test_expiry_follows_the_injected_clock(clock: Clock, seen: Seen) -> None:
    signer = URLSigner(URL_KEYS, clock=clock, expires_in=3600)
    hooks = receiver_with(signer, seen)
    long_lived = hooks.callback_url(TEMPLATE, event="e")
    short = hooks.callback_url(TEMPLATE, event="e", expires_in=60)
    token = parse_qs(urlsplit(short).query)["token"][0]
    long_token = parse_qs(urlsplit(long_lived).query)["token"][0]

    clock.now += 59
    assert signer.verify(TEMPLATE, {"event": "e"}, token) == {}
    clock.now += 1
    with pytest.raises(NotVerified, match="expired") as expired:
        signer.verify(TEMPLATE, {"event": "e"}, token)
    assert expired.value.error == "token_expired"
    assert signer.verify(TEMPLATE, {"event": "e"}, long_token) == {}
    clock.now += 3600
    with pytest.raises(NotVerified, match="expired"):
        signer.verify(TEMPLATE, {"event": "e"}, long_token)


def test_key_rotation_newest_first(clock: Clock) -> None:
    old_only = URLSigner(URL_KEYS[1], clock=clock)
    rotated = URLSigner(URL_KEYS, clock=clock)
    new_only = URLSigner(URL_KEYS[0], clock=clock)
    old_token = old_only.sign(TEMPLATE, {"event": "e"})
    new_token = rotated.sign(TEMPLATE, {"event": "e"})

    assert rotated.verify(TEMPLATE, {"event": "e"}, old_token) == {}
    assert new_only.verify(TEMPLATE, {"event": "e"}, new_token) == {}  # signed with the first
    with pytest.raises(NotVerified):
        new_only.verify(TEMPLATE, {"event": "e"}, old_token)  # the old key was dropped


def test_a_token_covers_endpoint_and_every_placeholder(clock: Clock) -> None:
    signer = URLSigner(URL_KEYS, clock=clock)
    template = "/hooks/{account}/{event}"
    token = signer.sign(template, {"account": "a1", "event": "fax"})
    assert signer.verify(template, {"event": "fax", "account": "a1"}, token) == {}
    for params in ({"account": "a2", "event": "fax"}, {"account": "a1"}, {}):
        with pytest.raises(NotVerified, match="another endpoint or event"):
            signer.verify(template, params, token)
    with pytest.raises(NotVerified, match="invalid"):
        signer.verify("/hooks/{account}/{kind}", {"account": "a1", "kind": "fax"}, token)


def test_configurable_parameter_name(
    adapter: Callable[[Receiver, Request], Result], seen: Seen, clock: Clock
) -> None:
    hooks = receiver_with(URLSigner(URL_KEYS, clock=clock, param="sig"), seen)
    url = hooks.callback_url(TEMPLATE, event="e")
    assert "?sig=" in url
    assert adapter(hooks, as_request(url)).status == 200
    wrong = as_request(url.replace("?sig=", "?token="))
    assert adapter(hooks, wrong).json()["error"] == "token_required"


def test_base_url_behind_a_proxy_and_override(seen: Seen, clock: Clock) -> None:
    hooks = receiver_with(URLSigner(URL_KEYS, clock=clock), seen)
    url = hooks.callback_url(TEMPLATE, event="e", base_url="https://edge.example.org/prefix/")
    assert url.startswith("https://edge.example.org/prefix/hooks/updox/e?token=")
    bare = Receiver()
    bare.endpoint(TEMPLATE, Probe(signed_urls=URLSigner(URL_KEYS)))
    with pytest.raises(ConfigurationError, match="public_base_url"):
        bare.callback_url(TEMPLATE, event="e")


def test_query_token_may_be_percent_encoded(clock: Clock) -> None:
    signer = URLSigner(URL_KEYS, clock=clock)
    token = signer.sign(TEMPLATE, {"event": "e"})
    encoded = "".join(f"%{ord(c):02X}" for c in token)
    assert query_value(f"a=1&token={encoded}&b=2", "token") == token
    assert query_value("a=1", "token") is None
    assert query_value("xtoken=1", "token") is None
    with pytest.raises(NotVerified, match="more than one"):
        query_value("token=a&%74oken=b", "token")


def test_endpoint_values_are_encoded_and_checked(seen: Seen, clock: Clock) -> None:
    hooks = receiver_with(URLSigner(URL_KEYS, clock=clock), seen)
    assert "/hooks/updox/a%20b%3F?" in hooks.callback_url(TEMPLATE, event="a b?")
    for bad in ("a/b", "..", ".", ""):
        with pytest.raises(ValueError, match="single path segment"):
            hooks.callback_url(TEMPLATE, event=bad)
    with pytest.raises(ValueError, match="needs values"):
        hooks.callback_url(TEMPLATE)
    with pytest.raises(ValueError, match="needs values"):
        hooks.callback_url(TEMPLATE, params={"event": "e", "extra": "x"})
    with pytest.raises(ValueError, match="token's name"):
        hooks.callback_url("/hooks/kazoo/{token}", params={"token": "x"})
    with pytest.raises(ValueError, match="JSON"):
        hooks.callback_url(TEMPLATE, event="e", context={"when": object()})
    with pytest.raises(ConfigurationError, match="no signed URLs"):
        hooks.callback_url("/hooks/plain")
    with pytest.raises(ConfigurationError, match="no endpoint"):
        hooks.callback_url("/hooks/nowhere")


def test_callback_url_accepts_the_endpoint_object(seen: Seen, clock: Clock) -> None:
    hooks = seen.attach(Receiver(public_base_url="http://127.0.0.1:8000"))
    endpoint = hooks.endpoint("/cb", Probe(signed_urls=URLSigner(URL_KEYS, clock=clock)))
    assert hooks.callback_url(endpoint).startswith("http://127.0.0.1:8000/cb?token=")


def test_from_environment_and_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPDOX_URL_KEYS", ",".join(URL_KEYS))
    signer = URLSigner.from_env("UPDOX_URL_KEYS", param="t")
    assert signer.param == "t"
    assert URLSigner(URL_KEYS[0]).verify("/x", {}, signer.sign("/x")) == {}
    assert all(key not in repr(signer) for key in URL_KEYS)


@pytest.mark.parametrize(
    "keys, options, message",
    [
        ([], {}, "at least one key"),
        (["short"], {}, "at least 16 bytes"),
        (URL_KEYS, {"param": "to-ken"}, "identifier"),
        (URL_KEYS, {"expires_in": 0}, "positive"),
    ],
)
def test_configuration_errors(keys: list[str], options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        URLSigner(keys, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url", ["hooks.example.com", "ftp://x", "https://x/?a=1", "https://x/#f", "https://"]
)
def test_base_url_must_be_absolute_http(url: str) -> None:
    with pytest.raises(ConfigurationError):
        check_base_url(url)
    with pytest.raises(ConfigurationError):
        Receiver(public_base_url=url)


def test_a_signer_whose_urls_never_expire_says_so_at_start_up(
    caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    with caplog.at_level(logging.WARNING, logger="hookreceiver"):
        never = URLSigner(URL_KEYS, clock=clock)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "never expire" in warned[0] and "expires_in" in warned[0]
    assert all(key not in caplog.text for key in URL_KEYS)
    assert never.expires_in is None
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hookreceiver"):
        chosen = URLSigner(URL_KEYS, clock=clock, expires_in=None)  # chosen knowingly
        dated = URLSigner(URL_KEYS, clock=clock, expires_in=3600)
    assert caplog.records == []
    assert chosen.expires_in is None and dated.expires_in == 3600
    token = dated.sign("/x")
    clock.now += 3600
    with pytest.raises(NotVerified, match="expired"):
        dated.verify("/x", {}, token)
