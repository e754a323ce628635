"""Simulated deliveries for testing webhook handlers: every provider's events, byte for byte.

::

    from hookreceiver.testing import WebhookClient, documo

    client = WebhookClient(app)                  # a Receiver, an ASGI or WSGI app, or a URL
    result = client.send(documo.fax_inbound(pages=3))
    assert result.status == 200
    assert result.calls[0].handler is fax_in     # which handlers ran, with which events

- Factories (``documo``, ``faxplus``, ``updox``, ``wirecloud``, ``zipwhip``): one function per
  event, building the request exactly as the provider sends it; every field can be overridden
  by keyword. :func:`make` finds any provider's factories by name, from the registry of
  providers (:data:`PROVIDERS`).
- Sending (:class:`WebhookClient`, :func:`deliver`, :func:`send_http`): in-process through the
  real adapters, or over HTTP to a running server.
- Retries (:func:`send_with_retries`, :class:`FakeClock`): a delivery sent again on its
  provider's retry schedule in simulated time; :func:`duplicate` and :func:`out_of_order` for
  the rest.
- The pytest plugin (``hookreceiver.testing.plugin``, loaded automatically) offers the
  ``deliver``, ``adeliver``, ``send_with_retries``, ``webhook_app``, ``webhook_store`` and
  ``webhook_clock`` fixtures.

Names are imported on first use, so importing this package costs nothing until then.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .factories import (
        PROVIDERS,
        UnknownName,
        documo,
        factory,
        faxplus,
        make,
        seed,
        updox,
        wirecloud,
        zipwhip,
    )
    from .factories._base import SimulatedDelivery
    from .forward import Forwarder, LocalGuards, StoredDelivery
    from .pdf import make_pdf
    from .retries import (
        Attempt,
        FakeClock,
        RetryRun,
        RetrySchedule,
        areplay,
        asend_with_retries,
        duplicate,
        out_of_order,
        replay,
        schedule_for,
        send_with_retries,
    )
    from .send import (
        CapturedFile,
        DeliveryResult,
        HandlerCall,
        TransportError,
        WebhookClient,
        adeliver,
        deliver,
        find_receiver,
        send_http,
    )

__all__ = [
    "Attempt",
    "CapturedFile",
    "DeliveryResult",
    "FakeClock",
    "Forwarder",
    "HandlerCall",
    "LocalGuards",
    "PROVIDERS",
    "RetryRun",
    "RetrySchedule",
    "SimulatedDelivery",
    "StoredDelivery",
    "TransportError",
    "UnknownName",
    "WebhookClient",
    "adeliver",
    "areplay",
    "asend_with_retries",
    "deliver",
    "documo",
    "duplicate",
    "factory",
    "faxplus",
    "find_receiver",
    "make",
    "make_pdf",
    "out_of_order",
    "replay",
    "schedule_for",
    "seed",
    "send_http",
    "send_with_retries",
    "updox",
    "wirecloud",
    "zipwhip",
]

_WHERE = {
    **dict.fromkeys(
        (
            "PROVIDERS",
            "UnknownName",
            "documo",
            "factory",
            "faxplus",
            "make",
            "seed",
            "updox",
            "wirecloud",
            "zipwhip",
        ),
        ".factories",
    ),
    "SimulatedDelivery": ".factories._base",
    "make_pdf": ".pdf",
    **dict.fromkeys(("Forwarder", "LocalGuards", "StoredDelivery"), ".forward"),
    **dict.fromkeys(
        (
            "Attempt",
            "FakeClock",
            "RetryRun",
            "RetrySchedule",
            "areplay",
            "asend_with_retries",
            "duplicate",
            "out_of_order",
            "replay",
            "schedule_for",
            "send_with_retries",
        ),
        ".retries",
    ),
    **dict.fromkeys(
        (
            "CapturedFile",
            "DeliveryResult",
            "HandlerCall",
            "TransportError",
            "WebhookClient",
            "adeliver",
            "deliver",
            "find_receiver",
            "send_http",
        ),
        ".send",
    ),
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
