"""A Standard Webhooks HMAC guard, for senders that do sign (https://www.standardwebhooks.com).

The sender puts three headers on each delivery: ``webhook-id``, ``webhook-timestamp`` (Unix
seconds) and ``webhook-signature`` (space-separated ``v1,<base64 HMAC-SHA256>``, several while
the sender rotates its secret) over ``{id}.{timestamp}.{body}``.

Everything but the HMAC is checked before the body is read (headers present and well formed,
timestamp inside the tolerance window), so a stale or unsigned request costs no body read. The
HMAC itself is checked once the body is in. Replays inside the window are the dedup store's job:
use ``webhook-id`` in the provider's idempotency key.

The signature covers the body exactly as received. A multipart body (a Documo fax) is streamed
to its parts and, when a guard needs it, to a spooled copy of its bytes (on disk past 1 MiB),
which :meth:`StandardWebhooks.check_body_stream` reads in chunks: memory stays flat.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import ConfigurationError, NotVerified
from .base import GuardBase, GuardOrder, GuardRequest
from .env import secrets_from_env

__all__ = ["StandardWebhooks"]

_PREFIX = "whsec_"
_MIN_SECRET_BYTES = 16
_MAX_ID = 256
# Visible ASCII but "." (it would let id/timestamp/body boundaries shift) and "," (a WSGI server
# joins duplicated headers with commas, so "a,b" is two ids).
_ID = re.compile(r"[\x21-\x2b\x2d\x2f-\x7e]+")
_MAX_SIGNATURE_HEADER = 4096
_DIGEST_SIZE = hashlib.sha256().digest_size


def _secret(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        secret = value
    else:
        text = value.removeprefix(_PREFIX)
        try:
            secret = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigurationError(
                "Standard Webhooks secrets are base64, optionally prefixed 'whsec_'"
            ) from None
    if len(secret) < _MIN_SECRET_BYTES:
        raise ConfigurationError(f"HMAC secrets must be at least {_MIN_SECRET_BYTES} bytes")
    return secret


def _refuse(detail: str) -> NotVerified:
    return NotVerified(detail, error="invalid_signature")


class StandardWebhooks(GuardBase):
    """Verify Standard Webhooks signatures (403 ``invalid_signature`` on failure).

    Args:
        secrets: the accepted secrets: ``"whsec_<base64>"`` strings (as senders show them),
            bare base64, or raw bytes. Several while rotating; the first signs in :meth:`sign`.
        tolerance: seconds a timestamp may be off from now, either way (5 minutes by default).
        clock: returns the current Unix time; pass your own in tests.
        header_prefix: the headers' prefix (``"webhook-"``; ``"svix-"`` for Svix senders).

    Raises:
        ConfigurationError: no secret, a secret that is not base64 or shorter than 16 bytes.
    """

    order = GuardOrder.BODY_SIGNATURE
    needs_body = True

    def __init__(
        self,
        secrets: str | bytes | Iterable[str | bytes],
        *,
        tolerance: float = 300.0,
        clock: Callable[[], float] = time.time,
        header_prefix: str = "webhook-",
    ) -> None:
        listed = [secrets] if isinstance(secrets, (str, bytes)) else list(secrets)
        self._secrets = [_secret(value) for value in listed]
        if not self._secrets:
            raise ConfigurationError("the HMAC guard needs at least one secret")
        if not tolerance > 0:
            raise ConfigurationError("tolerance must be a positive number of seconds")
        self.tolerance = tolerance
        self.clock = clock
        prefix = header_prefix.lower()
        self._id_header = prefix + "id"
        self._timestamp_header = prefix + "timestamp"
        self._signature_header = prefix + "signature"

    @classmethod
    def from_env(
        cls, name: str, *, environ: Mapping[str, str] | None = None, **options: Any
    ) -> StandardWebhooks:
        """Read the secrets, comma-separated, from environment variable ``name``."""
        return cls(secrets_from_env(name, environ=environ), **options)

    def sign(self, msg_id: str, timestamp: int, body: bytes) -> str:
        """The ``webhook-signature`` value a sender would send (with the first secret)."""
        digest = self._digest(self._secrets[0], msg_id, str(timestamp), body)
        return "v1," + base64.b64encode(digest).decode()

    @staticmethod
    def _digest(secret: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
        signed = f"{msg_id}.{timestamp}.".encode() + body
        return hmac.new(secret, signed, hashlib.sha256).digest()

    def _one(self, request: GuardRequest, name: str) -> str:
        values = request.delivery.headers.get_all(name)
        if len(values) != 1 or not values[0]:
            raise _refuse(f"exactly one {name} header required")
        return values[0]

    def _parse(self, request: GuardRequest) -> tuple[str, str, list[bytes]]:
        """The id, timestamp and candidate ``v1`` signatures; refuse malformed headers."""
        msg_id = self._one(request, self._id_header)
        timestamp = self._one(request, self._timestamp_header)
        header = self._one(request, self._signature_header)
        if len(msg_id) > _MAX_ID or not _ID.fullmatch(msg_id):
            raise _refuse(f"malformed {self._id_header}")
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
            raise _refuse(f"malformed {self._timestamp_header}")
        if len(header) > _MAX_SIGNATURE_HEADER:
            raise _refuse(f"malformed {self._signature_header}")
        signatures: list[bytes] = []
        for entry in header.split():
            version, _, encoded = entry.partition(",")
            if version != "v1":
                continue  # v1a (asymmetric) and future schemes: not ours to check
            try:
                signature = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                continue
            if len(signature) == _DIGEST_SIZE:
                signatures.append(signature)
        if not signatures:
            raise _refuse("no v1 signature")
        return msg_id, timestamp, signatures

    def check(self, request: GuardRequest) -> None:
        """Before the body: headers present and well formed, timestamp within tolerance."""
        _, timestamp, _ = self._parse(request)
        if abs(self.clock() - int(timestamp)) > self.tolerance:
            raise _refuse("timestamp outside the tolerance window")

    def check_body(self, request: GuardRequest, body: bytes) -> None:
        """After the body: one of the signatures matches one of the secrets."""
        self.check_body_stream(request, (body,))

    def check_body_stream(self, request: GuardRequest, chunks: Iterable[bytes]) -> None:
        """:meth:`check_body` over a body in chunks (a spooled multipart body): one running
        HMAC per secret, so the body is never held whole."""
        msg_id, timestamp, signatures = self._parse(request)
        prefix = f"{msg_id}.{timestamp}.".encode()
        macs = [hmac.new(secret, prefix, hashlib.sha256) for secret in self._secrets]
        for chunk in chunks:
            for mac in macs:
                mac.update(chunk)
        matched = False
        for mac in macs:
            expected = mac.digest()
            for signature in signatures:
                matched |= hmac.compare_digest(expected, signature)
        if not matched:
            raise _refuse("no signature matches")

    def __repr__(self) -> str:
        return f"StandardWebhooks(secrets=<{len(self._secrets)}>, tolerance={self.tolerance!r})"
