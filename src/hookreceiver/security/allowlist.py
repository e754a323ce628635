"""Sender IP allowlists: IPv4 and IPv6 networks, IPv4-mapped IPv6 treated as IPv4."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from ..errors import ConfigurationError, NotVerified
from .base import GuardRequest

__all__ = ["IPAllowlist", "parse_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=4096)
def parse_address(value: str) -> IPAddress | None:
    """Parse an address as a server reports it; ``::ffff:a.b.c.d`` becomes ``a.b.c.d``.

    Returns ``None`` for anything that is not a plain address (zone ids such as ``fe80::1%eth0``
    included: a zone names a local interface, never a remote sender).
    """
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if "%" in text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _network(value: str) -> IPNetwork:
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError as exc:
        raise ConfigurationError(f"not an IP address or network: {value!r}") from exc
    if isinstance(network, ipaddress.IPv6Network):
        mapped = network.network_address.ipv4_mapped
        if mapped is not None and network.prefixlen >= 96:
            return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


class IPAllowlist:
    """Accept deliveries only from the given addresses and networks.

    Args:
        networks: addresses or CIDR networks, IPv4 or IPv6 (``"69.46.44.0/24"``, ``"::1"``).
    """

    order = 10
    needs_body = False

    def __init__(self, networks: Iterable[str]) -> None:
        self.networks: tuple[IPNetwork, ...] = tuple(dict.fromkeys(_network(n) for n in networks))
        if not self.networks:
            raise ConfigurationError("an IP allowlist needs at least one address or network")
        self._exact = frozenset(n.network_address for n in self.networks if n.num_addresses == 1)
        self._ranges = tuple(n for n in self.networks if n.num_addresses > 1)

    def allows(self, address: str | None) -> bool:
        """Whether ``address`` is inside one of the networks."""
        if address is None:
            return False
        parsed = parse_address(address)
        if parsed is None:
            return False
        if parsed in self._exact:
            return True
        return any(parsed in network for network in self._ranges)

    def check(self, request: GuardRequest) -> None:
        """Refuse senders outside the list with 403."""
        if not self.allows(request.client):
            raise NotVerified("sender address is not allowed", error="address_not_allowed")

    def check_body(self, request: GuardRequest, body: bytes) -> None:
        """Nothing to check in the body."""

    def __repr__(self) -> str:
        return f"IPAllowlist({[str(n) for n in self.networks]!r})"
