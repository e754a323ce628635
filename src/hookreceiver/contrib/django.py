"""A :class:`~hookreceiver.Receiver` from the ``HOOKRECEIVER`` Django setting.

Above the facade on purpose (see the ``layers`` contract in ``pyproject.toml``): it composes a
``Receiver``, and the Django app below finds it by its dotted path
(:data:`hookreceiver.integrations.django.conf.BUILDER`), never by an import.

The setting's keys (only ``ENDPOINTS`` is required)::

    HOOKRECEIVER = {
        "STORE": "memory" | "sqlite:///path" | "redis://..." | "postgresql://...",
        "INBOX": "sqlite:///path" | "postgresql://...",   # open_inbox's URLs; optional
        "WORKER": True,                  # the in-process inbox worker (or False, or options)
        "TRUSTED_PROXIES": ["10.0.0.0/8"],                 # or an int: that many hops
        "PUBLIC_BASE_URL": "https://hooks.example.com",
        "RECEIVER_OPTIONS": {"lease": 300},                # other Receiver(...) keywords
        "ENDPOINTS": [
            {"path": "/hooks/documo", "provider": "documo",
             "basic_auth": [["documo", "s3cret"]], "allow_ips": ["198.51.100.0/24"]},
            {"path": "/hooks/updox/{event}/{token}", "provider": "updox",
             "signed_urls": {"keys": ["..."], "expires_in": None}, "ack": "inbox"},
        ],
    }

An endpoint's keys other than ``path``, ``provider``, ``ack`` and ``methods`` are the
provider's keywords; ``signed_urls`` is a list of keys or the keywords of
:class:`~hookreceiver.URLSigner`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ..errors import ConfigurationError
from ..inbox.urls import open_inbox
from ..providers.registry import provider_class
from ..receiver import Receiver
from ..security.proxies import TrustedProxies
from ..security.signed_urls import URLSigner
from ..stores.base import Store

__all__ = ["receiver_from_config", "receiver_from_settings", "store_from_url"]

_ENDPOINT_KEYS = ("path", "provider", "ack", "methods")


def store_from_url(url: str) -> Store:
    """A dedup store named by a URL: ``memory``, ``sqlite:///path``, ``redis://...``
    (``?prefix=``), ``postgresql://...`` (``?table=``)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if url == "memory":
        from ..stores.memory import MemoryStore

        return MemoryStore()
    if parts.scheme == "sqlite":
        from ..stores.sqlite import SQLiteStore

        return SQLiteStore(parts.path[1:] if parts.path.startswith("/") else parts.path)
    if parts.scheme in ("redis", "rediss"):
        from ..stores.redis import RedisStore

        bare = urlunsplit(parts._replace(query=""))
        return RedisStore(bare, prefix=query.get("prefix", "hookreceiver:"))
    if parts.scheme in ("postgres", "postgresql"):
        from ..stores.postgres import PostgresStore

        bare = urlunsplit(parts._replace(query=""))
        return PostgresStore(bare, table=query.get("table", "hookreceiver_claims"))
    raise ConfigurationError(f"HOOKRECEIVER STORE: unknown store URL scheme {parts.scheme!r}")


def _provider(spec: Mapping[str, Any]) -> Any:
    options = {k: v for k, v in spec.items() if k not in _ENDPOINT_KEYS}
    signed = options.get("signed_urls")
    if isinstance(signed, Mapping):
        options["signed_urls"] = URLSigner(**signed)
    elif isinstance(signed, (list, tuple, str)):
        options["signed_urls"] = URLSigner(signed)
    if "basic_auth" in options:
        options["basic_auth"] = [tuple(pair) for pair in options["basic_auth"]]
    try:
        cls = provider_class(str(spec["provider"]))
    except LookupError as exc:
        raise ConfigurationError(f"HOOKRECEIVER ENDPOINTS: {exc}") from None
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigurationError(f"HOOKRECEIVER ENDPOINTS {spec.get('path')}: {exc}") from None


def receiver_from_config(config: Mapping[str, Any]) -> Receiver:
    """Build the receiver a ``HOOKRECEIVER``-style mapping describes.

    Raises:
        ConfigurationError: a missing or unknown key, provider or store.
    """
    endpoints = config.get("ENDPOINTS")
    if not endpoints:
        raise ConfigurationError("HOOKRECEIVER needs ENDPOINTS: a list of {path, provider, ...}")
    proxies: Any = config.get("TRUSTED_PROXIES")
    options: dict[str, Any] = dict(config.get("RECEIVER_OPTIONS", {}))
    if isinstance(proxies, int) and not isinstance(proxies, bool):
        options["proxies"] = TrustedProxies(hops=proxies)
    elif proxies:
        options["proxies"] = TrustedProxies([str(p) for p in proxies])
    options.setdefault("store", store_from_url(str(config.get("STORE", "memory"))))
    if config.get("INBOX"):
        options.setdefault("inbox", open_inbox(config["INBOX"]))
    options.setdefault("worker", config.get("WORKER", True))
    options.setdefault("public_base_url", config.get("PUBLIC_BASE_URL"))
    hooks = Receiver(**options)
    for spec in endpoints:
        if "path" not in spec or "provider" not in spec:
            raise ConfigurationError("each HOOKRECEIVER endpoint needs a path and a provider")
        hooks.endpoint(
            spec["path"], _provider(spec), methods=spec.get("methods"), ack=spec.get("ack")
        )
    return hooks


def receiver_from_settings() -> Receiver:
    """The receiver of ``settings.HOOKRECEIVER`` (what the Django app builds by default)."""
    from django.conf import settings

    return receiver_from_config(settings.HOOKRECEIVER)
