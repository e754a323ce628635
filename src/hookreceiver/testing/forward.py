"""Send deliveries a deployed receiver kept to an app on your machine: ``hookreceiver forward``.

A self-hosted ``stripe listen --forward-to``. The deployed receiver's inbox is read directly
(``sqlite:///...``, ``postgresql://...``) or through its authenticated feed
(``hooks.inbox_feed_app(auth=...)``, see :mod:`hookreceiver.inbox.feed`); each delivery is sent
to the local app as the provider sent it: method, path (under the local base URL), query, body
(multipart encoded again from its stored parts, with its boundary) and the provider's headers.

The inbox keeps no credential, so what the local app's own guards check is made again here,
with the local app's secrets: basic auth (``basic_auth``), a signed URL's token
(``url_signer``, signing the stored endpoint template, placeholders and context) and a
Standard Webhooks signature (``webhook_signer``, over the body with a fresh timestamp). Hop
headers and a proxy's forwarding headers are not sent; ``forward_sender`` names a header for
the original sender's address, for a local app that trusts this machine as its proxy.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlsplit

from ..errors import StoreUnavailable
from ..inbox.feed import decode_cursor, encode_cursor, record_from_json
from ..inbox.keeping import REDACTED
from ..inbox.records import InboxRecord, StoredFile, wire_body
from .factories._base import SimulatedDelivery, basic_auth_header
from .send import TransportError, find_receiver, send_http

if TYPE_CHECKING:
    from ..inbox.base import Inbox
    from ..security.hmac import StandardWebhooks
    from ..security.signed_urls import URLSigner

__all__ = [
    "FeedSource",
    "Forwarded",
    "Forwarder",
    "InboxSource",
    "LocalGuards",
    "Source",
    "StoredDelivery",
]

#: Headers that belong to one hop (or one proxy) and are not sent again.
_HOP_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-port",
        "x-real-ip",
    }
)


@dataclass(frozen=True)
class LocalGuards:
    """The local app's own secrets, to make again the credentials the inbox does not keep.

    Attributes:
        basic_auth: ``(user, password)`` sent as ``Authorization: Basic`` to the deliveries
            that came with basic auth (``StoredDelivery.basic_auth``), and to no other.
        url_signer: signs a stored signed URL's token again (``***`` in the stored path or
            query) for the local app's keys.
        webhook_signer: signs a Standard Webhooks delivery again (fresh timestamp).
        forward_sender: a header to carry the original sender's address (``X-Forwarded-For``).
    """

    basic_auth: tuple[str, str] | None = None
    url_signer: URLSigner | None = None
    webhook_signer: StandardWebhooks | None = None
    forward_sender: str | None = None


@dataclass(frozen=True)
class StoredDelivery:
    """A delivery as an inbox kept it (no credential), ready to be sent again.

    What ``hookreceiver inbox export ID --as-test`` writes into a test; :meth:`for_app`
    and :meth:`simulated` give the :class:`SimulatedDelivery` the ``deliver`` fixture sends.
    """

    id: str
    provider: str
    event: str | None
    endpoint: str
    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    client: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    signed: Mapping[str, Any] | None = None
    content_type: str = ""
    body: bytes = b""
    fields: Mapping[str, str] = field(default_factory=dict)
    files: tuple[StoredFile, ...] = ()
    #: It came with basic auth (which the inbox does not keep): the local credentials go to it.
    basic_auth: bool = False

    @classmethod
    def from_record(cls, record: InboxRecord) -> StoredDelivery:
        """The request part of an inbox record."""
        return cls(
            id=record.id,
            provider=record.provider,
            event=record.event_name,
            endpoint=record.endpoint,
            method=record.method,
            path=record.path,
            query=record.query,
            headers=record.headers,
            client=record.client,
            params=dict(record.params),
            signed=record.signed,
            content_type=record.content_type,
            body=record.body,
            fields=dict(record.fields),
            files=record.files,
            basic_auth=record.basic_auth,
        )

    def wire_body(self) -> bytes:
        """The body to send (see :meth:`InboxRecord.wire_body`)."""
        return wire_body(self.headers, self.content_type, self.body, self.fields, self.files)

    def simulated(
        self, guards: LocalGuards | None = None, *, clock: Callable[[], float] = time.time
    ) -> SimulatedDelivery:
        """The delivery to send, its credentials made again with ``guards``."""
        guards = guards or LocalGuards()
        body = self.wire_body()
        headers = [(k, v) for k, v in self.headers if k.lower() not in _HOP_HEADERS]
        if guards.basic_auth is not None and self.basic_auth:  # not to any other endpoint
            headers.append(basic_auth_header(*guards.basic_auth))
        if guards.webhook_signer is not None:
            headers = _signed_headers(headers, guards.webhook_signer, body, int(clock()))
        path, query = self.path, self.query
        if guards.url_signer is not None and self.signed is not None:  # it came signed
            path, query = self._signed_url(guards.url_signer)
        return SimulatedDelivery(
            provider=self.provider,
            event=self.event or f"{self.provider}.?",
            method=self.method,
            path=path,
            query=query,
            headers=tuple(headers),
            body=body,
            sender=self.client,
            path_given=True,
        )

    def _signed_url(self, signer: URLSigner) -> tuple[str, str]:
        name = signer.param
        values = {k: v for k, v in self.params.items() if k != name}
        token = signer.sign(self.endpoint, values, self.signed)
        path = self.path
        if name in self.params:
            path = path.replace(REDACTED, token)
        query = "&".join(
            f"{name}={quote(token, safe='')}" if item == f"{name}={REDACTED}" else item
            for item in self.query.split("&")
            if item
        )
        if name not in self.params and f"{name}=" not in query:
            query = "&".join(q for q in (query, f"{name}={quote(token, safe='')}") if q)
        return path, query

    def for_app(
        self, app: Any, *, basic_auth: str | tuple[str, str] | None = None
    ) -> SimulatedDelivery:
        """The delivery re-signed with the keys of the receiver inside ``app`` (in-process
        tests): its signed-URL signer and Standard Webhooks secret; ``basic_auth``
        (``"user:password"`` or a pair) for an endpoint with basic auth, whose passwords the
        receiver keeps only hashed.

        Raises:
            ValueError: the endpoint needs basic auth and none was given.
        """
        from ..security.basic_auth import BasicAuth
        from ..security.hmac import StandardWebhooks
        from ..security.signed_urls import SignedURLGuard

        pair = _pair(basic_auth)
        receiver = find_receiver(app)
        signer: URLSigner | None = None
        webhook: StandardWebhooks | None = None
        route = receiver.match(self.path) if receiver is not None else None
        local_basic_auth = False  # the local endpoint decides, whatever production had
        for guard in route.endpoint.provider.guards if route is not None else ():
            if isinstance(guard, SignedURLGuard):
                signer = guard.signer
            elif isinstance(guard, StandardWebhooks):
                webhook = guard
            elif isinstance(guard, BasicAuth):
                local_basic_auth = True
            if isinstance(guard, BasicAuth) and pair is None:
                raise ValueError(
                    f"endpoint {route.endpoint.path if route else self.path} needs basic auth, "
                    "which the inbox never keeps: pass basic_auth='user:password' (the exported "
                    "test reads HOOKRECEIVER_TEST_BASIC_AUTH)"
                )
        delivery = replace(self, basic_auth=local_basic_auth)
        return delivery.simulated(LocalGuards(pair, signer, webhook))


def _pair(value: str | tuple[str, str] | None) -> tuple[str, str] | None:
    if value is None or isinstance(value, tuple):
        return value
    user, colon, password = value.partition(":")
    if not colon or not user:
        raise ValueError("basic auth is 'user:password'")
    return user, password


def _signed_headers(
    headers: list[tuple[str, str]], signer: StandardWebhooks, body: bytes, now: int
) -> list[tuple[str, str]]:
    names = {k.lower() for k, _ in headers}
    prefix = "svix-" if "svix-id" in names and "webhook-id" not in names else "webhook-"
    msg_id = next((v for k, v in headers if k.lower() == prefix + "id"), None)
    if msg_id is None:
        return headers
    dropped = {prefix + "timestamp", prefix + "signature"}
    kept = [(k, v) for k, v in headers if k.lower() not in dropped]
    kept.append((prefix + "timestamp", str(now)))
    kept.append((prefix + "signature", signer.sign(msg_id, now, body)))
    return kept


# Where deliveries come from ----------------------------------------------------------------


class Source(Protocol):
    """Where ``forward`` reads stored deliveries: an inbox, or a deployed receiver's feed."""

    def last(self) -> str:
        """The cursor of the delivery received last (``""`` when there is none)."""

    def after(self, cursor: str, limit: int) -> tuple[list[InboxRecord], str]:
        """Deliveries received after ``cursor``, oldest first, and the cursor after them."""

    def get(self, record_id: str) -> InboxRecord | None:
        """One stored delivery, or ``None``."""


class InboxSource:
    """Reads an inbox directly (``open_inbox(url)``)."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    def last(self) -> str:
        return encode_cursor(self.inbox.last_received())

    def after(self, cursor: str, limit: int) -> tuple[list[InboxRecord], str]:
        records = self.inbox.received_after(decode_cursor(cursor), limit=limit)
        if records:
            cursor = encode_cursor((records[-1].received_at, records[-1].id))
        return records, cursor

    def get(self, record_id: str) -> InboxRecord | None:
        return self.inbox.get(record_id)

    def __repr__(self) -> str:
        return f"InboxSource({self.inbox!r})"


class FeedError(Exception):
    """The feed refused or could not be reached (its token never in the message)."""


class FeedRefused(FeedError):
    """The feed refused the token (401, 403), or the URL is no feed (a redirect, an answer
    that is not the feed's JSON): trying again will not help."""


class FeedSource:
    """Reads a deployed receiver's :class:`~hookreceiver.inbox.feed.InboxFeed` over HTTP(S).

    Args:
        url: where the feed is mounted (``https://hooks.example.com/_hookreceiver/feed``).
        token: its bearer token.
        timeout: seconds per request.
    """

    def __init__(self, url: str, token: str, *, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if "@" in parts.netloc:  # never echoed: printing the URL would show them
            raise ValueError("the feed URL carries no user:password; its token is --token")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"the feed URL is http(s)://host/path, not {url!r}")
        self._parts = parts
        self._token = token
        self.timeout = timeout

    def _get(self, route: str, query: str = "") -> Any:
        parts = self._parts
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        target = parts.path.rstrip("/") + route + (f"?{query}" if query else "")
        connection = kind(parts.netloc, timeout=self.timeout)
        try:
            connection.request("GET", target, headers={"authorization": f"Bearer {self._token}"})
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise FeedError(f"feed {parts.netloc}{parts.path}: no answer ({exc})") from None
        finally:
            connection.close()
        if response.status == 404 and route.startswith("/deliveries/"):
            return None
        if response.status in (401, 403) or 300 <= response.status < 400:
            raise FeedRefused(f"feed {parts.netloc}{parts.path}: {response.status} {data[:200]!r}")
        if response.status != 200:
            raise FeedError(f"feed {parts.netloc}{parts.path}: {response.status} {data[:200]!r}")
        try:
            return json.loads(data)
        except ValueError:
            raise self._not_a_feed(data) from None

    def _not_a_feed(self, data: bytes) -> FeedRefused:
        parts = self._parts
        return FeedRefused(f"feed {parts.netloc}{parts.path}: not an inbox feed {data[:200]!r}")

    def last(self) -> str:
        answer = self._get("/cursor")
        try:
            return str(answer["cursor"])
        except (KeyError, TypeError):
            raise self._not_a_feed(json.dumps(answer).encode()) from None

    def after(self, cursor: str, limit: int) -> tuple[list[InboxRecord], str]:
        query = f"after={quote(cursor, safe='')}&limit={limit}"
        page = self._get("/deliveries", query)
        try:
            return [record_from_json(d) for d in page["deliveries"]], str(page["cursor"])
        except (KeyError, TypeError, ValueError):
            raise self._not_a_feed(json.dumps(page).encode()) from None

    def get(self, record_id: str) -> InboxRecord | None:
        found = self._get(f"/deliveries/{quote(record_id, safe='')}")
        try:
            return None if found is None else record_from_json(found)
        except ValueError:
            raise self._not_a_feed(json.dumps(found).encode()) from None

    def __repr__(self) -> str:
        return f"FeedSource({self._parts.netloc}{self._parts.path})"


# Forwarding ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Forwarded:
    """What the local app answered to one forwarded delivery.

    Attributes:
        record: the stored delivery.
        status: the local answer's status; ``None`` when none came.
        outcome: the receiver's outcome or error code from a short JSON answer, if any.
        error: why no answer came.
        elapsed: seconds to the complete answer.
        body: the local answer's body.
    """

    record: InboxRecord
    status: int | None
    outcome: str | None = None
    error: str | None = None
    elapsed: float = 0.0
    body: bytes = b""

    @property
    def ok(self) -> bool:
        """Whether the local app answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


class Forwarder:
    """Sends stored deliveries from ``source`` to the app at ``to`` (``http://127.0.0.1:8000``,
    a path in it is a prefix), their credentials made again with ``guards``."""

    def __init__(
        self,
        source: Source,
        to: str,
        guards: LocalGuards | None = None,
        *,
        timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(to)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"--to is the local app's http(s)://host:port, not {to!r}")
        self.source = source
        self.to = to
        self.guards = guards or LocalGuards()
        self.timeout = timeout

    def forward(self, record: InboxRecord) -> Forwarded:
        """Send one stored delivery; never raises for the local app's failures. One that does
        not hold the payload as received (:attr:`InboxRecord.not_replayable`) is not sent."""
        if record.not_replayable is not None:
            return Forwarded(record, None, error=f"not forwarded: {record.not_replayable}")
        delivery = StoredDelivery.from_record(record).simulated(self.guards)
        started = time.perf_counter()
        try:
            result = send_http(
                delivery, self.to, forward_sender=self.guards.forward_sender, timeout=self.timeout
            )
        except TransportError as exc:  # its message has the URL, token included: not shown
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            reason = f"{type(cause).__name__}: {cause}" if cause is not exc else "no answer"
            return Forwarded(record, None, error=reason, elapsed=time.perf_counter() - started)
        return Forwarded(record, result.status, result.outcome, None, result.elapsed, result.body)

    def forward_id(self, record_id: str) -> Forwarded:
        """Send the stored delivery ``record_id``.

        Raises:
            LookupError: the source has no such delivery.
        """
        record = self.source.get(record_id)
        if record is None:
            raise LookupError(f"no delivery {record_id}")
        return self.forward(record)

    def follow(
        self,
        *,
        cursor: str | None = None,
        poll_interval: float = 1.0,
        stop: threading.Event | None = None,
        batch: int = 100,
        once: bool = False,
        on_unavailable: Callable[[Exception], None] | None = None,
    ) -> Iterator[Forwarded]:
        """Forward each delivery received after ``cursor`` (``None``: from now on; ``""``:
        from the oldest) as it comes, polling every ``poll_interval`` seconds, until ``stop``
        is set (or, with ``once``, until none is left). While the source cannot be read,
        ``on_unavailable(error)`` is told (if given) and the next poll tries again; without it,
        the error is raised."""
        stop = stop or threading.Event()
        position = self.source.last() if cursor is None else cursor
        while not stop.is_set():
            try:
                records, position = self.source.after(position, batch)
            except (FeedError, StoreUnavailable) as exc:
                if on_unavailable is None or isinstance(exc, FeedRefused):
                    raise
                on_unavailable(exc)
                stop.wait(poll_interval)
                continue
            for record in records:
                yield self.forward(record)
            if not records:  # a feed's page may be short (its byte cap) with more to come
                if once:
                    return
                stop.wait(poll_interval)


def decode_b64(text: str) -> bytes:
    """Base64 text to bytes (what exported tests use for binary bodies and files)."""
    return base64.b64decode(text, validate=True)
