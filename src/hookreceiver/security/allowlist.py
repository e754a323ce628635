"""Sender IP allowlists: IPv4 and IPv6 networks, IPv4-mapped IPv6 treated as IPv4.

Addresses are parsed with the standard library's :mod:`ipaddress` and nothing else: no DNS, no
integer or octal forms (``3325256711``, ``010.0.0.1``), no zone ids. Anything that is not a plain
address is "unknown", and an unknown sender is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ..errors import ConfigurationError, NotVerified
from .addresses import IPAddress, NetworkSet, parse_address
from .base import GuardBase, GuardOrder, GuardRequest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..delivery import Headers

__all__ = ["IPAllowlist", "NetworkSet", "parse_address"]

logger = logging.getLogger("hookreceiver")

#: Headers through which proxies (and anyone pretending to be one) name a client.
FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")
_FORWARDING = frozenset(FORWARDING_HEADERS)

#: How many answers an allowlist remembers (by address text) before it starts over.
_ANSWERS_KEPT = 4096


class IPAllowlist(GuardBase):
    """Accept deliveries only from the given addresses and networks (403 otherwise).

    The address checked is :attr:`GuardRequest.client`: the TCP peer, or the address trusted
    proxies report (see :class:`~hookreceiver.security.TrustedProxies`). An address that cannot
    be known or parsed is refused.

    The peer is the one the server reports, and some servers rewrite it from
    ``X-Forwarded-For`` themselves (``uvicorn`` believes it from 127.0.0.1 and ::1 unless
    run with ``--no-proxy-headers``). So the first delivery that carries a forwarding header
    while the receiver trusts no proxies logs a warning naming the fix, once per allowlist,
    and while the receiver trusts no proxies a peer that a forwarding header of its own
    delivery names is refused (403): the server took it from the header, which anyone can
    write, so nothing is trusted by default even under ``uvicorn app:app``. With a proxy in
    front, pass its networks as :class:`~hookreceiver.security.TrustedProxies`.

    Args:
        networks: addresses or CIDR networks, IPv4 or IPv6 (``"69.46.44.0/24"``, ``"::1"``).

    Raises:
        ConfigurationError: the list is empty or an entry is not an address or network.
    """

    order = GuardOrder.ADDRESS

    def __init__(self, networks: Iterable[str]) -> None:
        self._set = NetworkSet(networks)
        self._answers: dict[str, bool] = {}  # address text -> allowed, for repeat senders
        self._warned = False  # about forwarding headers reaching it with no trusted proxies
        if not self._set:
            raise ConfigurationError("an IP allowlist needs at least one address or network")
        self.networks = self._set.networks
        # 0.0.0.0/0 or ::/0 lets every sender of that family through, which is no
        # verification (endpoints then fail closed).
        self.verifies = not any(network.prefixlen == 0 for network in self.networks)

    def allows(self, address: str | None) -> bool:
        """Whether ``address`` is inside one of the networks."""
        if address is None:
            return False
        known = self._answers.get(address)
        if known is None:
            known = parse_address(address) in self._set
            if len(self._answers) >= _ANSWERS_KEPT:  # senders are few; a flood of others is not
                self._answers.clear()
            self._answers[address] = known
        return known

    def check(self, request: GuardRequest) -> None:
        """Refuse senders outside the list with 403, and, while no proxy is trusted, a
        sender address the server took from a forwarding header."""
        if not self.allows(request.client):
            if not self._warned and not request.trusted_proxies:
                self._warn_of_forwarding(request)
            raise NotVerified("sender address is not allowed", error="address_not_allowed")
        if request.trusted_proxies or not request.delivery.headers.has_any(_FORWARDING):
            return
        if not self._warned:
            self._warn_of_forwarding(request)
        if _rewritten(request):
            raise NotVerified(
                "sender address was taken from a forwarding header while no proxy is trusted",
                error="address_not_allowed",
            )

    def _warn_of_forwarding(self, request: GuardRequest) -> None:
        """Warn, once, of forwarding headers reaching an allowlist that trusts no proxy: either
        a proxy or tunnel stands in front unconfigured, or the server believed the header and
        the address checked is whatever the caller claimed."""
        headers = request.delivery.headers
        if not headers.has_any(_FORWARDING):  # every delivery until one has: keep it cheap
            return
        found = [name for name in FORWARDING_HEADERS if headers.get(name) is not None]
        self._warned = True
        rewritten = _rewritten(request)
        client = request.client
        logger.warning(
            "endpoint %s: a delivery came with %s while the receiver trusts no proxies; the "
            "allowlist checks the address the server reports%s. If a proxy or tunnel stands "
            "in front, pass Receiver(proxies=TrustedProxies([...])) and run the server "
            "without its own proxy handling (uvicorn --no-proxy-headers; gunicorn with "
            "uvicorn workers --forwarded-allow-ips=''), or anyone can claim an allowed "
            "address: uvicorn believes X-Forwarded-For from 127.0.0.1 and ::1 by default "
            "(warned once)",
            request.endpoint,
            ", ".join(found),
            f" ({client}), an address the header names: the server took it from there, so "
            "such deliveries are refused"
            if rewritten
            else "",
        )

    def __repr__(self) -> str:
        return f"IPAllowlist({[str(n) for n in self.networks]!r})"


def _rewritten(request: GuardRequest) -> bool:
    """Whether the peer the server reports is one the forwarding headers name: the server
    believed the header (or the sender named itself), so the address proves nothing."""
    client = parse_address(request.client or "")
    return client is not None and client in _named_addresses(request.delivery.headers)


def _named_addresses(headers: Headers) -> set[IPAddress]:
    """Every address the forwarding headers name (whoever wrote them)."""
    from .proxies import forwarded_nodes, node_address  # only when warning

    nodes: list[str | None] = []
    for name in ("x-forwarded-for", "x-real-ip"):
        for value in headers.get_all(name):
            nodes.extend(value.split(","))
    for value in headers.get_all("forwarded"):
        nodes.extend(forwarded_nodes(value) or [])
    found = (node_address(node) for node in nodes if node is not None)
    return {address for address in found if address is not None}
