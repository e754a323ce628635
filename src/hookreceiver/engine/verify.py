"""Verify and parse one delivery without running handlers: for your own route.

Like Stripe's ``construct_event`` or svix's ``Webhook.verify``: hand over what your framework
received (method, path, headers, body, the sender's address) and get the typed event, or a
:class:`~hookreceiver.DeliveryRejected` subclass saying why not (its ``status``, ``error`` and
``detail`` are the answer to send). The same steps as a delivery the adapters take, in the same
order and with the same functions (method, guards before the body, the body through the
provider's sink and limits, body signatures, the provider's parse, a signed URL's event
binding); no store is claimed, no inbox written, no handler run, no observer told.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.events import ParsedEvent
from ..delivery import BodySource, Delivery, Headers
from ..errors import DeliveryRejected, MethodNotAllowed
from ..parsing.body import Body
from ..security.base import GuardRequest
from .drivers import drive_async, drive_sync
from .effects import Effect, ReadBody
from .flow import parse_event

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ..core.protocols import ReceiverState
    from ..parsing.attachment import Attachment

__all__ = ["Verified", "averify", "delivery_of", "verify"]

logger = logging.getLogger("hookreceiver")

HeadersArg = Headers | Mapping[str, str] | Iterable[tuple[str, str]]


@dataclass(slots=True)
class Verified:
    """A delivery that passed every check and parsed into its event.

    Use it as a context manager (or call :meth:`close`) when the event may carry attachments:
    they are spooled to temporary files, deleted on close.

    Attributes:
        event: the parsed event (``event.model`` is the provider's typed model).
        endpoint: the endpoint's path template it matched.
        params: the values of the template's placeholders.
        client: the sender's address (after trusted-proxy resolution).
        signed: a signed callback URL's context, when the endpoint uses them.
        body: the raw body (empty for multipart: see ``attachments`` and ``fields``).
        fields: multipart text fields.
    """

    event: ParsedEvent
    endpoint: str
    params: Mapping[str, str]
    client: str | None
    signed: Mapping[str, Any] | None
    body: bytes = b""
    fields: Mapping[str, str] = field(default_factory=dict)
    _body: Body | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The full event name (``"documo.fax.inbound"``)."""
        return self.event.name

    @property
    def model(self) -> BaseModel:
        """The provider's typed model of the event."""
        return self.event.model

    @property
    def key(self) -> str:
        """The event's idempotency key."""
        return self.event.key

    @property
    def attachments(self) -> list[Attachment]:
        """Files that came with the event (a Documo fax), on disk until :meth:`close`."""
        return self.event.attachments

    def close(self) -> None:
        """Delete the temporary files of the attachments."""
        if self._body is not None:
            self._body.close()

    def __enter__(self) -> Verified:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def delivery_of(
    method: str,
    path: str,
    headers: HeadersArg,
    body: BodySource | str,
    *,
    client: str | None = None,
    query: str = "",
) -> Delivery:
    """A :class:`~hookreceiver.Delivery` from what a framework gives a route.

    ``path`` may carry the query string (``/hooks/x?token=...``) when ``query`` is not given.
    ``body`` is bytes (or ``bytearray``/``memoryview``), a ``str`` (sent as its UTF-8 bytes,
    like Stripe's and svix's libraries), or an iterable / async iterable of bytes chunks;
    header names and values are ``str`` (or ``bytes``, read as latin-1, as in an ASGI scope).

    Raises:
        TypeError: an argument of another type (a chunk of another type when it is read).
    """
    for name, value in (("method", method), ("path", path), ("query", query)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if client is not None and not isinstance(client, str):
        raise TypeError(f"client must be a str address or None, not {type(client).__name__}")
    if not query and "?" in path:
        path, _, query = path.partition("?")
    return Delivery(
        method=method.upper(),
        path=path,
        query=query,
        headers=_headers(headers),
        peer=client,
        body=_body(body),
    )


class _WrongType(TypeError):
    """A caller's argument of the wrong type, found while the body is read."""


def _text(value: object, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("latin-1")
    raise TypeError(f"header {what}s must be str or bytes, not {type(value).__name__}")


def _headers(headers: object) -> Headers:
    if isinstance(headers, Headers):
        return headers
    if isinstance(headers, Mapping):
        pairs: Iterable[Any] = headers.items()
    elif isinstance(headers, Iterable) and not isinstance(headers, (str, bytes)):
        pairs = headers
    else:
        raise TypeError(f"headers must be a mapping or (name, value) pairs, not {headers!r:.40}")
    found: list[tuple[str, str]] = []
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"headers must be (name, value) pairs, not {pair!r:.40}")
        found.append((_text(pair[0], "name"), _text(pair[1], "value")))
    return Headers(found)


def _body(body: object) -> BodySource:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, AsyncIterable):
        return _checked_async(body)
    if isinstance(body, Iterable) and not isinstance(body, Mapping):
        return _checked(body)
    raise TypeError(
        f"body must be bytes, str or an iterable of bytes chunks, not {type(body).__name__}"
    )


def _chunk(chunk: object) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, (bytearray, memoryview)):
        return bytes(chunk)
    raise _WrongType(f"body chunks must be bytes, not {type(chunk).__name__}")


def _checked(chunks: Iterable[object]) -> Iterator[bytes]:
    for chunk in chunks:
        yield _chunk(chunk)


async def _checked_async(chunks: AsyncIterable[object]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield _chunk(chunk)


_NOT_FOUND = ("no webhook endpoint at this path", 404, "not_found")


def _steps(receiver: ReceiverState, delivery: Delivery) -> Generator[Effect[Any], None, Verified]:
    route = receiver.match(delivery.path)
    if route is None:
        detail, status, error = _NOT_FOUND
        raise DeliveryRejected(detail, status=status, error=error)
    endpoint = route.endpoint
    provider = endpoint.provider
    if delivery.method not in endpoint.methods:
        raise MethodNotAllowed(
            f"{delivery.method} is not accepted here", headers=endpoint.allow_header
        )
    request = GuardRequest(
        delivery,
        endpoint.path,
        route.params,
        receiver.client_address(delivery),
        trusted_proxies=receiver.proxies is not None,
    )
    for guard in provider.guards:
        guard.check(request)
    sink = provider.body_sink(delivery)
    body = Body()
    if sink is not None:
        read = ReadBody(delivery.body, sink)
        yield read
        body = read.result
    try:
        for guard in provider.guards:
            if not guard.needs_body:
                continue
            if body.raw_file is None:
                guard.check_body(request, body.raw)
            else:
                guard.check_body_stream(request, body.raw_chunks())
        event = parse_event(provider, delivery, route.params, body, live=True)
        for guard in provider.guards:
            guard.check_event(request, event.name, provider)
    except BaseException:
        body.close()
        raise
    return Verified(
        event,
        endpoint.path,
        dict(route.params),
        request.client,
        request.signed,
        body.raw,
        dict(body.fields),
        body,
    )


def _bug(delivery: Delivery, exc: Exception) -> DeliveryRejected:
    logger.error("unexpected error verifying %s %s", delivery.method, delivery.path, exc_info=exc)
    return DeliveryRejected("the receiver failed; see its log", status=500, error="internal_error")


def verify(receiver: ReceiverState, delivery: Delivery) -> Verified:
    """Verify and parse ``delivery`` with blocking I/O.

    Raises:
        DeliveryRejected: a typed refusal (``NotVerified``, ``InvalidPayload``,
            ``PayloadTooLarge``, ...; status 404 ``not_found`` for a path that is no endpoint,
            500 ``internal_error`` for a bug of the receiver's, logged with its traceback).
        TypeError: an argument of the wrong type (see :func:`delivery_of`).
    """
    try:
        return drive_sync(_steps(receiver, delivery))
    except (DeliveryRejected, _WrongType):
        raise
    except Exception as exc:
        raise _bug(delivery, exc) from exc


async def averify(receiver: ReceiverState, delivery: Delivery) -> Verified:
    """:func:`verify` on the running event loop (an async body is read without blocking)."""
    try:
        return await drive_async(_steps(receiver, delivery))
    except (DeliveryRejected, _WrongType):
        raise
    except Exception as exc:
        raise _bug(delivery, exc) from exc
