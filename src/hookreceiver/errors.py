"""Exceptions raised by hookreceiver.

Every exception derives from :class:`HookReceiverError`::

    HookReceiverError
    ├── ConfigurationError         the receiver was set up wrongly (raised at start-up)
    ├── StoreUnavailable           a dedup store or inbox could not be reached
    └── DeliveryRejected           one delivery is answered with a 4xx (or 5xx) and no handler runs
        ├── MethodNotAllowed       405: known path, method not accepted (carries ``Allow``)
        ├── NotVerified            401/403: the sender could not be verified
        ├── PayloadTooLarge        413: the body (or one part of it) is over its limit
        ├── RequestTimeout         408: the body did not arrive in time (ASGI)
        ├── UnsupportedMediaType   415: the content type is not one the provider sends
        ├── MalformedBody          400: the body cannot be decoded (bad JSON, broken multipart)
        ├── InvalidPayload         400: the body decoded, but does not validate for its event
        └── UnknownEvent           422: strict endpoint, event name not known

``DeliveryRejected`` carries what the response needs: the status, a short machine-readable
``error`` code and a human ``detail``. Neither ever contains a secret or a client-supplied
credential, so both are safe to send back and to log.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DeliveryRejected",
    "HookReceiverError",
    "InvalidPayload",
    "MalformedBody",
    "MethodNotAllowed",
    "NotVerified",
    "PayloadTooLarge",
    "RequestTimeout",
    "StoreUnavailable",
    "UnknownEvent",
    "UnsupportedMediaType",
]


class HookReceiverError(Exception):
    """Root of every exception hookreceiver raises."""


class ConfigurationError(HookReceiverError):
    """Raised at start-up when endpoints, providers or security are configured wrongly."""


class StoreUnavailable(HookReceiverError):
    """Raised by a store when its backend (Redis, PostgreSQL, a file) cannot be reached.

    The receiver answers the provider's retry status (usually 503) and marks nothing.
    """


class DeliveryRejected(HookReceiverError):
    """One delivery is refused before any handler runs.

    Args:
        detail: a short, human explanation; never contains secrets.
        headers: extra response headers (``Allow``, ``WWW-Authenticate``).
        event: the full event name, when it was known before the refusal (an invalid payload
            of a known event): a quarantined delivery keeps it.
    """

    status: int = 400
    error: str = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        error: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        event: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.event = event
        if status is not None:
            self.status = status
        if error is not None:
            self.error = error
        self.headers = headers


class MethodNotAllowed(DeliveryRejected):
    """405: the path is an endpoint, but not for this HTTP method."""

    status = 405
    error = "method_not_allowed"


class NotVerified(DeliveryRejected):
    """401 (missing or wrong credentials) or 403 (address, token or signature refused)."""

    status = 403
    error = "forbidden"


class PayloadTooLarge(DeliveryRejected):
    """413: the body, a part or a file is over its configured limit; the rest is not read."""

    status = 413
    error = "payload_too_large"


class RequestTimeout(DeliveryRejected):
    """408: the body did not arrive within the receiver's ``body_timeout``; the connection is
    closed (a stalled upload must not hold it open)."""

    status = 408
    error = "request_timeout"


class UnsupportedMediaType(DeliveryRejected):
    """415: the ``Content-Type`` is not one this provider sends."""

    status = 415
    error = "unsupported_media_type"


class MalformedBody(DeliveryRejected):
    """400: the body cannot be decoded as its content type says."""

    status = 400
    error = "malformed_body"


class InvalidPayload(DeliveryRejected):
    """400: the body decoded, but does not validate against the event's model."""

    status = 400
    error = "invalid_payload"


class UnknownEvent(DeliveryRejected):
    """422: the endpoint is strict and the event name is not one the provider documents."""

    status = 422
    error = "unknown_event"
