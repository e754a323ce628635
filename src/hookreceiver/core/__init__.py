"""The framework-free core: a delivery in, a response out. No web framework is imported here."""

import importlib

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


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
