"""Sender verification: IP allowlists, trusted proxies, basic auth, signed URLs, HMAC signatures.

Guards run cheapest first, before the body is read (the HMAC check excepted)::

    IPAllowlist (10)  ->  BasicAuth (20)  ->  SignedURLGuard (30)  ->  StandardWebhooks (40)
"""

from .allowlist import IPAllowlist, NetworkSet, parse_address
from .base import Guard, GuardRequest
from .basic_auth import BasicAuth
from .env import credentials_from_env, secrets_from_env
from .hmac import StandardWebhooks
from .proxies import TrustedProxies
from .signed_urls import SignedURLGuard, URLSigner

__all__ = [
    "BasicAuth",
    "Guard",
    "GuardRequest",
    "IPAllowlist",
    "NetworkSet",
    "SignedURLGuard",
    "StandardWebhooks",
    "TrustedProxies",
    "URLSigner",
    "credentials_from_env",
    "parse_address",
    "secrets_from_env",
]
