"""IP allowlists: parsing, IPv4-mapped IPv6, networks of both versions, configuration errors."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable

import pytest
from security_support import Probe, Request, Result, Seen

from hookreceiver import ConfigurationError, Receiver, TrustedProxies
from hookreceiver.security import IPAllowlist, NetworkSet, parse_address


@pytest.mark.parametrize(
    "text, expected",
    [
        ("198.51.100.7", "198.51.100.7"),
        (" 198.51.100.7\t", "198.51.100.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("::ffff:c633:6407", "198.51.100.7"),
        ("[::ffff:198.51.100.7]", "198.51.100.7"),
        ("::1", "::1"),
    ],
)
def test_parse_address_accepts_plain_addresses(text: str, expected: str) -> None:
    assert parse_address(text) == ipaddress.ip_address(expected)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "unknown",
        "fe80::1%eth0",
        "[fe80::1%25eth0]",
        "198.051.100.7",
        "3325256711",
        "198.51.100",
        "１９８.51.100.7",
        "198.51.100.7:80",
        "198.51.100.0/24",
        "example.com",
        "1" * 100,
        "::ffff:" + "1" * 70,
    ],
)
def test_parse_address_refuses_anything_else(text: str) -> None:
    assert parse_address(text) is None


def test_allowlist_checks_both_versions_and_mapped_peers() -> None:
    allowlist = IPAllowlist(["198.51.100.0/24", "2001:db8::/32", "192.0.2.1"])
    assert allowlist.allows("198.51.100.200")
    assert allowlist.allows("::ffff:198.51.100.200")
    assert allowlist.allows("2001:db8:ffff::1")
    assert allowlist.allows("192.0.2.1")
    assert not allowlist.allows("192.0.2.2")
    assert not allowlist.allows("2001:db9::1")
    assert not allowlist.allows(None)
    assert not allowlist.allows("garbage")


def test_mapped_networks_in_configuration_mean_ipv4() -> None:
    allowlist = IPAllowlist(["::ffff:10.0.0.0/104"])
    assert allowlist.networks == (ipaddress.ip_network("10.0.0.0/8"),)
    assert allowlist.allows("10.1.2.3")
    assert allowlist.allows("::ffff:10.1.2.3")


def test_ipv6_wide_network_does_not_swallow_ipv4() -> None:
    assert not IPAllowlist(["::/0"]).allows("198.51.100.7")


def test_preset_and_user_networks_merge_without_duplicates() -> None:
    networks = NetworkSet(["198.51.100.7", "198.51.100.7/32", "2001:db8::/32"])
    assert len(networks.networks) == 2
    assert ipaddress.ip_address("198.51.100.7") in networks
    assert "198.51.100.7" not in networks  # a string is not an address


@pytest.mark.parametrize(
    "networks, message",
    [
        ([], "at least one"),
        (["not-a-network"], "not an IP address"),
        (["fe80::/64%eth0"], "zone id"),
        ("198.51.100.7", "not one string"),
    ],
)
def test_bad_configuration_is_refused(networks: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        IPAllowlist(networks)  # type: ignore[arg-type]


def test_allowlist_remembers_answers_and_starts_over_when_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hookreceiver.security import allowlist as module

    monkeypatch.setattr(module, "_ANSWERS_KEPT", 3)
    allow = IPAllowlist(["198.51.100.0/24", "2001:db8::/32"])
    for _ in range(2):  # the second round answers from memory, and must answer the same
        assert allow.allows("198.51.100.7")
        assert allow.allows("::ffff:198.51.100.7")
        assert not allow.allows("203.0.113.1")
    assert len(allow._answers) == 3
    assert allow.allows("2001:db8::1")  # a fourth sender: memory starts over, answers stay right
    assert len(allow._answers) == 1
    assert not allow.allows("fe80::1%eth0")
    assert not allow.allows(None)


def _forwarding_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "trusts no proxies" in r.getMessage()]


def test_forwarding_headers_without_trusted_proxies_warn_once_per_allowlist(
    adapter: Callable[[Receiver, Request], Result], caplog: pytest.LogCaptureFixture
) -> None:
    hooks = Receiver()
    hooks.endpoint("/a", Probe(allow_ips=["198.51.100.7"]))
    hooks.endpoint("/b", Probe(allow_ips=["198.51.100.7"]))
    plain = Request("/a", peer="198.51.100.7")
    spoof = Request("/a", peer="127.0.0.1", headers=[("x-forwarded-for", "198.51.100.7")])
    with caplog.at_level(logging.WARNING, logger="hookreceiver"):
        assert adapter(hooks, plain).status == 200
        assert _forwarding_warnings(caplog) == []  # no header, nothing to say
        assert adapter(hooks, spoof).status == 403
        assert adapter(hooks, spoof).status == 403
        b = Request("/b", peer="127.0.0.1", headers=[("forwarded", "for=198.51.100.7")])
        assert adapter(hooks, b).status == 403
    warned = _forwarding_warnings(caplog)
    assert len(warned) == 2
    assert "endpoint /a: a delivery came with x-forwarded-for" in warned[0]
    assert "endpoint /b: a delivery came with forwarded" in warned[1]
    assert all("server took it" not in w for w in warned)


@pytest.mark.parametrize(
    "header, value",
    [
        ("x-forwarded-for", "203.0.113.1, 198.51.100.7"),
        ("forwarded", 'for="198.51.100.7:4711"'),
        ("x-real-ip", "198.51.100.7"),
    ],
)
def test_a_peer_the_header_names_is_told_as_rewritten_by_the_server(
    adapter: Callable[[Receiver, Request], Result],
    caplog: pytest.LogCaptureFixture,
    header: str,
    value: str,
) -> None:
    # What `uvicorn app:app` does: the peer handed over is the header's claim. Nothing is
    # trusted by default, so the claim is refused and no handler runs (issue 13, item 3).
    hooks = Receiver()
    hooks.endpoint("/a", Probe(allow_ips=["198.51.100.7"]))
    seen = Seen()
    seen.attach(hooks)
    with caplog.at_level(logging.WARNING, logger="hookreceiver"):
        result = adapter(hooks, Request("/a", peer="198.51.100.7", headers=[(header, value)]))
        again = adapter(hooks, Request("/a", peer="198.51.100.7", headers=[(header, value)]))
    assert (result.status, result.json()["error"]) == (403, "address_not_allowed")
    assert again.status == 403
    assert seen.calls == []
    (warned,) = _forwarding_warnings(caplog)
    assert "(198.51.100.7), an address the header names: the server took it" in warned
    assert "refused" in warned


def test_a_forwarding_header_naming_others_leaves_a_true_peer_allowed(
    adapter: Callable[[Receiver, Request], Result],
) -> None:
    # A sender behind no rewriting server whose delivery carries a header naming someone
    # else: its own (allowed) address is the peer, and it is not refused for the header.
    hooks = Receiver()
    hooks.endpoint("/a", Probe(allow_ips=["198.51.100.7"]))
    headers = [("x-forwarded-for", "203.0.113.1"), ("forwarded", "for=203.0.113.2")]
    assert adapter(hooks, Request("/a", peer="198.51.100.7", headers=headers)).status == 200
    assert adapter(hooks, Request("/a", peer="198.51.100.7")).status == 200


def test_no_warning_when_proxies_are_trusted(
    adapter: Callable[[Receiver, Request], Result], caplog: pytest.LogCaptureFixture
) -> None:
    hooks = Receiver(proxies=TrustedProxies(["127.0.0.1"]))
    hooks.endpoint("/a", Probe(allow_ips=["198.51.100.7"]))
    request = Request("/a", peer="127.0.0.1", headers=[("x-forwarded-for", "198.51.100.7")])
    with caplog.at_level(logging.WARNING, logger="hookreceiver"):
        assert adapter(hooks, request).status == 200
    assert _forwarding_warnings(caplog) == []


def test_headers_has_any_finds_names_raw_and_decoded() -> None:
    from hookreceiver import Headers

    names = frozenset({"x-forwarded-for", "forwarded"})
    raw = [(b"host", b"h"), (b"forwarded", b"for=1.2.3.4")]
    assert Headers.from_raw(raw).has_any(names)
    assert Headers([("Host", "h"), ("X-Forwarded-For", "1.2.3.4")]).has_any(names)
    assert not Headers.from_raw([(b"host", b"h")]).has_any(names)
    assert not Headers([("x-real-ip", "1.2.3.4")]).has_any(names)
