"""One module per provider, over a shared :class:`~hookreceiver.providers.base.Provider`.

Providers: :class:`Documo`, :class:`FaxPlus`, :class:`Updox`, :class:`Wirecloud` (alias
:data:`Kazoo`) and :class:`Zipwhip`. Each module (``providers.documo`` ...) also holds the typed
models of its events. :mod:`~hookreceiver.providers.normalized` holds the cross-provider views
(:class:`FaxEvent`, :class:`MessageEvent`, :class:`CallEvent`). Every provider, built in or not,
is found by name in :mod:`~hookreceiver.providers.registry` (:func:`provider_class`,
:func:`provider_names`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Provider
    from .documo import Documo
    from .faxplus import FaxPlus
    from .normalized import CallEvent, FaxEvent, MessageEvent
    from .registry import provider_class, provider_names
    from .updox import Updox
    from .wirecloud import Kazoo, Wirecloud
    from .zipwhip import Zipwhip

# Importing a provider module builds its pydantic models (tens of milliseconds for some), so each
# is imported on first use: ``import hookreceiver`` stays cheap and an app pays only for the
# providers it serves (bench/ measures the import). The base class too: the registry lists the
# providers' names (``hookreceiver events``) without loading pydantic.
_LAZY = {
    "CallEvent": "normalized",
    "Documo": "documo",
    "FaxEvent": "normalized",
    "FaxPlus": "faxplus",
    "Kazoo": "wirecloud",
    "MessageEvent": "normalized",
    "Provider": "base",
    "Updox": "updox",
    "Wirecloud": "wirecloud",
    "Zipwhip": "zipwhip",
    "provider_class": "registry",
    "provider_names": "registry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value
    if not name.startswith("_"):  # a provider module: providers.documo.FaxInbound
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "CallEvent",
    "Documo",
    "FaxEvent",
    "FaxPlus",
    "Kazoo",
    "MessageEvent",
    "Provider",
    "Updox",
    "Wirecloud",
    "Zipwhip",
    "provider_class",
    "provider_names",
]
