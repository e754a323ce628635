"""Signed callback URLs: how an endpoint is protected when its sender cannot authenticate.

Updox and Kazoo sign nothing and (for Updox) send no credentials; what they do is call back a
URL you give them. :class:`URLSigner` makes that URL unguessable and specific: it carries a
token, signed with itsdangerous (HMAC-SHA256), over

* the endpoint's path template (as the salt): a token for ``/hooks/updox/{event}`` is worthless
  on ``/hooks/kazoo/{event}``;
* the values of the template's placeholders (``{"event": "outbound_fax"}``): a token issued for
  one event is refused on another, and ``..`` or an encoded ``/`` in a segment matches nothing;
* an optional context (``{"fax_job": 42}``), handed to handlers as ``ctx.signed``;
* an optional expiry, checked against an injectable clock.

The token travels in a query parameter (``?token=...``, the name is configurable), or in a path
segment when the template has a placeholder of that name (``/hooks/kazoo/{token}``): Kazoo's
GET webhooks append ``?<event fields>`` to the URL as given, which would mangle a query token.

Keys are a list, newest first: the first signs, all verify, so a key is rotated by putting the
new one in front and dropping the old one once its URLs have expired or been replaced.

The context is signed, not encrypted: anyone who sees the URL can read it. Keep secrets out of it.

Replays: a provider re-sends the same URL when it retries, so a token is valid for as long as it
has not expired, any number of times. Repeated *events* are caught by the dedup store (one event,
one handler run); a token cannot be moved to another endpoint or event, or used after expiry.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal
from urllib.parse import quote, unquote_plus, urlencode, urlsplit

from itsdangerous import BadData, URLSafeSerializer

from ..delivery import PATH_PLACEHOLDER as _PLACEHOLDER
from ..errors import ConfigurationError, NotVerified
from .base import EventNames, GuardBase, GuardOrder, GuardRequest
from .env import secrets_from_env

__all__ = ["SignedURLGuard", "URLSigner", "check_base_url"]

logger = logging.getLogger("hookreceiver")

_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MIN_KEY_BYTES = 16
_SALT = "hookreceiver.signed-url|"


class _Unset(enum.Enum):
    UNSET = 0


#: ``expires_in`` not given: URLs never expire, and the signer says so at start-up.
_UNSET: Final = _Unset.UNSET


def check_base_url(url: str) -> str:
    """Validate a public base URL (``https://hooks.example.com[/prefix]``); strip its last ``/``.

    Raises:
        ConfigurationError: not an absolute http(s) URL, or it has a query or fragment.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(
            f"public base URL must be an absolute http(s) URL without query: {url!r}"
        )
    return url.rstrip("/")


def _keys(keys: str | bytes | Sequence[str | bytes]) -> list[bytes]:
    listed = [keys] if isinstance(keys, (str, bytes)) else list(keys)
    encoded = [key.encode() if isinstance(key, str) else bytes(key) for key in listed]
    if not encoded:
        raise ConfigurationError("signed URLs need at least one key")
    if any(len(key) < _MIN_KEY_BYTES for key in encoded):
        raise ConfigurationError(f"signed URL keys must be at least {_MIN_KEY_BYTES} bytes long")
    return encoded


class URLSigner:
    """Signs callback URLs for endpoints, and verifies their tokens.

    Args:
        keys: the signing keys, newest first (at least 16 bytes each; use
            ``secrets.token_urlsafe(32)``). The first signs; all are accepted.
        param: the query parameter (or path placeholder) that carries the token.
        expires_in: default lifetime of a URL in seconds. Left out, URLs never expire and a
            warning says so at start-up (a URL is a credential: anyone who reads it in a log
            can use it until its key is rotated); pass ``None`` to choose that knowingly, for
            callback URLs registered once with a sender (Kazoo, Updox), and rotate the keys.
        clock: returns the current Unix time; pass your own in tests.
        max_token_length: longer tokens are refused unread.

    Raises:
        ConfigurationError: no key, a short key, a bad parameter name or lifetime.
    """

    def __init__(
        self,
        keys: str | bytes | Sequence[str | bytes],
        *,
        param: str = "token",
        expires_in: float | None | Literal[_Unset.UNSET] = _UNSET,
        clock: Callable[[], float] = time.time,
        max_token_length: int = 2048,
    ) -> None:
        self._keys = _keys(keys)
        if not _PARAM_NAME.fullmatch(param):
            raise ConfigurationError(f"token parameter must be an identifier, not {param!r}")
        if expires_in is _UNSET:
            expires_in = None
            logger.warning(
                "signed URLs (%s) never expire: a leaked URL works until its key is removed; "
                "pass URLSigner(..., expires_in=seconds), or expires_in=None for long-lived "
                "callback URLs (and rotate the keys)",
                param,
            )
        elif expires_in is not None and not expires_in > 0:
            raise ConfigurationError("expires_in must be a positive number of seconds")
        self.param = param
        self.expires_in: float | None = expires_in
        self.clock = clock
        self.max_token_length = max_token_length
        self._serializers: dict[str, URLSafeSerializer] = {}

    @classmethod
    def from_env(
        cls, name: str, *, environ: Mapping[str, str] | None = None, **options: Any
    ) -> URLSigner:
        """Read the keys, comma-separated and newest first, from environment variable ``name``.

        ``options`` are passed to the constructor.
        """
        return cls(secrets_from_env(name, environ=environ), **options)

    def _serializer(self, endpoint: str) -> URLSafeSerializer:
        serializer = self._serializers.get(endpoint)
        if serializer is None:
            serializer = URLSafeSerializer(
                self._keys[::-1],  # itsdangerous wants them oldest first and signs with the last
                salt=_SALT + endpoint,
                signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256},
            )
            self._serializers[endpoint] = serializer
        return serializer

    # Signing -----------------------------------------------------------------------------------

    def sign(
        self,
        endpoint: str,
        params: Mapping[str, str] | None = None,
        context: Mapping[str, Any] | None = None,
        *,
        expires_in: float | None = None,
    ) -> str:
        """A token for ``endpoint`` (a path template) with these placeholder values.

        Raises:
            ValueError: the context is not a JSON object of JSON values, or a bad lifetime.
        """
        payload: dict[str, Any] = {"p": {str(k): str(v) for k, v in (params or {}).items()}}
        if context is not None:
            if not isinstance(context, Mapping) or not all(isinstance(k, str) for k in context):
                raise ValueError("signed URL context must be a mapping with string keys")
            payload["c"] = dict(context)
        lifetime = self.expires_in if expires_in is None else expires_in
        if lifetime is not None:
            if not lifetime > 0:
                raise ValueError("expires_in must be a positive number of seconds")
            payload["x"] = math.ceil(self.clock() + lifetime)
        try:
            token: str = self._serializer(endpoint).dumps(payload)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"signed URL context must be JSON-serializable: {exc}") from None
        return token

    def url(
        self,
        base_url: str,
        endpoint: str,
        params: Mapping[str, str] | None = None,
        context: Mapping[str, Any] | None = None,
        *,
        expires_in: float | None = None,
    ) -> str:
        """The full callback URL: ``base_url`` + the filled template + the token.

        Raises:
            ValueError: a placeholder has no value, a value is not one path segment, or a
                value is given for a placeholder the template does not have.
        """
        values = dict(params or {})
        names = _PLACEHOLDER.findall(endpoint)
        if self.param in values:
            raise ValueError(f"{self.param!r} is the token's name, not a placeholder value")
        unknown = set(values) - set(names)
        missing = set(names) - set(values) - {self.param}
        if unknown or missing:
            raise ValueError(
                f"endpoint {endpoint} needs values for {sorted(missing)}, got {sorted(unknown)}"
            )
        for value in values.values():
            if not value or "/" in value or value in (".", ".."):
                raise ValueError(f"{value!r} is not a single path segment")
        token = self.sign(endpoint, values, context, expires_in=expires_in)
        values[self.param] = token

        def fill(match: re.Match[str]) -> str:
            return quote(values[match.group(1)], safe="")

        path = _PLACEHOLDER.sub(fill, endpoint)
        query = "" if self.param in names else "?" + urlencode({self.param: token})
        return check_base_url(base_url) + path + query

    # Verifying ---------------------------------------------------------------------------------

    def verify(self, endpoint: str, params: Mapping[str, str], token: str | None) -> dict[str, Any]:
        """Check ``token`` for ``endpoint`` and its placeholder values; return its context.

        Raises:
            NotVerified: 403 for a missing, malformed, tampered, foreign or expired token.
        """
        if not token:
            raise NotVerified("signed URL token required", error="token_required")
        if len(token) > self.max_token_length or not token.isascii():
            raise NotVerified("invalid signed URL token", error="invalid_token")
        try:
            payload = self._serializer(endpoint).loads(token)
        except (BadData, UnicodeError, ValueError):
            raise NotVerified("invalid signed URL token", error="invalid_token") from None
        if not isinstance(payload, dict) or payload.get("p") != dict(params):
            raise NotVerified(
                "signed URL token was issued for another endpoint or event", error="invalid_token"
            )
        expires = payload.get("x")
        if expires is not None and (not isinstance(expires, int) or self.clock() >= expires):
            raise NotVerified("signed URL has expired", error="token_expired")
        context = payload.get("c", {})
        if not isinstance(context, dict):
            raise NotVerified("invalid signed URL token", error="invalid_token")
        return context

    def guard(self) -> SignedURLGuard:
        """The guard that checks this signer's tokens (what ``signed_urls=`` installs)."""
        return SignedURLGuard(self)

    def __repr__(self) -> str:
        return f"URLSigner(keys=<{len(self._keys)}>, param={self.param!r})"


def query_value(query: str, name: str) -> str | None:
    """The one value of ``name`` in a raw query string; ``None`` if absent.

    Raises:
        NotVerified: the parameter appears more than once (which one would a proxy log?).
    """
    if name not in query:
        return None
    found: str | None = None
    for item in query.split("&"):
        key, _, value = item.partition("=")
        if unquote_plus(key) != name:
            continue
        if found is not None:
            raise NotVerified("more than one signed URL token", error="invalid_token")
        found = unquote_plus(value)
    return found


class SignedURLGuard(GuardBase):
    """Refuses deliveries whose URL does not carry a valid token for their endpoint (403).

    On success it puts the token's context in :attr:`GuardRequest.signed`, which handlers
    receive as ``ctx.signed``.

    Args:
        signer: the :class:`URLSigner` whose tokens are accepted.
    """

    order = GuardOrder.URL_TOKEN

    def __init__(self, signer: URLSigner) -> None:
        from .redact import redact_own_log

        self.signer = signer
        self.secret_params = (signer.param,)  # the token: kept redacted
        redact_own_log(signer.param)  # a token must not reach the log in a logged path

    def check(self, request: GuardRequest) -> None:
        """Verify the token in the path segment or query; expose its context."""
        name = self.signer.param
        params = request.params
        if name in params:
            token: str | None = params[name]
            params = {key: value for key, value in params.items() if key != name}
        else:
            token = query_value(request.delivery.query, name)
        request.signed = self.signer.verify(request.endpoint, params, token)

    def check_event(self, request: GuardRequest, event_name: str, provider: EventNames) -> None:
        """Refuse (403 ``event_mismatch``) a delivery whose parsed event is not the ``{event}``
        its URL was signed for.

        A sender such as Kazoo only ever calls a URL with the event it was registered for, so
        another event on it is a forgery with a leaked or reused token, or a hook registered
        with the wrong URL: either way no handler may see it under the signed name.
        """
        segment = request.params.get("event")
        if segment is None or request.signed is None or self.signer.param == "event":
            return
        signed_for = provider.url_event_name(segment)
        if signed_for == event_name:
            return
        logger.error(
            "signed URL for %s on %s received a %s delivery: refused (a forged delivery with "
            "that URL's token, or a hook registered with another event's URL)",
            signed_for,
            request.endpoint,
            event_name,
        )
        raise NotVerified(
            "the delivery's event is not the one its URL was signed for", error="event_mismatch"
        )

    def __repr__(self) -> str:
        return f"SignedURLGuard({self.signer!r})"
