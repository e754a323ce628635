"""One module of delivery factories per provider, and a look-up by name for tools.

``documo.fax_inbound(pages=3)`` builds the multipart delivery Documo would send;
``make("documo", "fax.inbound", pages=3)`` does the same from names (the CLI uses it).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from . import documo, faxplus, updox, wirecloud, zipwhip
from ._base import SimulatedDelivery, seed

__all__ = [
    "PROVIDERS",
    "SimulatedDelivery",
    "UnknownName",
    "documo",
    "factory",
    "faxplus",
    "make",
    "provider_module",
    "seed",
    "updox",
    "wirecloud",
    "zipwhip",
]

#: The factory module of each provider, by provider name.
PROVIDERS: dict[str, ModuleType] = {
    "documo": documo,
    "faxplus": faxplus,
    "updox": updox,
    "wirecloud": wirecloud,
    "zipwhip": zipwhip,
}

_ALIASES = {"kazoo": "wirecloud", "fax.plus": "faxplus", "fax_plus": "faxplus"}


class UnknownName(LookupError):
    """A provider or event name that no factory has; the message lists the known ones."""


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"{hint} Known: {', '.join(known)}."


def provider_module(provider: str) -> ModuleType:
    """The factory module of ``provider`` (``kazoo`` is accepted for ``wirecloud``).

    Raises:
        UnknownName: no such provider; the message names the known ones.
    """
    key = _ALIASES.get(provider.lower(), provider.lower())
    module = PROVIDERS.get(key)
    if module is None:
        raise UnknownName(f"unknown provider {provider!r}." + _suggest(key, sorted(PROVIDERS)))
    return module


def factory(provider: str, event: str) -> Callable[..., SimulatedDelivery]:
    """The factory for ``provider``'s ``event`` (``"documo"``, ``"fax.inbound"``).

    The event may carry the provider prefix (``"documo.fax.inbound"``); ``kazoo`` is accepted
    for ``wirecloud``.

    Raises:
        UnknownName: no such provider or event; the message names the known ones.
    """
    module = provider_module(provider)
    key = module.__name__.rsplit(".", 1)[1]
    events: dict[str, Callable[..., SimulatedDelivery]] = module.EVENTS
    short = event.removeprefix(f"{key}.")
    aliases: dict[str, str] = getattr(module, "ALIASES", {})
    short = aliases.get(short, aliases.get(short.replace(" ", "_"), short))
    found = events.get(short)
    if found is None:
        raise UnknownName(f"unknown {key} event {event!r}." + _suggest(short, list(events)))
    return found


def make(provider: str, event: str, **kwargs: Any) -> SimulatedDelivery:
    """Build ``provider``'s ``event`` with ``kwargs`` (see :func:`factory`)."""
    return factory(provider, event)(**kwargs)
