"""The framework-free core: a delivery in, a response out. No web framework is imported here."""

from .._lazy import lazy_names

# See hookreceiver/__init__.py: names load on first use; type checkers read this block.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .delivery import Delivery, Headers
    from .events import DeliveryContext, GenericEvent, ParsedEvent
    from .outcome import Outcome, Response
    from .receiver import Receiver
    from .routing import Endpoint, Route

_LAZY = {
    "Delivery": "delivery",
    "DeliveryContext": "events",
    "Endpoint": "routing",
    "GenericEvent": "events",
    "Headers": "delivery",
    "Outcome": "outcome",
    "ParsedEvent": "events",
    "Receiver": "receiver",
    "Response": "outcome",
    "Route": "routing",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())


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
