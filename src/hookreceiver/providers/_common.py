"""Small helpers the provider modules share: event names from URLs, keys, generic events."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..core.events import ParsedEvent
from ..errors import ConfigurationError, DeliveryRejected

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "EventModels",
    "check_event_option",
    "digest",
    "event_from_segment",
    "generic_event",
    "lazy_models",
    "make_key",
    "safe_event_name",
]

#: Longest idempotency key kept as is; longer ones are hashed (stores index them).
MAX_KEY = 200

# What an event name taken from a URL or a payload may look like: it becomes part of the event
# name, the idempotency key and log lines, so it is kept short and plain.
_SAFE_EVENT = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,63}")


def lazy_models(
    namespace: dict[str, Any],
    names: Iterable[str],
    sources: Mapping[str, Iterable[str]],
    then: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[Callable[[], None], Callable[[str], Any], Callable[[], list[str]]]:
    """The ``_load``, ``__getattr__`` and ``__dir__`` of a provider module whose models are
    defined on first use.

    Defining pydantic models loads pydantic's field machinery (``pydantic.fields``,
    ``pydantic.types``, ``annotated_types``), which ``from hookreceiver.providers import FaxPlus``
    need not pay for. So a provider module keeps its models in a submodule, and ``_load()``
    imports it on the first parse (or the first look-up of one of ``names`` in the module): each
    of ``sources`` (a module name relative to the provider's package -> names) is imported and
    its names are copied into ``namespace``, the module's globals, where the provider's code
    reads them as plain globals. ``then(namespace)`` adds what is built from them; last,
    ``namespace["_loaded"]`` becomes true (the provider's ``parse`` checks it, one global read).
    """
    public = frozenset(names)
    package = namespace["__package__"]

    def load() -> None:
        if namespace["_loaded"]:
            return
        for module, module_names in sources.items():
            loaded = importlib.import_module(module, package)
            namespace.update({name: getattr(loaded, name) for name in module_names})
        if then is not None:
            then(namespace)
        namespace["_loaded"] = True

    def __getattr__(name: str) -> Any:
        if name in public:
            load()
            return namespace[name]
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*namespace, *public})

    return load, __getattr__, __dir__


class EventModels(Mapping[str, "type[BaseModel]"]):
    """A provider's ``event_models`` (full event name -> model), read on first look-up from
    ``load()`` (event -> model), so that naming them does not define the models."""

    __slots__ = ("_load", "_prefix", "_table")

    def __init__(self, prefix: str, load: Callable[[], Mapping[str, type[BaseModel]]]) -> None:
        self._prefix = prefix
        self._load = load
        self._table: dict[str, type[BaseModel]] | None = None

    def _models(self) -> dict[str, type[BaseModel]]:
        if self._table is None:
            prefix = self._prefix
            self._table = {f"{prefix}.{event}": model for event, model in self._load().items()}
        return self._table

    def __getitem__(self, name: str) -> type[BaseModel]:
        return self._models()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._models())

    def __len__(self) -> int:
        return len(self._models())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._models()!r})"


def safe_event_name(value: object) -> str | None:
    """``value`` as an event name when it is short, plain text; otherwise ``None``."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if _SAFE_EVENT.fullmatch(text) and ".." not in text:
        return text
    return None


def event_from_segment(segment: str, aliases: Mapping[str, str]) -> str:
    """The event a URL segment names (``/hooks/zipwhip/{event}``).

    A known name or alias gives its event; an unknown but plain name is returned as is (the
    delivery becomes a generic event, or 422 on a strict endpoint); anything else (``..``,
    odd characters, very long) is answered 404 since no genuine webhook URL looks like that.
    """
    text = segment.strip().lower()
    known = aliases.get(text)
    if known is not None:
        return known
    safe = safe_event_name(text)
    if safe is None:
        raise DeliveryRejected(
            "the URL does not name an event this endpoint receives",
            status=404,
            error="unknown_event_path",
        )
    return safe


def check_event_option(event: str | None, known: Mapping[str, str], provider: str) -> str | None:
    """Validate a provider's ``event=`` option at start-up; returns the canonical event."""
    if event is None:
        return None
    canonical = known.get(event.strip().lower())
    if canonical is None:
        raise ConfigurationError(
            f"{provider} has no event {event!r}; known: {', '.join(sorted(set(known.values())))}"
        )
    return canonical


def _part(value: object) -> str:
    if type(value) is str and ":" not in value and "%" not in value:
        return value  # the common case: nothing to escape
    if value is None:
        return "-"
    text = value.value if hasattr(value, "value") else value
    return str(text).replace("%", "%25").replace(":", "%3A")


def make_key(provider: str, event: str, *parts: object) -> str:
    """An idempotency key ``provider:event:part:...``; parts are escaped, long keys hashed."""
    if len(parts) == 1:
        part = parts[0]
        if type(part) is not str or ":" in part or "%" in part:  # else: nothing to escape
            part = _part(part)
        key = f"{provider}:{event}:{part}"
    else:
        key = ":".join([provider, event, *[_part(part) for part in parts]])
    if len(key) <= MAX_KEY:
        return key
    return f"{provider}:{event}:sha256:{_sha256(key.encode())}"


def _sha256(data: bytes) -> str:
    import hashlib  # here, not with the module: only long keys and digests need it

    return hashlib.sha256(data).hexdigest()


def digest(payload: Any) -> str:
    """A short, stable hash of a decoded payload, for events that carry no id of their own."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return _sha256(text.encode())[:32]


def generic_event(
    provider: str, event: str, payload: dict[str, Any], *key_parts: object
) -> ParsedEvent:
    """A :class:`~hookreceiver.GenericEvent` for an event the provider does not document.

    Its key is built from ``key_parts`` when given, else from a hash of the payload, so the
    sender's retries of the same payload are still handled once.
    """
    name = f"{provider}.{event}"
    from ..core.generic import GenericEvent  # a pydantic model: loaded with the first one

    model = GenericEvent(provider=provider, name=name, payload=payload)
    key = make_key(provider, event, *(key_parts or (digest(payload),)))
    return ParsedEvent(name, provider, key, model)
