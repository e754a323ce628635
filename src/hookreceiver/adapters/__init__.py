"""Thin translation layers from ASGI and WSGI to the framework-free core."""

from .asgi import ASGIMiddleware, ClientDisconnected
from .wsgi import WSGIMiddleware

__all__ = ["ASGIMiddleware", "ClientDisconnected", "WSGIMiddleware"]
