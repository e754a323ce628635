"""Dedup stores: memory (tests, one process), SQLite (embedded default), Redis and PostgreSQL;
:func:`open_store` opens one named by a URL (``HOOKRECEIVER_STORE``).

Redis and PostgreSQL stores need the ``[redis]`` and ``[postgres]`` extras; they are imported
lazily so ``import hookreceiver.stores`` never needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Claim, ClaimState, Store
from .memory import MemoryStore
from .urls import open_store

if TYPE_CHECKING:
    from .postgres import PostgresStore
    from .redis import RedisStore
    from .sqlite import SQLiteStore

__all__ = [
    "Claim",
    "ClaimState",
    "MemoryStore",
    "PostgresStore",
    "RedisStore",
    "SQLiteStore",
    "Store",
    "open_store",
]

_LAZY = {"PostgresStore": ".postgres", "RedisStore": ".redis", "SQLiteStore": ".sqlite"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
