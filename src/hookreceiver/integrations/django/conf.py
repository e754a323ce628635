"""The receiver the ``HOOKRECEIVER`` setting names, built once per process.

``HOOKRECEIVER["RECEIVER"]`` is the dotted path of a ``Receiver`` of yours (or of a function
returning one); without it, ``HOOKRECEIVER["BUILDER"]`` (default
``hookreceiver.contrib.django.receiver_from_settings``) builds one from the other keys. The
receiver gets one catch-all handler that sends the Django signals of each event.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver as on_signal
from django.utils.module_loading import import_string

from ...core.protocols import ReceiverState
from .signals import send_event

__all__ = ["BUILDER", "config", "get_receiver", "reset"]

#: What builds the receiver from settings when ``RECEIVER`` is not given: a module above the
#: ``Receiver`` facade, found by its dotted path (this app may not import the facade).
BUILDER = "hookreceiver.contrib.django.receiver_from_settings"

_receiver: ReceiverState | None = None
_lock = threading.Lock()


def config() -> dict[str, Any]:
    """The ``HOOKRECEIVER`` setting (a dict)."""
    value = getattr(settings, "HOOKRECEIVER", None)
    if not isinstance(value, dict):
        raise ImproperlyConfigured("set HOOKRECEIVER = {...} in your Django settings")
    return value


def _load() -> ReceiverState:
    options = config()
    target = options.get("RECEIVER")
    found: Any = import_string(str(target).replace(":", ".")) if target else None
    if found is None:
        found = import_string(options.get("BUILDER", BUILDER))
    if callable(found) and not isinstance(found, ReceiverState):
        found = found()
    if not isinstance(found, ReceiverState):
        raise ImproperlyConfigured(f"HOOKRECEIVER: {target or BUILDER} is not a Receiver")
    found.handlers.add("*", send_event)
    return found


def get_receiver() -> ReceiverState:
    """The receiver of this process (built on first use)."""
    global _receiver
    if _receiver is None:
        with _lock:
            if _receiver is None:
                _receiver = _load()
    return _receiver


def reset() -> None:
    """Forget the receiver (the next call builds it again): tests that change settings."""
    global _receiver
    with _lock:
        _receiver = None


@on_signal(setting_changed)
def _setting_changed(setting: str, **kwargs: Any) -> None:
    if setting == "HOOKRECEIVER":
        reset()
