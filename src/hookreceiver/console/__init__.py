"""The operator's web console: see, search and replay the inbox's deliveries in a browser.

A pure ASGI app, server-rendered with Jinja2 (``pip install 'hookreceiver[console]'``), plain
CSS, no script and nothing loaded from outside::

    from starlette.routing import Mount

    console = hooks.console_app(auth=ConsoleAuth.from_env("HOOKRECEIVER_CONSOLE_AUTH"))
    app = Starlette(routes=[Mount("/console", app=console)], middleware=[...])

It reads the receiver's inbox (SQLite or PostgreSQL) and runs its handlers for a replay.
Everyone is authenticated (basic-auth pairs of two roles, or the app's own ``authorize``
callable); actions are CSRF-protected POSTs checked for their origin and logged with who did
them; every value shown is escaped and a Content-Security-Policy forbids script. See
``docs/console.md``.
"""

from __future__ import annotations

from .app import CSP, ConsoleApp
from .auth import ConsoleAuth, ConsoleRequest, Identity
from .wsgi import ConsoleWSGI

__all__ = ["CSP", "ConsoleApp", "ConsoleAuth", "ConsoleRequest", "ConsoleWSGI", "Identity"]
