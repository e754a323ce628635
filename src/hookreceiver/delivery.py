"""The framework-free description of one HTTP delivery.

Adapters (ASGI, WSGI, the test client) translate their request into a :class:`Delivery`; the core
never sees a framework object. Headers are kept as the ordered list the server gave, names
lower-cased, so duplicated headers stay visible to the guards that care about them.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar, overload
from urllib.parse import parse_qsl

__all__ = ["BodySource", "CREDENTIAL_HEADERS", "Delivery", "Headers", "PATH_PLACEHOLDER"]

T = TypeVar("T")

#: What a delivery's body can be: the whole body, or chunks pulled by the sync or async driver.
BodySource = bytes | Iterable[bytes] | AsyncIterable[bytes]


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive HTTP headers that keep duplicates.

    ``headers["x-hook-id"]`` and ``get`` return the first value; :meth:`get_all` returns all of
    them in order.
    """

    __slots__ = ("_items", "_raw")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: tuple[tuple[str, str], ...] | None = tuple(
            (name.lower(), value) for name, value in items
        )
        self._raw: Iterable[tuple[bytes, bytes]] = ()

    @classmethod
    def from_lower(cls, items: tuple[tuple[str, str], ...]) -> Headers:
        """Wrap items whose names are already lower-case (as ASGI gives them), without copying."""
        headers = cls.__new__(cls)
        headers._items = items
        headers._raw = ()
        return headers

    @classmethod
    def from_raw(cls, raw: Iterable[tuple[bytes, bytes]]) -> Headers:
        """Wrap an ASGI scope's ``headers`` (lower-case byte names, byte values) as they are.

        Nothing is decoded up front: a look-up decodes the value it finds, and listing the
        headers decodes them all once (as latin-1, as HTTP/1.1 defines them).
        """
        headers = cls.__new__(cls)
        headers._items = None
        headers._raw = raw
        return headers

    def _decoded(self) -> tuple[tuple[str, str], ...]:
        items = self._items
        if items is None:
            items = self._items = tuple(
                (name.decode("latin-1"), value.decode("latin-1")) for name, value in self._raw
            )
        return items

    def _find(self, name: str) -> str | None:
        if self._items is None:
            wanted = _encoded_name(name)
            if wanted is None:
                return None
            for key, value in self._raw:
                if key == wanted:
                    return value.decode("latin-1")
            return None
        lowered = name.lower()
        for text, found in self._items:
            if text == lowered:
                return found
        return None

    def __getitem__(self, name: str) -> str:
        value = self._find(name)
        if value is None:
            raise KeyError(name)
        return value

    @overload
    def get(self, name: str, /) -> str | None: ...

    @overload
    def get(self, name: str, /, default: str | T) -> str | T: ...

    def get(self, name: str, /, default: object = None) -> object:
        """The first value of ``name``, or ``default``."""
        value = self._find(name)
        return default if value is None else value

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in the order received."""
        if self._items is None:  # ASGI's raw headers: decode only the values asked for
            wanted = _encoded_name(name)
            if wanted is None:
                return []
            return [value.decode("latin-1") for key, value in self._raw if key == wanted]
        name = name.lower()
        return [value for key, value in self._items if key == name]

    def body_headers(self) -> tuple[str | None, list[str]]:
        """The first ``Content-Type`` and every ``Content-Length`` value, in one pass: what a
        body is judged by before it is read."""
        content_type: str | None = None
        lengths: list[str] = []
        if self._items is None:
            for key, value in self._raw:
                if key == b"content-type":
                    if content_type is None:
                        content_type = value.decode("latin-1")
                elif key == b"content-length":
                    lengths.append(value.decode("latin-1"))
            return content_type, lengths
        for text, found in self._items:
            if text == "content-type":
                if content_type is None:
                    content_type = found
            elif text == "content-length":
                lengths.append(found)
        return content_type, lengths

    def has_any(self, names: frozenset[str]) -> bool:
        """Whether a header of one of ``names`` (lower-case) is present; nothing is decoded."""
        if self._items is None:
            wanted = _ENCODED.get(names)
            if wanted is None:
                wanted = _ENCODED[names] = frozenset(n.encode("latin-1") for n in names)
            for key, _ in self._raw:
                if key in wanted:
                    return True
            return False
        for text, _ in self._items:
            if text in names:
                return True
        return False

    def items_list(self) -> tuple[tuple[str, str], ...]:
        """All ``(lower-case name, value)`` pairs, duplicates included."""
        return self._decoded()

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for key, _ in self._decoded():
            if key not in seen:
                seen.add(key)
                yield key

    def __len__(self) -> int:
        return len({key for key, _ in self._decoded()})

    def __repr__(self) -> str:
        shown = [(k, "***" if k in CREDENTIAL_HEADERS else v) for k, v in self._decoded()]
        return f"Headers({shown!r})"


#: Request headers that carry credentials: shown as ``***`` by ``repr`` and never stored by the
#: inbox or the fallback journal.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})

#: A ``{name}`` placeholder of an endpoint's path template (``/hooks/zipwhip/{event}``): the
#: router, the URL signer and the testing kit all read templates with this one pattern.
PATH_PLACEHOLDER = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)}")
# has_any's name sets as bytes, to compare with an ASGI scope's header names undecoded.
_ENCODED: dict[frozenset[str], frozenset[bytes]] = {}
# Header names looked up by the receiver (a handful), lower-cased and encoded once each.
_NAMES: dict[str, bytes | None] = {}
# Content-Type values (a sender sends one or two) -> their media type, parsed once each.
_MEDIA_TYPES: dict[str, str] = {}
#: How many of each the caches above keep before they start over (hostile senders vary them).
_CACHED = 256


def _encoded_name(name: str) -> bytes | None:
    """``name`` lower-cased as ASGI's header names are, or ``None`` if no header has it."""
    wanted = _NAMES.get(name, b"")
    if wanted == b"":
        try:
            wanted = name.lower().encode("latin-1")
        except UnicodeEncodeError:
            wanted = None
        if len(_NAMES) >= _CACHED:
            _NAMES.clear()
        _NAMES[name] = wanted
    return wanted


def media_type(value: str) -> str:
    """The media type of a ``Content-Type`` value: lower-case, without parameters."""
    found = _MEDIA_TYPES.get(value)
    if found is None:
        found = value.split(";", 1)[0].strip().lower()
        if len(_MEDIA_TYPES) >= _CACHED:
            _MEDIA_TYPES.clear()
        _MEDIA_TYPES[value] = found
    return found


@dataclass(slots=True)
class Delivery:
    """One HTTP request, as the core sees it.

    Attributes:
        method: the HTTP method, upper-case.
        path: the URL path, percent-decoded (as ASGI ``path`` and WSGI ``PATH_INFO`` give it).
        query: the raw query string, undecoded.
        headers: the request headers.
        peer: the address of the TCP peer (the proxy, when there is one), or ``None``.
        body: the body, whole or as chunks.
        raw_path: the path as sent, still percent-encoded, when the server gives it.
        scheme: ``http`` or ``https`` as the server saw it.
    """

    method: str
    path: str
    query: str = ""
    headers: Headers = field(default_factory=Headers)
    peer: str | None = None
    body: BodySource = b""
    raw_path: str | None = None
    scheme: str = "http"

    def query_params(self) -> list[tuple[str, str]]:
        """The query string decoded into ordered ``(name, value)`` pairs."""
        return parse_qsl(self.query, keep_blank_values=True)

    @property
    def content_type(self) -> str:
        """The media type of the body, lower-case and without parameters (``""`` if absent)."""
        value = self.headers.get("content-type")
        return "" if value is None else media_type(value)
