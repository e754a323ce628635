"""The console under WSGI (Flask, Django): the same ASGI app, each request run on the
process's one background event loop (:mod:`hookreceiver.core.loop`), as async handlers are.

Mount it with Werkzeug's ``DispatcherMiddleware(app, {"/console": console})`` or any WSGI
router: links are built from ``SCRIPT_NAME``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from http import HTTPStatus
from typing import Any

from ..core.loop import run_in_background_loop
from .app import MAX_FORM, ConsoleApp

__all__ = ["ConsoleWSGI"]

StartResponse = Callable[..., Any]


class ConsoleWSGI:
    """A WSGI app serving :class:`ConsoleApp` (``Receiver.console_wsgi_app`` builds one)."""

    def __init__(self, app: ConsoleApp) -> None:
        self.app = app

    def __call__(
        self, environ: MutableMapping[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        root = environ.get("SCRIPT_NAME", "")
        headers = [
            (name[5:].replace("_", "-").lower().encode("latin-1"), str(value).encode("latin-1"))
            for name, value in environ.items()
            if name.startswith("HTTP_")
        ]
        for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(name):
                headers.append((name.replace("_", "-").lower().encode(), environ[name].encode()))
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        # One byte past the limit at most: the app answers 413 for a form that large.
        body = environ["wsgi.input"].read(min(length, MAX_FORM + 1)) if length > 0 else b""
        scope = {
            "type": "http",
            "method": environ["REQUEST_METHOD"],
            "root_path": root,
            "path": root + environ.get("PATH_INFO", ""),
            "query_string": environ.get("QUERY_STRING", "").encode("latin-1"),
            "headers": headers,
            "client": (environ.get("REMOTE_ADDR", ""), 0),
        }
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        run_in_background_loop(self.app(scope, receive, send))
        status = int(sent[0]["status"])
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in sent[0]["headers"]],
        )
        return [b"".join(m.get("body", b"") for m in sent[1:])]
