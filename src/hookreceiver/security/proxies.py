"""The sender's address behind reverse proxies: ``X-Forwarded-For`` or RFC 7239 ``Forwarded``.

Anyone can send ``X-Forwarded-For: 69.46.44.10``. The header only means something when a proxy
you run wrote it, and only the part that proxy wrote: each proxy *appends* the address it saw,
so everything left of that is whatever the client claimed. So:

* forwarding headers from a peer that is not a trusted proxy are ignored (the peer is the
  sender);
* the sender is the right-most address that is not a trusted proxy (by network), or the one
  exactly ``hops`` entries from the right (by hop count);
* a chain that cannot be read where it matters (``unknown``, an obfuscated node, a zone id,
  garbage, fewer entries than hops, more than ``max_entries`` trusted ones) gives no address
  at all, and an allowlist refuses a sender with no address.

Nothing is trusted by default: without a :class:`TrustedProxies` the receiver uses the TCP peer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..delivery import Delivery
from ..errors import ConfigurationError
from .addresses import IPAddress, NetworkSet, parse_address

__all__ = ["TrustedProxies"]

_HEADERS = ("x-forwarded-for", "forwarded")

# RFC 7239: forwarded-pair = token "=" value; value = token / quoted-string.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PAIR = re.compile(rf'[ \t]*({_TOKEN})=(?:({_TOKEN})|"((?:[^"\\]|\\.)*)")[ \t]*')
_QUOTED_PAIR = re.compile(r"\\(.)")


def node_address(node: str) -> IPAddress | None:
    """The address of one forwarding node: ``a.b.c.d``, ``[v6]``, either with ``:port``.

    Returns ``None`` for ``unknown``, obfuscated identifiers, zone ids and anything else.
    """
    text = node.strip(" \t")
    address = parse_address(text)
    if address is not None:
        return address
    if text.startswith("["):
        host, separator, port = text.partition("]:")
        host += "]"
    else:
        host, separator, port = text.rpartition(":")
        if ":" in host:  # a bare IPv6 address was tried above; "a:b:c" is no host:port
            return None
    if not separator or not (port.isascii() and port.isdigit()) or int(port[:6]) > 65535:
        return None
    return parse_address(host)


def forwarded_nodes(value: str) -> list[str | None] | None:
    """The ``for=`` node of each element of a ``Forwarded`` header, left to right.

    An element without ``for=`` gives ``None``; a malformed header (bad syntax, an unterminated
    quote, a parameter repeated within one element) gives ``None`` as a whole.
    """
    nodes: list[str | None] = []
    node: str | None = None
    names: set[str] = set()
    position, end = 0, len(value)
    while True:
        pair = _PAIR.match(value, position)
        if pair is not None:
            name = pair.group(1).lower()
            if name in names:
                return None
            names.add(name)
            if name == "for":
                token, quoted = pair.group(2), pair.group(3)
                node = token if token is not None else _QUOTED_PAIR.sub(r"\1", quoted)
            position = pair.end()
        else:
            while position < end and value[position] in " \t":
                position += 1
        if position >= end:
            nodes.append(node)
            return nodes
        separator = value[position]
        position += 1
        if separator == ",":
            nodes.append(node)
            node, names = None, set()
        elif separator != ";":
            return None


class TrustedProxies:
    """Where the sender's address comes from when reverse proxies stand in front of the app.

    Pass it as ``Receiver(proxies=TrustedProxies(...))``.

    Args:
        networks: the proxies' addresses or networks. The forwarding header is read only when
            the TCP peer is one of them; the sender is then the right-most address in the chain
            that is not one of them.
        hops: the number of proxies that append to the header. The sender is the entry exactly
            ``hops`` from the right. Use it when the proxies' addresses are not fixed; the app
            must then be reachable only through them (or pass ``networks`` as well, which then
            only decides whether the peer's header is read).
        header: ``"x-forwarded-for"`` (default) or ``"forwarded"`` (RFC 7239 ``for=``). Only
            this header is read; the other is ignored, whoever sent it.
        max_entries: the most chain entries looked at; a longer trusted chain gives no address.

    Raises:
        ConfigurationError: neither ``networks`` nor ``hops``, a bad network, ``hops < 1``, or
            an unknown header.
    """

    __slots__ = ("networks", "hops", "header", "max_entries", "max_header_length")

    def __init__(
        self,
        networks: Iterable[str] = (),
        *,
        hops: int | None = None,
        header: str = "x-forwarded-for",
        max_entries: int = 32,
    ) -> None:
        trusted = NetworkSet(networks)
        if not trusted and hops is None:
            raise ConfigurationError("trusted proxies need networks=, hops=, or both")
        if hops is not None and (isinstance(hops, bool) or not 1 <= hops <= max_entries):
            raise ConfigurationError(f"hops must be between 1 and max_entries ({max_entries})")
        header = header.lower()
        if header not in _HEADERS:
            raise ConfigurationError(f"header must be one of {_HEADERS}, not {header!r}")
        self.networks: NetworkSet | None = trusted or None
        self.hops = hops
        self.header = header
        self.max_entries = max_entries
        # Each entry is at most ~60 characters; a header far longer than the entries we may
        # look at is refused outright rather than parsed.
        self.max_header_length = 64 * max_entries + 1024

    def client_address(self, delivery: Delivery) -> str | None:
        """The sender's address, or ``None`` when the forwarding chain cannot be trusted."""
        peer = delivery.peer
        if self.networks is not None and (peer is None or parse_address(peer) not in self.networks):
            return peer  # not our proxy: its forwarding headers are the client's claims
        values = delivery.headers.get_all(self.header)
        if not values:
            return peer  # the proxy itself (health checks), or one that does not forward
        chain = self._chain(", ".join(values))
        if chain is None:
            return None
        address = self._by_hops(chain) if self.hops is not None else self._by_networks(chain)
        return None if address is None else str(address)

    def _chain(self, value: str) -> list[str | None] | None:
        """Up to ``max_entries`` + 1 nodes, right-most first; ``None`` if unreadable."""
        if len(value) > self.max_header_length:
            return None
        if self.header == "forwarded":
            nodes = forwarded_nodes(value)
            if nodes is None:
                return None
            return nodes[::-1][: self.max_entries + 1]
        entries: list[str | None] = list(value.rsplit(",", self.max_entries))
        return entries[::-1]

    def _by_hops(self, chain: list[str | None]) -> IPAddress | None:
        assert self.hops is not None
        if len(chain) < self.hops:
            return None
        node = chain[self.hops - 1]
        return None if node is None else node_address(node)

    def _by_networks(self, chain: list[str | None]) -> IPAddress | None:
        assert self.networks is not None
        address: IPAddress | None = None
        for node in chain[: self.max_entries]:
            address = None if node is None else node_address(node)
            if address is None or address not in self.networks:
                return address
        if len(chain) > self.max_entries:
            return None  # every entry we may look at is a proxy: we cannot know the sender
        return address  # the whole chain is trusted: the left-most proxy sent it

    def __repr__(self) -> str:
        networks = [str(n) for n in self.networks.networks] if self.networks else []
        return f"TrustedProxies({networks!r}, hops={self.hops!r}, header={self.header!r})"
