"""Sender verification: IP allowlists, basic auth, signed callback URLs, HMAC signatures."""

from .allowlist import IPAllowlist, parse_address
from .base import Guard, GuardRequest
from .basic_auth import BasicAuth

__all__ = ["BasicAuth", "Guard", "GuardRequest", "IPAllowlist", "parse_address"]
