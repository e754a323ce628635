"""One module per provider, over a shared :class:`~hookreceiver.providers.base.Provider`."""

from .base import Provider
from .faxplus import FaxPlus

__all__ = ["FaxPlus", "Provider"]
