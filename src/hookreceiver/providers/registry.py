"""The one registry of providers: every :class:`~hookreceiver.providers.Provider` by its name.

A provider registers itself: defining a subclass that sets its own ``name`` adds it here (see
``Provider.__init_subclass__``), whether it lives in this package, in an app or in a
third-party package. Nothing is imported to list names: the built-in providers are known by
their module names (``providers.<name>``, imported on first look-up), and a package can
announce its providers under the ``hookreceiver.providers`` entry point group
(``toy = "toy_pkg.provider:Toy"``), loaded only when that name is looked up. The testing kit
finds each provider's factories, retry schedule and demo rows from these names.
"""

from __future__ import annotations

import functools
import importlib

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: this module is imported with the base class
if TYPE_CHECKING:
    from typing import Any

    from .base import Provider

__all__ = ["ENTRY_POINT_GROUP", "UnknownProvider", "provider_class", "provider_names"]

#: The entry point group under which a package announces its providers (name -> class).
ENTRY_POINT_GROUP = "hookreceiver.providers"

# Each built-in provider lives in the module of its name (providers/<name>.py or a package), found
# by listing this package and imported on first look-up only: `import hookreceiver` and an app
# serving one provider pay nothing for the others, and a new provider module needs no line here.
# These modules of the package hold no provider:
_SUPPORT = frozenset({"base", "normalized", "registry", "types"})

_classes: dict[str, type[Provider]] = {}


@functools.cache
def _builtin() -> frozenset[str]:
    """The names of the provider modules of this package (none is imported)."""
    import pkgutil
    import sys

    path = sys.modules[__package__].__path__
    return frozenset(
        found.name
        for found in pkgutil.iter_modules(path)
        if not found.name.startswith("_") and found.name not in _SUPPORT
    )


class UnknownProvider(LookupError):
    """No provider of that name is registered, built in or announced by an entry point."""


def register(cls: type[Provider]) -> None:
    """Add ``cls`` under its ``name`` (called for every subclass that sets its own name).

    A subclass of the registered class restating its name (a tweaked copy) leaves the registry
    as it is. A built-in provider's name belongs to its module: another class claiming it is
    refused, since a provider's name is the first part of its event names and idempotency keys.
    Any other name goes to the latest class defined with it (a reloaded module, a test run
    twice).

    Raises:
        ConfigurationError: a built-in provider's name, claimed by another class.
    """
    name = cls.name
    if not name:
        return
    known = _classes.get(name)
    owner = f"{__package__}.{name}"
    # (A built-in provider registering from its own module lists no files: _builtin() is left
    # for the look-ups that need it.)
    if cls.__module__ != owner and known is None and name in _builtin():
        importlib.import_module(owner)  # the name's owner registers first
        known = _classes.get(name)
    if known is not None and known is not cls and issubclass(cls, known):
        return
    if known is not None and known.__module__ == owner and cls.__module__ != owner:
        from ..errors import ConfigurationError

        raise ConfigurationError(
            f"provider name {name!r} is taken by {_identity(known)}: "
            f"{_identity(cls)} needs a name of its own"
        )
    _classes[name] = cls


def _identity(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _entry_points() -> dict[str, Any]:
    """The providers announced by installed packages (read once per process)."""
    return announced(ENTRY_POINT_GROUP)


@functools.cache
def _all_entry_points() -> Any:
    from importlib.metadata import entry_points

    return entry_points()


def announced(group: str) -> dict[str, Any]:
    """The entry points of ``group`` by name, from one scan of the installed packages per
    process (shared with the testing kit's ``hookreceiver.factories`` group)."""
    return {point.name: point for point in _all_entry_points().select(group=group)}


def provider_names() -> list[str]:
    """The names of every provider: built in, registered by a subclass, or announced by an
    entry point, sorted. Nothing is imported."""
    return sorted({*_builtin(), *_classes, *_entry_points()})


def provider_class(name: str) -> type[Provider]:
    """The provider class registered under ``name``, importing its module on first use.

    Raises:
        UnknownProvider: no provider has that name.
    """
    found = _classes.get(name)
    if found is not None:
        return found
    if name in _builtin():
        importlib.import_module(f"{__package__}.{name}")
    else:
        point = _entry_points().get(name)
        if point is not None:
            loaded = point.load()
            if loaded.name != name:
                raise UnknownProvider(
                    f"entry point {name!r} of {ENTRY_POINT_GROUP!r} loads a provider named "
                    f"{loaded.name!r}"
                )
            register(loaded)
    found = _classes.get(name)
    if found is None:
        known = ", ".join(provider_names())
        raise UnknownProvider(f"unknown provider {name!r}. Known: {known}.")
    return found
