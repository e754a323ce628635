"""Signed-URL tokens out of logs: a :class:`logging.Filter` for servers' access logs.

A signed callback URL is a credential, and every server logs the URL of each request: uvicorn's
``uvicorn.access`` (the path and query in the record's ``args`` tuple), gunicorn's
``gunicorn.access`` and hypercorn's and granian's access loggers (a dict of "atoms" as
``args``: the request line, the path, the query), werkzeug's development server (the request
line). :class:`RedactTokens` rewrites those values before any handler formats them:

* a path segment shaped like a token (itsdangerous' ``payload.signature``, both URL-safe
  base64, the signature at least 27 characters, the payload optionally starting with ``.``
  when compressed) becomes ``[redacted]``: ``/hooks/kazoo/channel_create/[redacted]``;
* the value of a token query parameter (``token=`` by default) becomes ``[redacted]``.

Neither needs the signing keys: tokens are found by their shape and place, so one filter
serves every signer, and a token of a rotated-out key is hidden as well.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping

from ..errors import ConfigurationError

__all__ = ["ACCESS_LOGGERS", "REDACTED", "RedactTokens", "redact_access_logs"]

#: What a token is replaced with.
REDACTED = "[redacted]"

#: The loggers that carry request URLs: the servers' access logs, werkzeug's development
#: server, and hookreceiver's own (which logs a path only on an unexpected error).
ACCESS_LOGGERS = (
    "uvicorn.access",
    "gunicorn.access",
    "hypercorn.access",
    "granian.access",
    "werkzeug",
    "hookreceiver",
)

# itsdangerous' URLSafeSerializer: base64url(payload) "." base64url(HMAC). SHA-256 gives a
# 43-character signature; 27 (SHA-1) is the shortest any configuration makes.
_SEGMENT_TOKEN = re.compile(r"(?<=/)\.?[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{27,}(?=[/?#\s\"']|$)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class RedactTokens(logging.Filter):
    """Hide signed-URL tokens in log records' message and arguments (it never drops one).

    Attach it to the loggers that print URLs (see :func:`redact_access_logs`), or name it in a
    logging configuration: ``{"filters": {"redact": {"()":
    "hookreceiver.security.RedactTokens"}}}`` on the access log's handler.

    Args:
        params: the query parameters that carry tokens (``URLSigner(param=...)``; ``token``
            by default).

    Raises:
        ConfigurationError: a parameter name is not an identifier.
    """

    def __init__(self, params: Iterable[str] = ("token",)) -> None:
        super().__init__()
        names = [params] if isinstance(params, str) else list(params)
        if not names or not all(_NAME.fullmatch(name) for name in names):
            raise ConfigurationError(f"token parameters must be identifiers, not {names!r}")
        self.params = tuple(dict.fromkeys(names))
        self._by_helper = False  # attached by redact_access_logs(), which replaces its own
        alternatives = "|".join(re.escape(name) for name in self.params)
        # At the start of a value (a bare query string, as gunicorn's %(q)s holds it) or after
        # ? & ; (a URL or request line); the value runs to the next separator.
        self._query = re.compile(
            rf"(?:^|(?<=[?&;]))((?:{alternatives})=)[^&#;\s\"']*", re.IGNORECASE
        )

    def redact(self, text: str) -> str:
        """``text`` with every token replaced by ``[redacted]``."""
        if "=" in text:
            text = self._query.sub(rf"\g<1>{REDACTED}", text)
        if "." in text:
            text = _SEGMENT_TOKEN.sub(REDACTED, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; always keep it."""
        if isinstance(record.msg, str):
            record.msg = self.redact(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(self.redact(a) if isinstance(a, str) else a for a in args)
        elif isinstance(args, dict):
            # gunicorn's and granian's atoms are dict subclasses whose look-ups format missing
            # keys as "-": changed in place, they keep doing so.
            for key, value in list(args.items()):
                if isinstance(value, str):
                    args[key] = self.redact(value)
        elif isinstance(args, Mapping):
            record.args = {
                key: self.redact(value) if isinstance(value, str) else value
                for key, value in args.items()
            }
        return True

    def __repr__(self) -> str:
        return f"RedactTokens(params={self.params!r})"


def redact_access_logs(
    params: Iterable[str] = ("token",), loggers: Iterable[str] = ACCESS_LOGGERS
) -> RedactTokens:
    """Attach one :class:`RedactTokens` to each of ``loggers`` (the access logs of uvicorn,
    gunicorn, hypercorn, granian, werkzeug, and hookreceiver's own) and return it.

    Call it where the app is built (the module the server imports): servers configure their
    loggers before importing the app, and a logger keeps its filters across that
    configuration. Calling it again replaces the filter it attached before.
    """
    redactor = RedactTokens(params)
    redactor._by_helper = True
    for name in loggers:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, RedactTokens) and f._by_helper]:
            logger.removeFilter(old)
        logger.addFilter(redactor)
    return redactor


def redact_own_log(param: str) -> None:
    """Make sure hookreceiver's own log (which names a request's path on an unexpected error)
    hides tokens carried in ``param``: signed-URL guards call it when they are built."""
    logger = logging.getLogger("hookreceiver")
    if not any(isinstance(f, RedactTokens) and param in f.params for f in logger.filters):
        logger.addFilter(RedactTokens([param]))
