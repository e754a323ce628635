"""Serve a WSGI app with the standard library, for runs where gunicorn is not installed."""

from __future__ import annotations

import importlib
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """No access log."""


def main() -> None:
    """``wsgiref_server.py module:attribute port``."""
    target, port = sys.argv[1], int(sys.argv[2])
    module, _, attribute = target.partition(":")
    app = getattr(importlib.import_module(module), attribute)
    make_server("127.0.0.1", port, app, handler_class=_Quiet).serve_forever()


if __name__ == "__main__":
    main()
