"""HTTP basic auth with several credential pairs at once (for rotation), in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable

from ..errors import ConfigurationError, NotVerified
from .base import GuardRequest

__all__ = ["BasicAuth"]


class BasicAuth:
    """Require ``Authorization: Basic`` with one of the given ``(username, password)`` pairs.

    Args:
        credentials: the accepted pairs; list the new pair beside the old while rotating.
        realm: the realm sent in ``WWW-Authenticate``.
    """

    order = 20
    needs_body = False

    def __init__(self, credentials: Iterable[tuple[str, str]], *, realm: str = "hookreceiver"):
        pairs = [(u.encode(), p.encode()) for u, p in credentials]
        if not pairs:
            raise ConfigurationError("basic auth needs at least one (username, password) pair")
        if any(not u or not p for u, p in pairs):
            raise ConfigurationError("basic auth usernames and passwords must not be empty")
        if '"' in realm or "\\" in realm:
            raise ConfigurationError("basic auth realm must not contain quotes or backslashes")
        self._pairs = pairs
        self.realm = realm
        self._challenge = (("www-authenticate", f'Basic realm="{realm}", charset="UTF-8"'),)

    def _refuse(self, detail: str) -> NotVerified:
        return NotVerified(detail, status=401, error="unauthorized", headers=self._challenge)

    def check(self, request: GuardRequest) -> None:
        """Refuse with 401 and a challenge unless a configured pair matches."""
        values = request.delivery.headers.get_all("authorization")
        if len(values) != 1:
            raise self._refuse(
                "basic credentials required" if not values else "more than one Authorization header"
            )
        scheme, _, encoded = values[0].strip().partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            raise self._refuse("basic credentials required")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise self._refuse("malformed basic credentials") from None
        username, colon, password = decoded.partition(b":")
        if not colon:
            raise self._refuse("malformed basic credentials")
        matched = False
        for user, secret in self._pairs:
            # Compare every pair, in constant time, so timing reveals neither which nor how much.
            matched |= hmac.compare_digest(username, user) & hmac.compare_digest(password, secret)
        if not matched:
            raise self._refuse("wrong credentials")

    def check_body(self, request: GuardRequest, body: bytes) -> None:
        """Nothing to check in the body."""

    def __repr__(self) -> str:
        return f"BasicAuth(users={[u.decode() for u, _ in self._pairs]!r}, realm={self.realm!r})"
