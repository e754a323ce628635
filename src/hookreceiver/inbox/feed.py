"""The inbox feed: the deliveries an inbox keeps, over authenticated HTTP, for
``hookreceiver forward``.

A deployed receiver mounts :class:`InboxFeed` (``hooks.inbox_feed_app(auth=token)``) and a
developer's ``hookreceiver forward --from https://hooks.example.com/_feed --token ...`` reads
it, to send each delivery again to an app on their laptop. Mount it under any path::

    app = Starlette(routes=[Mount("/_hookreceiver/feed", app=hooks.inbox_feed_app(
        auth=os.environ["HOOKRECEIVER_FEED_TOKEN"]))])
    # Flask / Django: hooks.inbox_feed_app(auth=...).wsgi, e.g. in a DispatcherMiddleware

Its routes, exactly these paths relative to where it is mounted (ASGI ``root_path``, WSGI
``SCRIPT_NAME``; any other path is a 404), all ``GET`` with
``Authorization: Bearer <token>``:

- ``/deliveries?after=CURSOR&limit=N``: the deliveries received after ``CURSOR`` (from the
  first when omitted), oldest first, with their bodies: ``{"deliveries": [...], "cursor": C}``,
  ``C`` to pass as ``after`` next time. At most ``N`` (500) deliveries and at most
  ``max_page_bytes`` of JSON (a first delivery larger than that comes alone), so a page can
  be shorter than ``N`` with more to come: a reader is caught up when a page is empty.
- ``/deliveries/ID``: one delivery, or 404.
- ``/cursor``: ``{"cursor": C}`` for the delivery received last: what to follow from.

Nothing secret crosses it: the inbox stores no credential (no ``Authorization`` or cookie, a
signed URL's token as ``***``), and the feed's own token is compared in constant time, never
logged or echoed. A wrong or missing token is answered 401, without saying which.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from .._asgi import acknowledge_lifespan
from ..core.outcome import Response, error_response
from ..errors import ConfigurationError, StoreUnavailable
from .base import Inbox
from .records import InboxRecord, InboxState, StoredFile

__all__ = [
    "DEFAULT_PAGE_BYTES",
    "InboxFeed",
    "decode_cursor",
    "encode_cursor",
    "record_from_json",
    "record_to_json",
]

logger = logging.getLogger("hookreceiver")

_MIN_TOKEN = 16
_MAX_LIMIT = 500
#: The default most bytes of one page of ``/deliveries`` (16 MiB of JSON).
DEFAULT_PAGE_BYTES = 16 * 1024 * 1024
_PAGE_OVERHEAD = 256  # the page's own keys and its cursor
_CHALLENGE = (("www-authenticate", 'Bearer realm="hookreceiver-feed"'),)


def encode_cursor(position: tuple[float, str] | None) -> str:
    """A feed cursor (``received_at`` and id) as an opaque string; ``""`` for the start."""
    if position is None:
        return ""
    at, record_id = position
    return f"{at!r}~{record_id}"


def decode_cursor(text: str) -> tuple[float, str] | None:
    """The ``(received_at, id)`` of a cursor from :func:`encode_cursor`.

    Raises:
        ValueError: not a cursor.
    """
    if not text:
        return None
    at, sep, record_id = text.partition("~")
    if not sep or not record_id or not record_id.isprintable():
        raise ValueError("malformed cursor")
    value = float(at)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("malformed cursor")
    return value, record_id


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def record_to_json(record: InboxRecord) -> dict[str, Any]:
    """Everything of a stored delivery as JSON values, bytes in base64 (what the feed sends)."""
    return record.details(body=_b64, file=lambda f: {"data": _b64(f.data)})


def _text_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError("not_replayable is a text")


def record_from_json(data: Mapping[str, Any]) -> InboxRecord:
    """The :class:`InboxRecord` :func:`record_to_json` describes.

    Raises:
        ValueError: a field is missing or of the wrong kind.
    """
    try:
        return InboxRecord(
            id=str(data["id"]),
            state=InboxState(data["state"]),
            endpoint=str(data["endpoint"]),
            provider=str(data["provider"]),
            event_name=data.get("event"),
            key=data.get("key"),
            received_at=float(data["received_at"]),
            updated_at=float(data["updated_at"]),
            attempts=int(data["attempts"]),
            next_attempt_at=float(data["next_attempt_at"]),
            last_error=data.get("last_error"),
            size=int(data["size"]),
            method=str(data["method"]),
            path=str(data["path"]),
            query=str(data["query"]),
            headers=tuple((str(k), str(v)) for k, v in data["headers"]),
            client=data.get("client"),
            params={str(k): str(v) for k, v in data["params"].items()},
            content_type=str(data["content_type"]),
            body=base64.b64decode(data["body"], validate=True),
            fields={str(k): str(v) for k, v in data["fields"].items()},
            files=tuple(
                StoredFile(
                    str(f["field"]),
                    f.get("filename"),
                    str(f["content_type"]),
                    base64.b64decode(f["data"], validate=True),
                )
                for f in data["files"]
            ),
            signed=data.get("signed"),
            basic_auth=data.get("basic_auth") is True,
            not_replayable=_text_or_none(data.get("not_replayable")),
        )
    except (KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise ValueError(f"not a stored delivery: {type(exc).__name__} {exc}") from None


def _tokens(auth: str | Sequence[str]) -> tuple[bytes, ...]:
    listed = [auth] if isinstance(auth, str) else list(auth)
    if not listed:
        raise ConfigurationError("the inbox feed needs at least one token (auth=...)")
    if any(not isinstance(t, str) or len(t) < _MIN_TOKEN for t in listed):
        raise ConfigurationError(
            f"inbox feed tokens must be strings of at least {_MIN_TOKEN} characters "
            "(secrets.token_urlsafe(32))"
        )
    return tuple(hashlib.sha256(t.encode()).digest() for t in listed)


class InboxFeed:
    """An ASGI app (and, as :attr:`wsgi`, a WSGI app) serving an inbox's deliveries to
    holders of a bearer token. See the module's docstring for its routes.

    Args:
        inbox: the inbox to serve.
        auth: the accepted bearer tokens (at least 16 characters; several while rotating).
        max_page_bytes: the most a page of ``/deliveries`` weighs (its JSON, bodies in
            base64); a page stops before the record that would pass it, except its first,
            which goes whatever its size. Records are loaded about as many as fit.
    """

    def __init__(
        self,
        inbox: Inbox,
        *,
        auth: str | Sequence[str],
        max_page_bytes: int = DEFAULT_PAGE_BYTES,
    ) -> None:
        if max_page_bytes <= _PAGE_OVERHEAD:
            raise ConfigurationError(f"max_page_bytes must be over {_PAGE_OVERHEAD} bytes")
        self.inbox = inbox
        self.max_page_bytes = max_page_bytes
        self._digests = _tokens(auth)

    # The decisions, once for both interfaces ---------------------------------------------

    def _allowed(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").strip().partition(" ")
        candidate = hashlib.sha256(token.strip().encode("utf-8", "replace")).digest()
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(candidate, digest)
        return scheme.lower() == "bearer" and matched

    def respond(self, method: str, path: str, query: str, authorization: str | None) -> Response:
        """The answer to one request (``path`` relative to where the feed is mounted: exactly
        ``/deliveries``, ``/deliveries/ID`` or ``/cursor``; anything else is a 404). Blocking:
        it reads the inbox."""
        if not self._allowed(authorization):
            return error_response(401, "unauthorized", "feed token required", _CHALLENGE)
        if method not in ("GET", "HEAD"):
            return error_response(405, "method_not_allowed", "GET only", (("allow", "GET"),))
        segments = path.split("/")
        try:
            if segments == ["", "cursor"]:
                return Response.json(200, {"cursor": encode_cursor(self.inbox.last_received())})
            if segments == ["", "deliveries"]:
                return self._page(query)
            if len(segments) == 3 and segments[:2] == ["", "deliveries"] and segments[2]:
                # Ids are printable: a NUL byte would make PostgreSQL's driver raise.
                record = self.inbox.get(segments[2]) if segments[2].isprintable() else None
                if record is None:
                    return error_response(404, "not_found", "no such delivery")
                return Response.json(200, record_to_json(record))
        except StoreUnavailable as exc:
            logger.error("inbox feed: the inbox is unavailable: %s", exc)
            return error_response(503, "inbox_unavailable", "the inbox cannot be reached")
        return error_response(404, "not_found", "no such feed resource")

    def _page(self, query: str) -> Response:
        params = dict(parse_qsl(query, keep_blank_values=True))
        try:
            after = decode_cursor(params.get("after", ""))
            limit = int(params.get("limit", "100"))
        except ValueError:
            return error_response(400, "bad_request", "after is a cursor, limit a number")
        limit = max(1, min(limit, _MAX_LIMIT))
        budget = self.max_page_bytes - _PAGE_OVERHEAD
        parts: list[bytes] = []
        size = 0
        position = after
        batch = 1  # what the first record weighs is unknown: load one, then as many as fit
        largest = 1
        while len(parts) < limit:
            records = self.inbox.received_after(position, limit=min(batch, limit - len(parts)))
            for record in records:
                encoded = json.dumps(record_to_json(record), separators=(",", ":")).encode()
                if parts and size + len(encoded) + 1 > budget:
                    records = []  # full: this one starts the next page
                    break
                parts.append(encoded)
                size += len(encoded) + 1
                largest = max(largest, len(encoded))
                position = (record.received_at, record.id)
            else:
                if records:
                    batch = max(1, (budget - size) // (2 * largest))
                    continue
            break
        body = b'{"deliveries":[%b],"cursor":%b}' % (
            b",".join(parts),
            json.dumps(encode_cursor(position)).encode(),
        )
        return Response(
            200,
            (("content-type", "application/json"), ("content-length", str(len(body)))),
            body,
        )

    # ASGI ----------------------------------------------------------------------------------

    async def __call__(
        self,
        scope: Mapping[str, Any],
        receive: Callable[[], Any],
        send: Callable[[dict[str, Any]], Any],
    ) -> None:
        if scope["type"] == "lifespan":
            await acknowledge_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        authorization = next(
            (v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"authorization"),
            None,
        )
        query = bytes(scope.get("query_string", b"")).decode("latin-1")
        # Starlette's Mount (and a server's --root-path) leave the whole path in "path" and
        # where the feed is mounted in "root_path"; a bare ASGI mount may give the rest only.
        path, root = str(scope["path"]), str(scope.get("root_path", ""))
        if root and path.startswith(root):
            path = path[len(root) :]
        response = await asyncio.to_thread(
            self.respond, scope["method"], path, query, authorization
        )
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [*response.raw_headers, (b"cache-control", b"no-store")],
            }
        )
        body = b"" if scope["method"] == "HEAD" else response.body
        await send({"type": "http.response.body", "body": body})

    # WSGI ----------------------------------------------------------------------------------

    def wsgi(
        self, environ: Mapping[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """The same feed as a WSGI app."""
        response = self.respond(
            str(environ.get("REQUEST_METHOD", "GET")),
            str(environ.get("PATH_INFO", "")),  # relative to the mount (SCRIPT_NAME)
            str(environ.get("QUERY_STRING", "")),
            environ.get("HTTP_AUTHORIZATION"),
        )
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}
        start_response(
            f"{response.status} {reason.get(response.status, 'Error')}",
            [*response.headers, ("cache-control", "no-store")],
        )
        method = environ.get("REQUEST_METHOD")
        return [b""] if method == "HEAD" else [response.body]

    def __repr__(self) -> str:
        return f"InboxFeed({self.inbox!r}, tokens=<{len(self._digests)}>)"
