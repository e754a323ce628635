"""One module of delivery factories per provider, and a look-up by name for tools.

``documo.fax_inbound(pages=3)`` builds the multipart delivery Documo would send;
``make("documo", "fax.inbound", pages=3)`` does the same from names (the CLI uses it).

A provider's factory module is found from the one registry of providers
(:mod:`hookreceiver.providers.registry`): ``hookreceiver.testing.factories.<name>`` for a
built-in one, or a module elsewhere that calls :func:`register` (or is announced under the
``hookreceiver.factories`` entry point group). A factory module declares:

- ``PROVIDER`` (the provider's name), ``EVENTS`` (each event's factory, by its name after
  ``<provider>.``) and ``DEFAULT_PATH``; optionally ``ALIASES`` (other names of its events)
  and ``PROVIDER_ALIASES`` (other names of the provider: ``kazoo``);
- optionally ``retry_schedule()``: how the provider retries (see
  :class:`~hookreceiver.testing.schedules.RetrySchedule`; one attempt when absent), which
  :func:`~hookreceiver.testing.replay` follows;
- optionally ``DEMO_VARIANTS`` (events ``hookreceiver demo`` sends with chosen keywords, and
  the case it shows) and ``NAMED_BY_URL`` (events whose body does not name them).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ._base import SimulatedDelivery, seed

if TYPE_CHECKING:
    from . import documo, faxplus, updox, wirecloud, zipwhip

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROVIDERS",
    "SimulatedDelivery",
    "UnknownName",
    "documo",
    "factory",
    "faxplus",
    "make",
    "provider_module",
    "register",
    "seed",
    "updox",
    "wirecloud",
    "zipwhip",
]

#: The entry point group under which a package announces factory modules (name -> module).
ENTRY_POINT_GROUP = "hookreceiver.factories"

# Factory modules outside this package, registered by themselves, by provider name.
_registered: dict[str, ModuleType] = {}


class UnknownName(LookupError):
    """A provider or event name that no factory has; the message lists the known ones."""


def register(module: ModuleType | str) -> ModuleType:
    """Register the factory module of a provider that is not built in: call
    ``register(__name__)`` at the end of the module (it declares ``PROVIDER`` and ``EVENTS``).

    Returns:
        the module, now found by :func:`provider_module` and :func:`make` under its name.
    """
    if isinstance(module, str):
        import sys

        module = sys.modules[module]
    _registered[module.PROVIDER] = module
    return module


def _announced() -> dict[str, Any]:
    """The factory modules announced by installed packages (read once per process)."""
    from ...providers.registry import announced

    return announced(ENTRY_POINT_GROUP)


def _load(name: str) -> ModuleType | None:
    """The factory module of the provider called exactly ``name``, or ``None``."""
    found = _registered.get(name)
    if found is not None:
        return found
    if name.isidentifier() and not name.startswith("_"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    point = _announced().get(name)
    return None if point is None else register(point.load())


def _names() -> list[str]:
    """Every provider name that has a factory module, sorted (importing none of them)."""
    from ...providers.registry import provider_names

    names = {*provider_names(), *_registered, *_announced()}
    return sorted(name for name in names if _has_module(name))


def _has_module(name: str) -> bool:
    if name in _registered or name in _announced():
        return True
    if not name.isidentifier() or name.startswith("_"):
        return False
    return importlib.util.find_spec(f"{__name__}.{name}") is not None


class _Providers(Mapping[str, ModuleType]):
    """The factory module of each provider, by provider name: a live view of the registry, so
    a provider registered later is listed too. Modules are imported when looked up."""

    def __getitem__(self, name: str) -> ModuleType:
        module = _load(name)
        if module is None:
            raise KeyError(name)
        return module

    def __iter__(self) -> Iterator[str]:
        return iter(_names())

    def __len__(self) -> int:
        return len(_names())

    def __repr__(self) -> str:
        return f"PROVIDERS({', '.join(self)})"


#: The factory module of each provider, by provider name.
PROVIDERS: Mapping[str, ModuleType] = _Providers()


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"{hint} Known: {', '.join(known)}."


def provider_module(provider: str) -> ModuleType:
    """The factory module of ``provider`` (``kazoo`` is accepted for ``wirecloud``: a module's
    ``PROVIDER_ALIASES``).

    Raises:
        UnknownName: no such provider; the message names the known ones.
    """
    key = provider.lower()
    module = _load(key)
    if module is not None:
        return module
    known = _names()
    for name in known:
        module = _load(name)
        if module is not None and key in getattr(module, "PROVIDER_ALIASES", ()):
            return module
    raise UnknownName(f"unknown provider {provider!r}." + _suggest(key, known))


def factory(provider: str, event: str) -> Callable[..., SimulatedDelivery]:
    """The factory for ``provider``'s ``event`` (``"documo"``, ``"fax.inbound"``).

    The event may carry the provider prefix (``"documo.fax.inbound"``); ``kazoo`` is accepted
    for ``wirecloud``.

    Raises:
        UnknownName: no such provider or event; the message names the known ones.
    """
    module = provider_module(provider)
    key: str = module.PROVIDER
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


def __getattr__(name: str) -> Any:
    # ``factories.documo``: a built-in provider's module, imported on first use.
    module = _load(name) if not name.startswith("_") else None
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return module
