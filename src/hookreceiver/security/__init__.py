"""Sender verification: IP allowlists, trusted proxies, basic auth, signed URLs, HMAC signatures;
and :class:`RedactTokens`, which keeps signed-URL tokens out of access logs.

Guards run cheapest first (:class:`GuardOrder`), before the body is read (the HMAC check
excepted)::

    IPAllowlist (ADDRESS)  ->  BasicAuth (CREDENTIALS)  ->  SignedURLGuard (URL_TOKEN)
        ->  StandardWebhooks (BODY_SIGNATURE)  ->  your own guards (CUSTOM, by default)

A guard of your own subclasses :class:`GuardBase` (or has the :class:`Guard` protocol's members).
"""

from __future__ import annotations

from .._lazy import lazy_names

TYPE_CHECKING = False  # as in hookreceiver/__init__.py: typing is not imported for it
if TYPE_CHECKING:
    from .addresses import NetworkSet, parse_address
    from .allowlist import IPAllowlist
    from .base import EventNames, Guard, GuardBase, GuardOrder, GuardRequest, as_guard
    from .basic_auth import BasicAuth
    from .env import credentials_from_env, secrets_from_env
    from .hmac import StandardWebhooks
    from .proxies import TrustedProxies
    from .redact import RedactTokens, redact_access_logs
    from .signed_urls import SignedURLGuard, URLSigner

# Each name is imported from its module on first use (PEP 562): a provider that checks addresses
# does not load the HMAC, proxy and signed-URL modules.
_LAZY = {
    "BasicAuth": "basic_auth",
    "EventNames": "base",
    "Guard": "base",
    "GuardBase": "base",
    "GuardOrder": "base",
    "GuardRequest": "base",
    "IPAllowlist": "allowlist",
    "NetworkSet": "addresses",
    "RedactTokens": "redact",
    "SignedURLGuard": "signed_urls",
    "StandardWebhooks": "hmac",
    "TrustedProxies": "proxies",
    "URLSigner": "signed_urls",
    "as_guard": "base",
    "credentials_from_env": "env",
    "parse_address": "addresses",
    "redact_access_logs": "redact",
    "secrets_from_env": "env",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())


__all__ = [
    "BasicAuth",
    "EventNames",
    "Guard",
    "GuardBase",
    "GuardOrder",
    "GuardRequest",
    "IPAllowlist",
    "NetworkSet",
    "RedactTokens",
    "SignedURLGuard",
    "StandardWebhooks",
    "TrustedProxies",
    "URLSigner",
    "as_guard",
    "credentials_from_env",
    "parse_address",
    "redact_access_logs",
    "secrets_from_env",
]
