"""HTTP basic auth with several credential pairs at once (for rotation), in constant time.

The decoded ``user:password`` is hashed with SHA-256 and compared with the digest of every
configured pair using :func:`hmac.compare_digest`: every pair is compared on every request, and
digests have one length, so timing reveals neither which pair matched nor a secret's length.
A user-id cannot contain a colon (RFC 7617), so ``user:password`` names exactly one pair.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping

from ..errors import ConfigurationError, NotVerified
from .base import GuardBase, GuardOrder, GuardRequest
from .env import credentials_from_env

__all__ = ["BasicAuth"]

# 255-byte user and password, base64: about 700 characters. Far longer is not a credential.
_MAX_AUTHORIZATION = 4096


def _valid_realm(realm: str) -> bool:
    return bool(realm) and realm.isascii() and realm.isprintable() and not set(realm) & {'"', "\\"}


class BasicAuth(GuardBase):
    """Require ``Authorization: Basic`` with one of the given ``(username, password)`` pairs.

    A missing, malformed or wrong credential is answered 401 with
    ``WWW-Authenticate: Basic realm="<realm>", charset="UTF-8"``. Credentials are compared as
    UTF-8 bytes, so non-ASCII passwords work; what the sender sends is never decoded as text.

    Args:
        credentials: the accepted pairs; list the new pair beside the old while rotating.
        realm: the realm sent in ``WWW-Authenticate`` (printable ASCII, no quotes).

    Raises:
        ConfigurationError: no pair, an empty user or password, a colon in a user, or a bad realm.
    """

    order = GuardOrder.CREDENTIALS

    def __init__(self, credentials: Iterable[tuple[str, str]], *, realm: str = "hookreceiver"):
        if isinstance(credentials, (str, bytes)):
            raise ConfigurationError("basic auth takes (username, password) pairs, not a string")
        pairs = [(user.encode(), password.encode()) for user, password in credentials]
        if not pairs:
            raise ConfigurationError("basic auth needs at least one (username, password) pair")
        if any(not user or not password for user, password in pairs):
            raise ConfigurationError("basic auth usernames and passwords must not be empty")
        if any(b":" in user for user, _ in pairs):
            raise ConfigurationError("basic auth usernames must not contain ':' (RFC 7617)")
        if not _valid_realm(realm):
            raise ConfigurationError("basic auth realm must be printable ASCII without quotes")
        self.users = tuple(dict.fromkeys(user.decode() for user, _ in pairs))
        self._digests = tuple(hashlib.sha256(user + b":" + pw).digest() for user, pw in pairs)
        self.realm = realm
        self._challenge = (("www-authenticate", f'Basic realm="{realm}", charset="UTF-8"'),)

    @classmethod
    def from_env(
        cls, name: str, *, realm: str = "hookreceiver", environ: Mapping[str, str] | None = None
    ) -> BasicAuth:
        """Read the pairs from environment variable ``name`` (``"user:pass,user2:pass2"``).

        Raises:
            ConfigurationError: the variable is unset or malformed (its value is never shown).
        """
        return cls(credentials_from_env(name, environ=environ), realm=realm)

    def _refuse(self, detail: str) -> NotVerified:
        return NotVerified(detail, status=401, error="unauthorized", headers=self._challenge)

    def check(self, request: GuardRequest) -> None:
        """Refuse with 401 and a challenge unless a configured pair matches."""
        values = request.delivery.headers.get_all("authorization")
        if not values:
            raise self._refuse("basic credentials required")
        if len(values) > 1:
            raise self._refuse("more than one Authorization header")
        decoded = self._decode(values[0])
        candidate = hashlib.sha256(decoded).digest()
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(candidate, digest)
        if not matched:
            raise self._refuse("wrong credentials")

    def _decode(self, value: str) -> bytes:
        """The ``user:password`` bytes of a Basic ``Authorization`` value."""
        if len(value) > _MAX_AUTHORIZATION:
            raise self._refuse("malformed basic credentials")
        scheme, _, encoded = value.strip(" \t").partition(" ")
        encoded = encoded.strip(" \t")
        if scheme.lower() != "basic" or not encoded:
            raise self._refuse("basic credentials required")
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise self._refuse("malformed basic credentials") from None
        if b":" not in decoded:
            raise self._refuse("malformed basic credentials")
        return decoded

    def __repr__(self) -> str:
        return f"BasicAuth(users={list(self.users)!r}, realm={self.realm!r})"
