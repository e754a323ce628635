"""The hookreceiver pytest plugin, loaded through the ``pytest11`` entry point.

Fixtures (override any of them in your ``conftest.py``):

- ``webhook_app``: what deliveries are sent to. Override it to return your ``Receiver``, ASGI
  app, WSGI app or a base URL; by default the test fails, saying so.
- ``deliver``: a :class:`~hookreceiver.testing.WebhookClient` for ``webhook_app``; call it with
  a simulated delivery (``deliver(documo.fax_inbound(pages=3))``) to get the response and the
  handler calls.
- ``adeliver``: the same from async tests (``await adeliver(...)``).
- ``send_with_retries``: ``send_with_retries(delivery, **options)`` sends a delivery through
  its provider's retry schedule on ``webhook_clock`` (see
  :func:`hookreceiver.testing.send_with_retries`). ``replay`` is its deprecated old name.
- ``webhook_clock``: a fresh :class:`~hookreceiver.testing.FakeClock`.
- ``webhook_store``: a fresh :class:`~hookreceiver.stores.MemoryStore` on ``webhook_clock``.

This module imports only pytest: everything else is imported inside the fixtures, so a test run
that uses none of them pays nothing for the plugin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..stores.memory import MemoryStore
    from .factories._base import SimulatedDelivery
    from .retries import FakeClock, RetryRun
    from .send import DeliveryResult, WebhookClient

__all__ = [
    "adeliver",
    "deliver",
    "replay",
    "send_with_retries",
    "webhook_app",
    "webhook_clock",
    "webhook_store",
]


@pytest.fixture
def webhook_clock() -> FakeClock:
    """A clock that moves only when the test (or ``replay``) advances it."""
    from .retries import FakeClock

    return FakeClock()


@pytest.fixture
def webhook_store(webhook_clock: FakeClock) -> MemoryStore:
    """A fresh in-memory dedup store whose leases and retention follow ``webhook_clock``."""
    from ..stores.memory import MemoryStore

    return MemoryStore(clock=webhook_clock)


@pytest.fixture
def webhook_app() -> Any:
    """The app deliveries go to: override this fixture to return yours."""
    pytest.fail(
        "hookreceiver: define a `webhook_app` fixture returning your Receiver, ASGI app, "
        "WSGI app or base URL; the deliver, adeliver and replay fixtures send to it",
        pytrace=False,
    )


@pytest.fixture
def deliver(webhook_app: Any) -> WebhookClient:
    """Send simulated deliveries to ``webhook_app``: ``deliver(documo.fax_inbound())``."""
    from .send import WebhookClient

    return WebhookClient(webhook_app)


@pytest.fixture
def adeliver(deliver: WebhookClient) -> Callable[..., Awaitable[DeliveryResult]]:
    """``await adeliver(delivery)``: :meth:`WebhookClient.asend` of the ``deliver`` client."""
    return deliver.asend


@pytest.fixture
def send_with_retries(deliver: WebhookClient, webhook_clock: FakeClock) -> Callable[..., RetryRun]:
    """``send_with_retries(delivery)``: the delivery through its provider's retry schedule, in
    ``webhook_clock`` time."""
    from .retries import send_with_retries as run

    def send(delivery: SimulatedDelivery, **options: Any) -> RetryRun:
        options.setdefault("clock", webhook_clock)
        return run(delivery, deliver, **options)

    return send


@pytest.fixture
def replay(send_with_retries: Callable[..., RetryRun]) -> Callable[..., RetryRun]:
    """Deprecated: the ``send_with_retries`` fixture."""
    import warnings

    warnings.warn(
        "the 'replay' fixture is deprecated: use 'send_with_retries' (the same fixture)",
        DeprecationWarning,
        stacklevel=2,
    )
    return send_with_retries
