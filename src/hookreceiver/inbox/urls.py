"""Inboxes named by URL: the one meaning of ``HOOKRECEIVER_INBOX`` and ``--inbox``.

``sqlite:///relative/inbox.db``, ``sqlite:////absolute/inbox.db`` (the path after the third
slash, as SQLAlchemy writes it), ``postgresql://user@host/db``; ``?table=name`` picks another
table. Apps and the command line read the same value with :func:`open_inbox`, so
``hookreceiver inbox list`` finds the inbox the app writes to.
"""

from __future__ import annotations

import os
import warnings
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from .base import Inbox

__all__ = ["open_inbox"]


def open_inbox(url: str, **options: Any) -> Inbox:
    """The inbox ``url`` names: ``sqlite:///path`` or ``postgresql://...`` (``?table=``).

    ``options`` go to :class:`~hookreceiver.inbox.SQLiteInbox` or
    :class:`~hookreceiver.inbox.PostgresInbox` (``retry``, ``lease``, ...). A bare file path
    (what the examples' ``HOOKRECEIVER_INBOX`` used to be) is still read as a SQLite file, with
    a ``FutureWarning``: write ``sqlite:///path``.

    Raises:
        ValueError: an unknown scheme, a SQLite URL without a path, or a SQLite file whose
            directory does not exist.
    """
    text = url.strip()
    if "://" not in text and text:
        warnings.warn(
            f"an inbox is named by a URL: read the bare path {text!r} as "
            f"'sqlite:///{text}'; write that instead",
            FutureWarning,
            stacklevel=2,
        )
        text = f"sqlite:///{text}"
    parts = urlsplit(text)
    query = parse_qsl(parts.query, keep_blank_values=True)
    table = next((value for name, value in query if name == "table"), "hookreceiver_inbox")
    options = {"table": table, **options}
    if parts.scheme == "sqlite":
        from .sqlite import SQLiteInbox

        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if parts.netloc or not path:
            raise ValueError(
                f"a SQLite inbox URL is sqlite:///relative/path or sqlite:////absolute/path, "
                f"not {url!r}"
            )
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise ValueError(f"SQLite inbox {path}: the directory {directory} does not exist")
        return SQLiteInbox(path, **options)
    if parts.scheme in ("postgres", "postgresql"):
        from .postgres import PostgresInbox

        rest = urlencode([(name, value) for name, value in query if name != "table"])
        return PostgresInbox(urlunsplit(parts._replace(query=rest)), **options)
    raise ValueError(
        f"unknown inbox URL scheme {parts.scheme!r}: use sqlite:///path or postgresql://..."
    )
