"""Dedup stores named by one string: the meaning of ``HOOKRECEIVER_STORE`` and ``--store``.

``sqlite:///relative/claims.db`` or ``sqlite:////absolute/claims.db`` (a bare file path is read
as SQLite too, as the examples write it), ``postgresql://user@host/db?table=name``,
``redis://host:6379/0?prefix=name:``, or ``memory``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from .base import Store
from .memory import MemoryStore

__all__ = ["open_store"]


def open_store(url: str, **options: Any) -> Store:
    """The dedup store ``url`` names; ``options`` go to the store's class.

    Raises:
        ValueError: an empty string, or a SQLite URL without a path.
    """
    text = url.strip()
    if not text:
        raise ValueError("a store URL is sqlite:///path, postgresql://..., redis://... or memory")
    if text in ("memory", "memory://"):
        return MemoryStore(**options)
    parts = urlsplit(text)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.scheme in ("postgres", "postgresql"):
        from .postgres import PostgresStore

        table = next((v for k, v in query if k == "table"), "hookreceiver_claims")
        rest = urlencode([(k, v) for k, v in query if k != "table"])
        return PostgresStore(urlunsplit(parts._replace(query=rest)), table=table, **options)
    if parts.scheme in ("redis", "rediss", "unix"):
        from .redis import RedisStore

        prefix = next((v for k, v in query if k == "prefix"), "hookreceiver:")
        rest = urlencode([(k, v) for k, v in query if k != "prefix"])
        return RedisStore(urlunsplit(parts._replace(query=rest)), prefix=prefix, **options)
    from .sqlite import SQLiteStore

    if parts.scheme == "sqlite":
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if parts.netloc or not path:
            raise ValueError(
                f"a SQLite store URL is sqlite:///relative/path or sqlite:////absolute/path, "
                f"not {url!r}"
            )
        return SQLiteStore(path, **options)
    if "://" in text:
        raise ValueError(f"unknown store URL scheme {parts.scheme!r}")
    return SQLiteStore(text, **options)
