"""Who may use the console: basic-auth pairs (two roles) or the app's own callable; CSRF.

No console without authentication: :class:`~hookreceiver.console.ConsoleApp` refuses to be
built without a way to tell who is asking. Basic auth is checked against every configured pair
in constant time (list a new pair beside the old one while rotating); a refusal is 401 with
``WWW-Authenticate: Basic``. A pair of ``readonly`` sees everything and changes nothing.

Actions are POSTs, and a browser sends a logged-in user's basic credentials with any request to
the site, including a form another site made it submit: each form carries a token signed for
its user (itsdangerous, timed), and a POST whose ``Origin`` (or, without one, ``Referer``) is not
this site is refused 403 before the token is even read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..errors import ConfigurationError
from ..security.env import credentials_from_env

__all__ = [
    "ConsoleAuth",
    "ConsoleRequest",
    "Csrf",
    "Identity",
    "same_origin",
]

_MAX_AUTHORIZATION = 4096


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is using the console.

    Attributes:
        name: shown on the page and written to the log with each action.
        can_write: may replay, resolve, release and purge (``False``: read-only).
    """

    name: str
    can_write: bool = True


@dataclass(frozen=True, slots=True)
class ConsoleRequest:
    """What an ``authorize`` callable is given: the request as the console sees it.

    Attributes:
        method: the HTTP method.
        path: the path inside the console (``/deliveries/abc``).
        headers: the request headers, names in lower case (the last value of each).
        client: the peer's address, if known.
        scope: the ASGI scope, for anything else (a session middleware's ``scope["session"]``).
    """

    method: str
    path: str
    headers: Mapping[str, str]
    client: str | None
    scope: Mapping[str, Any]


#: ``authorize``: the app's own login; an :class:`Identity`, or ``None`` to refuse (403).
Authorize = Callable[[ConsoleRequest], "Identity | None | Awaitable[Identity | None]"]


class ConsoleAuth:
    """``(user, password)`` pairs allowed into the console, for one role.

    Args:
        pairs: the pairs; a user may appear twice with two passwords while rotating.

    Raises:
        ConfigurationError: no pair, an empty user or password, or a ``:`` in a user.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        if isinstance(pairs, (str, bytes)):
            raise ConfigurationError("console auth takes (user, password) pairs, not a string")
        listed = [(user.encode(), password.encode()) for user, password in pairs]
        if not listed:
            raise ConfigurationError("console auth needs at least one (user, password) pair")
        if any(not user or not password or b":" in user for user, password in listed):
            raise ConfigurationError("console users and passwords must be non-empty, users no ':'")
        self._digests = tuple(
            (hashlib.sha256(user + b":" + password).digest(), user.decode())
            for user, password in listed
        )

    @classmethod
    def from_env(cls, name: str, *, environ: Mapping[str, str] | None = None) -> ConsoleAuth:
        """Pairs from environment variable ``name``: ``"user:pass,user2:pass2"``."""
        return cls(credentials_from_env(name, environ=environ))

    @classmethod
    def of(cls, value: ConsoleAuth | Iterable[tuple[str, str]] | None) -> ConsoleAuth | None:
        """``value`` as a :class:`ConsoleAuth` (pairs are wrapped)."""
        if value is None or isinstance(value, ConsoleAuth):
            return value
        return cls(value)

    def match(self, credentials: bytes) -> str | None:
        """The user whose ``user:password`` bytes these are, or ``None``; every pair is
        compared, in constant time."""
        candidate = hashlib.sha256(credentials).digest()
        found = None
        for digest, user in self._digests:
            if hmac.compare_digest(candidate, digest):
                found = user
        return found

    def fingerprint(self) -> bytes:
        """A digest of the pairs: the default CSRF key, the same in every process."""
        return hashlib.sha256(b"".join(sorted(d for d, _ in self._digests))).digest()

    def __repr__(self) -> str:
        return f"ConsoleAuth(users={sorted({user for _, user in self._digests})!r})"


def basic_credentials(value: str | None) -> bytes | None:
    """The ``user:password`` bytes of a Basic ``Authorization`` value, or ``None``."""
    if not value or len(value) > _MAX_AUTHORIZATION:
        return None
    scheme, _, encoded = value.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if b":" in decoded else None


class Csrf:
    """Tokens for the console's forms, bound to a user and valid for ``max_age`` seconds."""

    def __init__(self, secret: str | bytes | None, *, max_age: int = 12 * 3600) -> None:
        key = secret if secret is not None else secrets.token_bytes(32)
        self._signer = URLSafeTimedSerializer(key, salt="hookreceiver-console-csrf")
        self.max_age = max_age

    def token(self, identity: Identity) -> str:
        """A fresh token for ``identity``'s forms."""
        return str(self._signer.dumps(identity.name))

    def valid(self, token: str | None, identity: Identity) -> bool:
        """Whether ``token`` was made for ``identity`` by this console, and is recent."""
        if not token or len(token) > 512:
            return False
        try:
            name = self._signer.loads(token, max_age=self.max_age)
        except BadSignature:
            return False
        return isinstance(name, str) and hmac.compare_digest(name, identity.name)


def same_origin(headers: Mapping[str, str], trusted: Iterable[str] = ()) -> bool:
    """Whether a POST comes from this site: its ``Origin`` (or ``Referer``) names the
    ``Host`` it was sent to, or one of ``trusted`` (``https://admin.example.com``)."""
    source = headers.get("origin") or headers.get("referer")
    host = headers.get("host")
    if not source or source == "null" or not host:
        return False
    parts = urlsplit(source)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if origin in {t.rstrip("/").lower() for t in trusted}:
        return True
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()
