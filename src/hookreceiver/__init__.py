"""hookreceiver: receive fax, SMS and telephony webhooks safely, quickly and exactly once.

A :class:`Receiver` holds endpoints (a path and a provider), handlers and a dedup store; mount it
with :meth:`Receiver.asgi_middleware` or :meth:`Receiver.wsgi_middleware`.
"""

from __future__ import annotations

from . import providers
from .core.delivery import Delivery, Headers
from .core.events import DeliveryContext, GenericEvent, ParsedEvent
from .core.outcome import Outcome, Response
from .core.receiver import Receiver
from .core.routing import Endpoint, Route
from .errors import (
    ConfigurationError,
    DeliveryRejected,
    HookReceiverError,
    InvalidPayload,
    MalformedBody,
    MethodNotAllowed,
    NotVerified,
    PayloadTooLarge,
    StoreUnavailable,
    UnknownEvent,
    UnsupportedMediaType,
)
from .parsing.attachment import Attachment
from .security import BasicAuth, IPAllowlist, StandardWebhooks, TrustedProxies, URLSigner

__version__ = "0.1.0"

__all__ = [
    "Attachment",
    "BasicAuth",
    "ConfigurationError",
    "Delivery",
    "DeliveryContext",
    "DeliveryRejected",
    "Endpoint",
    "GenericEvent",
    "Headers",
    "HookReceiverError",
    "IPAllowlist",
    "InvalidPayload",
    "MalformedBody",
    "MethodNotAllowed",
    "NotVerified",
    "Outcome",
    "ParsedEvent",
    "PayloadTooLarge",
    "Receiver",
    "Response",
    "Route",
    "StandardWebhooks",
    "StoreUnavailable",
    "TrustedProxies",
    "URLSigner",
    "UnknownEvent",
    "UnsupportedMediaType",
    "providers",
]
