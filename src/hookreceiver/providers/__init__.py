"""One module per provider, over a shared :class:`~hookreceiver.providers.base.Provider`.

Providers: :class:`Documo`, :class:`FaxPlus`, :class:`Updox`, :class:`Wirecloud` (alias
:data:`Kazoo`) and :class:`Zipwhip`. Each module (``providers.documo`` ...) also holds the typed
models of its events. :mod:`~hookreceiver.providers.normalized` holds the cross-provider views
(:class:`FaxEvent`, :class:`MessageEvent`, :class:`CallEvent`).
"""

from .base import Provider
from .documo import Documo
from .faxplus import FaxPlus
from .normalized import CallEvent, FaxEvent, MessageEvent
from .updox import Updox
from .wirecloud import Kazoo, Wirecloud
from .zipwhip import Zipwhip

__all__ = [
    "CallEvent",
    "Documo",
    "FaxEvent",
    "FaxPlus",
    "Kazoo",
    "MessageEvent",
    "Provider",
    "Updox",
    "Wirecloud",
    "Zipwhip",
]
