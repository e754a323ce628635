"""hookreceiver: receive fax, SMS and telephony webhooks safely, quickly and exactly once.

A :class:`Receiver` holds endpoints (a path and a provider), handlers and a dedup store; mount it
with :meth:`Receiver.asgi_middleware` or :meth:`Receiver.wsgi_middleware`.
"""

from __future__ import annotations

import importlib

from ._lazy import lazy_names

# Not ``typing.TYPE_CHECKING``: importing typing alone costs about 9 ms. Type checkers treat any
# name ``TYPE_CHECKING`` as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from . import providers
    from .core.events import DeliveryContext, ParsedEvent
    from .core.generic import GenericEvent
    from .core.outcome import Outcome, Response
    from .core.routing import Endpoint, Route
    from .delivery import Delivery, Headers
    from .engine.verify import Verified
    from .errors import (
        ConfigurationError,
        DeliveryRejected,
        HookReceiverError,
        InvalidPayload,
        MalformedBody,
        MethodNotAllowed,
        NotVerified,
        PayloadTooLarge,
        RequestTimeout,
        StoreUnavailable,
        UnknownEvent,
        UnsupportedMediaType,
    )
    from .parsing.attachment import Attachment
    from .receiver import Receiver
    from .security import BasicAuth, IPAllowlist, StandardWebhooks, TrustedProxies, URLSigner

__version__ = "0.1.0"

# Each name is imported from its module on first use (PEP 562): ``import hookreceiver`` costs
# next to nothing, which matters since the pytest plugin imports it in every test run, and an
# app pays only for what it touches (bench/ measures the import).
_LAZY = {
    "Attachment": "parsing.attachment",
    "BasicAuth": "security",
    "ConfigurationError": "errors",
    "Delivery": "delivery",
    "DeliveryContext": "core.events",
    "DeliveryRejected": "errors",
    "Endpoint": "core.routing",
    "GenericEvent": "core.generic",
    "Headers": "delivery",
    "HookReceiverError": "errors",
    "IPAllowlist": "security",
    "InvalidPayload": "errors",
    "MalformedBody": "errors",
    "MethodNotAllowed": "errors",
    "NotVerified": "errors",
    "Outcome": "core.outcome",
    "ParsedEvent": "core.events",
    "PayloadTooLarge": "errors",
    "Receiver": "receiver",
    "RequestTimeout": "errors",
    "Response": "core.outcome",
    "Route": "core.routing",
    "StandardWebhooks": "security",
    "StoreUnavailable": "errors",
    "TrustedProxies": "security",
    "URLSigner": "security",
    "UnknownEvent": "errors",
    "UnsupportedMediaType": "errors",
    "Verified": "engine.verify",
}


_getattr, __dir__ = lazy_names(__name__, _LAZY, globals())


def __getattr__(name: str) -> object:
    if name == "providers":
        return importlib.import_module(f"{__name__}.providers")
    return _getattr(name)


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
    "RequestTimeout",
    "Response",
    "Route",
    "StandardWebhooks",
    "StoreUnavailable",
    "TrustedProxies",
    "URLSigner",
    "UnknownEvent",
    "UnsupportedMediaType",
    "Verified",
    "providers",
]
