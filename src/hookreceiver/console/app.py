"""The console as a pure ASGI app: routing, authentication, CSRF, pages and actions.

URLs, relative to where it is mounted:

=================================  =========================================================
``GET  /``                         the list, newest first (``?q=``, ``provider``, ``event``,
                                   ``state``, ``since``, ``until``, ``cursor``)
``GET  /overview``                 counts, inbox depth, the last hour's chart
``GET  /deliveries/{id}``          one delivery: event, payload, headers, attempts
``GET  /deliveries/{id}/files/N``  a stored attachment
``POST /deliveries/{id}/replay``   replay it now, in this process
``POST /deliveries/{id}/resolve``  mark a dead letter handled
``POST /deliveries/{id}/release``  requeue a quarantined delivery for the workers to re-parse
``GET  /replay``, ``POST /replay`` a filtered set: its count and a confirmation, then requeue
``POST /purge``                    delete handled deliveries older than N days
``GET  /static/console.css``       the style sheet
=================================  =========================================================
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode

from .._asgi import acknowledge_lifespan
from ..errors import ConfigurationError, StoreUnavailable
from ..inbox.listing import SearchQuery
from ..inbox.records import InboxState
from ..inbox.replay import areplay
from .auth import ConsoleAuth, ConsoleRequest, Csrf, Identity, basic_credentials, same_origin
from .pages import Pages

if TYPE_CHECKING:
    from ..inbox.base import Inbox
    from ..inbox.protocols import InboxReceiver

__all__ = ["ConsoleApp"]

logger = logging.getLogger("hookreceiver.console")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

#: The largest form a POST may carry.
MAX_FORM = 64 * 1024
_BULK_LIMIT = 1000
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


class HTTPError(Exception):
    """A page's refusal: status and a short message."""

    def __init__(self, status: int, message: str, headers: Iterable[tuple[bytes, bytes]] = ()):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, list(headers)


class ConsoleApp:
    """The operator's web console over a receiver's inbox (see the module for its URLs).

    Args:
        receiver: the receiver whose inbox it shows; replays run its handlers here.
        auth: ``(user, password)`` pairs (or a :class:`ConsoleAuth`) that may act.
        readonly_auth: pairs that may only look.
        authorize: the app's own login: a callable (sync or async) taking a
            :class:`ConsoleRequest`, returning an :class:`Identity` or ``None`` (403).
        secret: the key CSRF tokens are signed with; by default derived from the pairs (the
            same in every process), or random per process with ``authorize`` alone (pass one
            when several processes serve the console).
        trusted_origins: other origins (``https://ops.example.com``) whose POSTs are accepted.

    Raises:
        ConfigurationError: no way to authenticate, or a receiver without an inbox.
    """

    def __init__(
        self,
        receiver: InboxReceiver,
        *,
        auth: ConsoleAuth | Iterable[tuple[str, str]] | None = None,
        readonly_auth: ConsoleAuth | Iterable[tuple[str, str]] | None = None,
        authorize: Callable[[ConsoleRequest], Any] | None = None,
        secret: str | bytes | None = None,
        trusted_origins: Iterable[str] = (),
    ) -> None:
        if receiver.inbox is None:
            raise ConfigurationError("the console needs a receiver with an inbox")
        self.receiver = receiver
        self.auth = ConsoleAuth.of(auth)
        self.readonly_auth = ConsoleAuth.of(readonly_auth)
        self.authorize = authorize
        if self.auth is None and self.readonly_auth is None and authorize is None:
            raise ConfigurationError(
                "the console needs authentication: auth=[(user, password)], readonly_auth=, "
                "or authorize=callable"
            )
        if secret is None:
            keys = [a.fingerprint() for a in (self.auth, self.readonly_auth) if a is not None]
            secret = b"".join(keys) if keys and authorize is None else None
        self.csrf = Csrf(secret)
        self.trusted_origins = tuple(trusted_origins)
        self.pages = Pages()

    @property
    def inbox(self) -> Inbox:
        """The inbox shown."""
        inbox = self.receiver.inbox
        assert inbox is not None
        return inbox

    # ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await acknowledge_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        root = str(scope.get("root_path", "")).rstrip("/")
        path = str(scope.get("path", "/"))
        if root and path.startswith(root):
            path = path[len(root) :]
        base = root + "/"
        if path == "":
            await _send(send, 308, b"", [(b"location", base.encode())])
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        try:
            identity = await self._identify(scope, method, path, headers)
            status, body, extra = await self._route(
                scope, receive, method, path, headers, identity, base
            )
        except HTTPError as exc:
            status, extra = exc.status, exc.headers
            body = self.pages.render_error(base, exc.status, exc.message)
        except StoreUnavailable as exc:
            logger.warning("console: %s %s: the inbox is unreachable: %s", method, path, exc)
            status, extra = 503, [(b"retry-after", b"5")]
            body = self.pages.render_error(base, 503, "the inbox is unreachable; try again")
        except Exception:
            logger.exception("console: %s %s failed", method, path)
            status, extra = 500, []
            body = self.pages.render_error(base, 500, "the console failed; see the server log")
        await _send(send, status, body, extra)

    async def _identify(
        self, scope: Scope, method: str, path: str, headers: dict[str, str]
    ) -> Identity:
        if path.startswith("/static/"):
            return Identity("anonymous", can_write=False)  # the style sheet holds no data
        credentials = basic_credentials(headers.get("authorization"))
        if credentials is not None:
            for auth, can_write in ((self.auth, True), (self.readonly_auth, False)):
                user = auth.match(credentials) if auth is not None else None
                if user is not None:
                    return Identity(user, can_write)
        if self.authorize is not None:
            client = scope.get("client")
            request = ConsoleRequest(method, path, headers, client[0] if client else None, scope)
            found = self.authorize(request)
            if inspect.isawaitable(found):
                found = await found
            if isinstance(found, Identity):
                return found
            if self.auth is None and self.readonly_auth is None:
                raise HTTPError(403, "not allowed")
        challenge = (b"www-authenticate", b'Basic realm="hookreceiver console", charset="UTF-8"')
        raise HTTPError(401, "authentication required", [challenge])

    async def _route(
        self,
        scope: Scope,
        receive: Receive,
        method: str,
        path: str,
        headers: dict[str, str],
        who: Identity,
        base: str,
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        parts = [p for p in path.split("/") if p]
        if method in ("GET", "HEAD"):
            # The inbox is blocking I/O: off the event loop, as the worker does.
            html = await asyncio.to_thread(self._get, parts, query, who, base)
            if isinstance(html, tuple):
                return html
            return 200, html, [(b"content-type", b"text/html; charset=utf-8")]
        if method != "POST":
            raise HTTPError(405, "method not allowed", [(b"allow", b"GET, HEAD, POST")])
        if not same_origin(headers, self.trusted_origins):
            logger.warning("console: %s POST %s refused: foreign or missing Origin", who.name, path)
            raise HTTPError(403, "cross-site request refused")
        form = await _read_form(receive, headers)
        if not self.csrf.valid(form.get("csrf"), who):
            logger.warning("console: %s POST %s refused: bad CSRF token", who.name, path)
            raise HTTPError(403, "missing or stale form token: reload the page and try again")
        if not who.can_write:
            raise HTTPError(403, "read-only user")
        location = await self._post(parts, form, who, base)
        return 303, b"", [(b"location", location.encode())]

    # Pages ----------------------------------------------------------------------------------

    def _get(
        self, parts: list[str], query: dict[str, str], who: Identity, base: str
    ) -> bytes | tuple[int, bytes, list[tuple[bytes, bytes]]]:
        csrf = self.csrf.token(who) if who.can_write else ""
        if parts == ["static", "console.css"]:
            return (
                200,
                self.pages.css,
                [
                    (b"content-type", b"text/css; charset=utf-8"),
                ],
            )
        if not parts:
            search = _search_query(query)
            started = time.perf_counter()
            page = self.inbox.search(search, limit=_page_size(query))
            took = time.perf_counter() - started
            served = {e.provider.name for e in self.receiver.router.endpoints}
            served |= {query["provider"]} if query.get("provider") else set()
            return self.pages.render_list(base, who, csrf, query, page, took, sorted(served))
        if parts == ["overview"]:
            stats = self.inbox.stats()
            return self.pages.render_overview(base, who, csrf, stats, query.get("done"))
        if parts == ["replay"]:
            search = _search_query(query)
            found = self.inbox.search(search, limit=_BULK_LIMIT).entries
            return self.pages.render_confirm(base, who, csrf, query, len(found), _BULK_LIMIT)
        if len(parts) == 2 and parts[0] == "deliveries":
            record = self.inbox.get(parts[1])
            if record is None:
                raise HTTPError(404, "no such delivery")
            attempts = self.inbox.attempts(record.id)
            return self.pages.render_detail(base, who, csrf, self.receiver, record, attempts)
        if len(parts) == 4 and parts[0] == "deliveries" and parts[2] == "files":
            return self._file(parts[1], parts[3])
        raise HTTPError(404, "no such page")

    def _file(self, record_id: str, index: str) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        record = self.inbox.get(record_id)
        if record is None or not index.isdigit() or int(index) >= len(record.files):
            raise HTTPError(404, "no such file")
        stored = record.files[int(index)]
        name = "".join(c for c in (stored.filename or "attachment") if c.isalnum() or c in "._-")
        # Sent as bytes to save, never as the sender's type: an HTML "fax" must not render here.
        return (
            200,
            stored.data,
            [
                (b"content-type", b"application/octet-stream"),
                (b"content-disposition", f'attachment; filename="{name or "attachment"}"'.encode()),
            ],
        )

    # Actions --------------------------------------------------------------------------------

    async def _post(self, parts: list[str], form: dict[str, str], who: Identity, base: str) -> str:
        if len(parts) == 3 and parts[:1] == ["deliveries"] and parts[2] == "replay":
            # Handlers run here, async ones on this loop, as they would for a live delivery.
            record_id = parts[1]
            if await asyncio.to_thread(self.inbox.get, record_id) is None:
                raise HTTPError(404, "no such delivery")
            result = await areplay(self.receiver, record_id)
            state = result.state.value if result.state is not None else "skipped"
            detail = state + (f": {result.detail}" if result.detail else "")
            await asyncio.to_thread(self._done, who, "replayed", [record_id], detail)
            return f"{base}deliveries/{quote(record_id, safe='')}"
        return await asyncio.to_thread(self._act, parts, form, who, base)

    def _done(self, who: Identity, action: str, ids: list[str], detail: str) -> None:
        """Write an action to the deliveries' history and to the log, with who did it."""
        self.inbox.note_many(ids, action, actor=who.name, detail=detail)
        shown = ids[0] if len(ids) == 1 else f"{len(ids)} deliveries"
        logger.info("console: %s %s %s: %s", who.name, action, shown, detail)

    def _act(self, parts: list[str], form: dict[str, str], who: Identity, base: str) -> str:
        """The actions that run no handler (blocking: called off the event loop)."""
        inbox = self.inbox
        if len(parts) == 3 and parts[0] == "deliveries" and parts[2] in ("resolve", "release"):
            record_id, action = parts[1], parts[2]
            record = inbox.get(record_id)
            if record is None:
                raise HTTPError(404, "no such delivery")
            if action == "resolve":
                detail = "done" if inbox.resolve([record_id]) else "not a dead letter"
            elif record.state is not InboxState.QUARANTINED:
                detail = "not quarantined"
            else:
                detail = "requeued" if inbox.requeue([record_id]) else "held by a worker"
            self._done(who, action + "d", [record_id], detail)
            return f"{base}deliveries/{quote(record_id, safe='')}"
        if parts == ["replay"]:
            ids = [e.id for e in inbox.search(_search_query(form), limit=_BULK_LIMIT).entries]
            count = inbox.requeue(ids)
            self._done(who, "replayed", ids, f"requeued ({count} of {len(ids)} in one go)")
            return base + "?" + urlencode({**_filters_of(form), "done": f"requeued {count}"})
        if parts == ["purge"]:
            try:
                days = float(form.get("older_than_days", ""))
            except ValueError:
                raise HTTPError(400, "older_than_days must be a number") from None
            if not days >= 1:
                raise HTTPError(400, "older_than_days must be at least 1")
            purged = inbox.purge(older_than=days * 86400.0)
            logger.info(
                "console: %s purged %d handled deliveries older than %g days",
                who.name,
                purged,
                days,
            )
            return f"{base}overview?" + urlencode({"done": f"purged {purged}"})
        raise HTTPError(404, "no such action")


_FILTERS = ("q", "provider", "event", "state", "since", "until")


def _filters_of(values: dict[str, str]) -> dict[str, str]:
    return {k: values[k] for k in _FILTERS if values.get(k)}


def _time(value: str | None, name: str) -> float | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPError(400, f"{name}: expected a date and time (2026-01-31T14:00)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _search_query(values: dict[str, str]) -> SearchQuery:
    state = values.get("state") or None
    if state is not None and state not in {s.value for s in InboxState}:
        raise HTTPError(400, "unknown state")
    try:
        return SearchQuery.of(
            states=None if state is None else [state],
            provider=values.get("provider") or None,
            event=values.get("event") or None,
            since=_time(values.get("since"), "since"),
            until=_time(values.get("until"), "until"),
            text=values.get("q"),
            cursor=values.get("cursor") or None,
        )
    except ValueError as exc:
        raise HTTPError(400, str(exc)) from None


def _page_size(query: dict[str, str]) -> int:
    size = query.get("size", "50")
    return min(200, max(1, int(size))) if size.isdigit() else 50


async def _read_form(receive: Receive, headers: dict[str, str]) -> dict[str, str]:
    form_type = headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPError(400, "client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM:
            raise HTTPError(413, "form too large")
        chunks.append(chunk)
        more = message.get("more_body", False)
    if not form_type:
        return {}  # no form, no token: refused as a forgery
    return dict(parse_qsl(b"".join(chunks).decode("utf-8", "replace"), keep_blank_values=True))


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    if not any(name == b"content-type" for name, _ in headers):
        headers = [*headers, (b"content-type", b"text/html; charset=utf-8")]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_SECURITY_HEADERS, *headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
