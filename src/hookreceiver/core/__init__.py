"""The framework-free core: a delivery in, a response out. No web framework is imported here."""

from .._lazy import lazy_names

# The Delivery value type lives at the bottom layer (hookreceiver.delivery); re-exported here,
# where it always was. It imports nothing but the standard library.
from ..delivery import Delivery, Headers

# See hookreceiver/__init__.py: names load on first use; type checkers read this block.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .events import DeliveryContext, ParsedEvent
    from .generic import GenericEvent
    from .outcome import Outcome, Response
    from .routing import Endpoint, Route

_LAZY = {
    "DeliveryContext": "events",
    "Endpoint": "routing",
    "GenericEvent": "generic",
    "Outcome": "outcome",
    "ParsedEvent": "events",
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
    "Response",
    "Route",
]
