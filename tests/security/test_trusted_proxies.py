"""Trusted proxies: right-most untrusted address, hop counts, RFC 7239, failing closed."""

from __future__ import annotations

import pytest

from hookreceiver import ConfigurationError, Delivery, Headers, TrustedProxies
from hookreceiver.security.proxies import forwarded_nodes, node_address

PROXY = "10.0.0.1"


def client(proxies: TrustedProxies, peer: str | None, *headers: tuple[str, str]) -> str | None:
    return proxies.client_address(Delivery("POST", "/", headers=Headers(headers), peer=peer))


def test_untrusted_peer_is_the_client_whatever_it_claims() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    claims = [("X-Forwarded-For", "198.51.100.7"), ("Forwarded", "for=198.51.100.7")]
    assert client(proxies, "203.0.113.5", *claims) == "203.0.113.5"
    assert client(proxies, None, *claims) is None


@pytest.mark.parametrize(
    "chain, expected",
    [
        ("198.51.100.7", "198.51.100.7"),
        ("1.1.1.1, 198.51.100.7", "198.51.100.7"),
        ("1.1.1.1, 198.51.100.7, 10.2.2.2, 10.3.3.3", "198.51.100.7"),
        ("198.51.100.7:5000", "198.51.100.7"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("198.51.100.7, ::ffff:10.0.0.9", "198.51.100.7"),
        ("10.0.0.5, 10.0.0.6", "10.0.0.5"),  # all trusted: the left-most proxy sent it
        ("garbage, 198.51.100.7", "198.51.100.7"),  # left of the client does not matter
        ("198.51.100.7, garbage", None),
        ("198.51.100.7, unknown", None),
        ("198.51.100.7,", None),
        ("198.51.100.7:99999", None),
        ("198.51.100.7:８０", None),
        ("fe80::1%eth0", None),
        ("", None),
    ],
)
def test_right_most_untrusted_address_of_x_forwarded_for(chain: str, expected: str | None) -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    assert client(proxies, PROXY, ("x-forwarded-for", chain)) == expected


def test_duplicated_header_lines_form_one_chain_in_order() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    lines = [("x-forwarded-for", "198.51.100.7"), ("x-forwarded-for", "203.0.113.5, 10.0.0.2")]
    assert client(proxies, PROXY, *lines) == "203.0.113.5"


def test_trusted_peer_without_header_is_the_client() -> None:
    assert client(TrustedProxies(["10.0.0.0/8"]), PROXY) == PROXY


def test_long_trusted_chains_give_no_address() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"], max_entries=4)
    assert client(proxies, PROXY, ("x-forwarded-for", "10.0.0.1, " * 4 + "10.0.0.2")) is None
    assert client(proxies, PROXY, ("x-forwarded-for", "198.51.100.7, " * 5000)) is None
    assert client(proxies, PROXY, ("x-forwarded-for", "1.1.1.1, " * 3 + "10.0.0.2")) == "1.1.1.1"


@pytest.mark.parametrize(
    "hops, chain, expected",
    [
        (1, "1.1.1.1, 198.51.100.7", "198.51.100.7"),
        (2, "1.1.1.1, 198.51.100.7, 203.0.113.9", "198.51.100.7"),
        (2, "198.51.100.7", None),  # fewer entries than proxies: someone skipped one
        (1, "1.1.1.1, garbage", None),
    ],
)
def test_hop_count(hops: int, chain: str, expected: str | None) -> None:
    proxies = TrustedProxies(hops=hops)
    assert client(proxies, "203.0.113.250", ("x-forwarded-for", chain)) == expected
    assert client(proxies, None, ("x-forwarded-for", chain)) == expected  # unix socket peer


def test_hop_count_with_networks_still_gates_on_the_peer() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"], hops=1)
    assert client(proxies, "203.0.113.5", ("x-forwarded-for", "198.51.100.7")) == "203.0.113.5"
    assert client(proxies, PROXY, ("x-forwarded-for", "198.51.100.7")) == "198.51.100.7"


def test_forwarded_header() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"], header="Forwarded")
    value = 'for=1.1.1.1, For="[2001:db8:cafe::17]:4711";proto=https;by=10.0.0.1, for=10.0.0.3'
    assert client(proxies, PROXY, ("forwarded", value)) == "2001:db8:cafe::17"
    assert client(proxies, PROXY, ("x-forwarded-for", "198.51.100.7")) == PROXY  # not read


@pytest.mark.parametrize(
    "value, nodes",
    [
        ("for=192.0.2.60;proto=http;by=203.0.113.43", ["192.0.2.60"]),
        ('for="_gazonk"', ["_gazonk"]),
        ('For="[2001:db8:cafe::17]:4711"', ["[2001:db8:cafe::17]:4711"]),
        ("for=192.0.2.43, for=198.51.100.17", ["192.0.2.43", "198.51.100.17"]),
        (" for = 1.2.3.4", None),  # no whitespace around "="
        ('for="a\\"b"', ['a"b']),
        ('for=1.1.1.1;by="x,for=2.2.2.2"', ["1.1.1.1"]),
        ("proto=https", [None]),
        ("for=1.1.1.1,,for=2.2.2.2", ["1.1.1.1", None, "2.2.2.2"]),
        ("for=1.1.1.1;for=2.2.2.2", None),
        ('for="1.1.1.1', None),
        ("for=1.1.1.1 x", None),
        ("for=", None),
    ],
)
def test_forwarded_parsing(value: str, nodes: list[str | None] | None) -> None:
    assert forwarded_nodes(value) == nodes


@pytest.mark.parametrize(
    "node, expected",
    [
        ("192.0.2.1:80", "192.0.2.1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:80", "2001:db8::1"),
        ("[2001:db8::1]80", None),
        ("2001:db8::1:80", "2001:db8::1:80"),  # a valid IPv6 address, not host:port
        ("unknown", None),
        ("_hidden", None),
        ("192.0.2.1:", None),
    ],
)
def test_node_address(node: str, expected: str | None) -> None:
    address = node_address(node)
    assert (None if address is None else str(address)) == expected


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "networks=, hops="),
        ({"hops": 0}, "hops must be"),
        ({"hops": True}, "hops must be"),
        ({"networks": ["10.0.0.0/8"], "header": "x-real-ip"}, "header must be"),
        ({"networks": ["10.0.0.0/33"]}, "not an IP address"),
    ],
)
def test_configuration_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        TrustedProxies(**kwargs)  # type: ignore[arg-type]


def test_receiver_passes_the_resolved_client_to_handlers() -> None:
    from security_support import Probe, Seen

    from hookreceiver import Receiver

    seen = Seen()
    hooks = seen.attach(Receiver(proxies=TrustedProxies(["10.0.0.0/8"])))
    hooks.endpoint("/hooks/ip", Probe(allow_ips=["198.51.100.0/24"]))
    delivery = Delivery(
        "POST",
        "/hooks/ip",
        headers=Headers(
            [("content-type", "application/json"), ("x-forwarded-for", "198.51.100.7")]
        ),
        peer="::ffff:10.0.0.1",
        body=b'{"id": 1}',
    )
    assert hooks.handle(delivery).status == 200
    assert seen.calls == [("probe.ping", 1, "198.51.100.7", None)]
