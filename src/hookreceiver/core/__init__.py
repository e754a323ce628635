"""The framework-free core: a delivery in, a response out. No web framework is imported here."""

from .delivery import Delivery, Headers
from .events import DeliveryContext, GenericEvent, ParsedEvent
from .outcome import Outcome, Response
from .receiver import Receiver
from .routing import Endpoint, Route

__all__ = [
    "Delivery",
    "DeliveryContext",
    "Endpoint",
    "GenericEvent",
    "Headers",
    "Outcome",
    "ParsedEvent",
    "Receiver",
    "Response",
    "Route",
]
