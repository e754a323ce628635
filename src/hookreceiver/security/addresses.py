"""IP addresses and networks as senders are compared: IPv4-mapped IPv6 treated as IPv4.

Parsed with the standard library's :mod:`ipaddress` and nothing else (see
:mod:`~hookreceiver.security.allowlist`). Its own module so that the allowlist and the trusted
proxies (which reads forwarding headers the allowlist also looks at) both build on it without
importing each other.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from ..errors import ConfigurationError

__all__ = ["IPAddress", "IPNetwork", "NetworkSet", "parse_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The longest textual IPv6 address ("[" + 45 characters + "]") is 47 characters; anything much
# longer is not an address and must not fill the parse cache.
_MAX_ADDRESS_LENGTH = 64


def parse_address(value: str) -> IPAddress | None:
    """Parse an address as a server reports it; ``::ffff:a.b.c.d`` becomes ``a.b.c.d``.

    Brackets around IPv6 (``[2001:db8::1]``) are accepted. Returns ``None`` for anything that is
    not a plain address, zone ids such as ``fe80::1%eth0`` included: a zone names an interface
    of the host that reports it, never a remote sender.
    """
    if len(value) > _MAX_ADDRESS_LENGTH:
        return None
    return _parse_address(value)


@lru_cache(maxsize=4096)
def _parse_address(value: str) -> IPAddress | None:
    text = value.strip(" \t")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if "%" in text or not text.isascii():
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _network(value: str) -> IPNetwork:
    text = value.strip()
    if "%" in text:
        raise ConfigurationError(f"IP networks must not carry a zone id: {value!r}")
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise ConfigurationError(f"not an IP address or network: {value!r}") from exc
    if isinstance(network, ipaddress.IPv6Network):
        # "::ffff:10.0.0.0/104" means the IPv4 network 10.0.0.0/8: senders are compared as IPv4.
        mapped = network.network_address.ipv4_mapped
        if mapped is not None and network.prefixlen >= 96:
            return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


class NetworkSet:
    """An immutable set of IPv4 and IPv6 networks with fast membership tests.

    Single addresses are looked up in a frozenset; ranges are scanned, split by IP version.

    Args:
        networks: addresses or CIDR networks (``"69.46.44.0/24"``, ``"2001:db8::/32"``).

    Raises:
        ConfigurationError: an entry is not an address or network.
    """

    __slots__ = ("networks", "_exact", "_v4", "_v6")

    def __init__(self, networks: Iterable[str]) -> None:
        if isinstance(networks, str):
            raise ConfigurationError("pass a list of networks, not one string")
        self.networks: tuple[IPNetwork, ...] = tuple(dict.fromkeys(_network(n) for n in networks))
        self._exact = frozenset(n.network_address for n in self.networks if n.num_addresses == 1)
        ranges = [n for n in self.networks if n.num_addresses > 1]
        self._v4 = tuple(n for n in ranges if n.version == 4)
        self._v6 = tuple(n for n in ranges if n.version == 6)

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            return False
        if address in self._exact:
            return True
        ranges: tuple[IPNetwork, ...] = self._v4 if address.version == 4 else self._v6
        return any(address in network for network in ranges)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __repr__(self) -> str:
        return f"NetworkSet({[str(n) for n in self.networks]!r})"
