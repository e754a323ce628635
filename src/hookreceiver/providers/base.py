"""The provider base class: what every provider module declares, and the security it builds.

A provider instance is the configuration of one endpoint for one sender: which methods and
content types it sends, how its body becomes a typed event, its sender IP preset, its security
and the status each outcome must be answered with under its retry rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from ..core.events import ParsedEvent
from ..core.outcome import Outcome, Response, error_response
from ..delivery import Delivery, media_type
from ..errors import ConfigurationError, DeliveryRejected, InvalidPayload, UnsupportedMediaType
from ..parsing.body import (
    MAX_LENGTH_DIGITS,
    Body,
    BodySink,
    BufferedSink,
    check_declared_length,
)

if TYPE_CHECKING:
    from ..security.base import Guard, GuardBase
    from ..security.signed_urls import URLSigner

__all__ = ["DEFAULT_STATUSES", "Provider", "validate_model"]

M = TypeVar("M", bound=BaseModel)

#: Statuses per outcome for a sender that retries on 5xx and gives up on 4xx (most of them).
DEFAULT_STATUSES: Mapping[Outcome, int] = {
    Outcome.HANDLED: 200,
    Outcome.DUPLICATE: 200,
    Outcome.IN_FLIGHT: 503,
    Outcome.HANDLER_FAILED: 500,
    Outcome.ACCEPTED: 200,
    Outcome.STORE_UNAVAILABLE: 503,
    Outcome.INVALID_PAYLOAD: 400,
    Outcome.RECEIVER_ERROR: 500,
}

MiB = 1024 * 1024


def validate_model(model: type[M], data: Any, event: str | None = None) -> M:
    """Validate ``data`` into ``model``; a failure becomes a 400 naming the first bad field.

    ``event`` (the full event name the model is for) travels with the 400, so a quarantined
    delivery keeps it.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        more = exc.error_count() - 1
        suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
        raise InvalidPayload(f"field '{where}': {first['msg']}{suffix}", event=event) from None


def _declares_body(delivery: Delivery) -> bool:
    length = delivery.headers.get("content-length")
    declared = length is not None and length.strip() != "0"
    return declared or delivery.headers.get("transfer-encoding") is not None


class Provider:
    """Base class of every provider. Subclasses set the class attributes and :meth:`parse`.

    Args:
        basic_auth: accepted ``(username, password)`` pairs (several while rotating).
        allow_ips: addresses or networks allowed to send, added to the provider's preset.
        ip_preset: whether the provider's published sender addresses are allowed (on by
            default where the provider publishes them).
        signed_urls: a :class:`~hookreceiver.security.URLSigner`: deliveries must come to a
            URL made by ``receiver.callback_url(...)`` (its context reaches ``ctx.signed``).
        guards: further guards (an HMAC guard, your own).
        strict: answer 422 for event names the provider does not document, instead of
            handing them to catch-all handlers as :class:`~hookreceiver.GenericEvent` (a
            provider that declares an ``Outcome.QUARANTINED`` status answers that instead
            once the delivery is kept in quarantine: Kazoo's 200).
        max_body: size limit of a JSON or form body (default 1 MiB).
        max_multipart_body: size limit of a multipart body, attachment included (default 25 MiB).
        insecure_no_verification: allow this endpoint with no verification at all. Anyone who
            can reach it can then forge events; a warning is logged at start.
    """

    #: The provider's name: the first part of its event names and idempotency keys.
    name: ClassVar[str] = ""
    #: The sender addresses the provider publishes (allowed by default).
    ip_preset: ClassVar[tuple[str, ...]] = ()
    #: The HTTP methods the provider may deliver with.
    methods: ClassVar[tuple[str, ...]] = ("POST",)
    #: The media types the provider sends bodies as.
    content_types: ClassVar[frozenset[str]] = frozenset({"application/json"})
    #: The status answered for each outcome (rejections use their own 4xx).
    statuses: ClassVar[Mapping[Outcome, int]] = DEFAULT_STATUSES
    #: Events the provider documents, as full names; others are generic (or 422 when strict).
    events: ClassVar[frozenset[str]] = frozenset()
    #: The model of each documented event, by full name (what OpenAPI entries describe).
    event_models: ClassVar[Mapping[str, type[BaseModel]]] = {}
    #: How endpoints acknowledge by default: ``"sync"``, or ``"inbox"`` when the receiver has
    #: an inbox (for senders that never retry, so a failed handler must not lose the event).
    default_ack: ClassVar[str] = "sync"
    #: Whether the sender retries a delivery we did not take. ``False`` (or an ``"inbox"``
    #: ``default_ack``): a delivery the inbox cannot take goes to ``Receiver(journal_dir=...)``.
    retries: ClassVar[bool] = True
    #: What a URL's ``{event}`` segment may say for each event (``"channel-create"``).
    event_aliases: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Register a subclass that names itself in the one registry of providers
        (:mod:`~hookreceiver.providers.registry`); a subclass that keeps its parent's name
        (a tweaked copy of a provider) registers nothing."""
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            from .registry import register

            register(cls)

    def __init__(
        self,
        *,
        basic_auth: Sequence[tuple[str, str]] | None = None,
        allow_ips: Iterable[str] | None = None,
        ip_preset: bool = True,
        signed_urls: URLSigner | None = None,
        guards: Iterable[Guard] = (),
        strict: bool = False,
        max_body: int = 1 * MiB,
        max_multipart_body: int = 25 * MiB,
        insecure_no_verification: bool = False,
    ) -> None:
        self.strict = strict
        self.max_body = max_body
        self.max_multipart_body = max_multipart_body
        self.insecure_no_verification = insecure_no_verification
        # The guards' modules load with the first provider built, not with its class.
        from ..security.allowlist import IPAllowlist
        from ..security.base import as_guard
        from ..security.basic_auth import BasicAuth

        networks = [*(self.ip_preset if ip_preset else ()), *(allow_ips or ())]
        built: list[GuardBase] = []
        if networks:
            built.append(IPAllowlist(networks))
        if basic_auth:
            built.append(BasicAuth(basic_auth, realm=self.name or "hookreceiver"))
        if signed_urls is not None:
            from ..security.signed_urls import SignedURLGuard  # itsdangerous: only when used

            built.append(SignedURLGuard(signed_urls))
        built.extend(as_guard(guard) for guard in guards)  # a duck-typed guard: adapted once
        self.guards: tuple[GuardBase, ...] = tuple(sorted(built, key=lambda guard: guard.order))
        # A multipart body is not kept whole, unless a guard checks its bytes (a signature).
        self._keep_raw = any(guard.needs_body for guard in self.guards)
        self._responses = {
            outcome: Response.json(status, {"status": outcome.value}, self.retry_headers(status))
            for outcome, status in self.statuses.items()
        }

    # Start-up --------------------------------------------------------------------------------

    def check_configuration(self, path: str) -> None:
        """Fail closed: an endpoint with no verification refuses to start unless opted out."""
        # A guard may say it verifies nothing (an allowlist holding 0.0.0.0/0).
        if any(guard.verifies for guard in self.guards):
            return
        if not self.insecure_no_verification:
            open_list = (
                " (an allowlist of 0.0.0.0/0 or ::/0 lets everyone in)" if self.guards else ""
            )
            raise ConfigurationError(
                f"endpoint {path} ({self.name}) has no sender verification{open_list}: configure "
                "allow_ips, basic_auth or signed URLs, or pass insecure_no_verification=True"
            )
        import logging  # loaded by then in any app; not with the class

        logging.getLogger("hookreceiver").warning(
            "endpoint %s (%s) accepts deliveries from anyone: no sender verification",
            path,
            self.name,
        )

    # Per delivery ----------------------------------------------------------------------------

    def body_sink(self, delivery: Delivery) -> BodySink | None:
        """The sink that reads this delivery's body, or ``None`` when there is none to read.

        A declared ``Content-Length`` over the limit is refused here, before the body is read
        (and so before an ASGI server sends ``100 Continue``).

        Raises:
            UnsupportedMediaType: a content type this provider does not send.
            PayloadTooLarge: a declared length over the limit.
            MalformedBody: a malformed ``Content-Length``.
        """
        declared, lengths = delivery.headers.body_headers()
        content_type = "" if declared is None else media_type(declared)
        if content_type not in self.content_types:
            if delivery.method == "GET" and (not content_type or not _declares_body(delivery)):
                # wsgiref (and Django's runserver) give a request without a Content-Type
                # "text/plain": a GET delivery without a body carries its event in the query.
                return None
            raise UnsupportedMediaType(
                f"content type {content_type or '(none)'!r} is not one {self.name} sends"
            )
        if content_type == "multipart/form-data":
            if lengths:
                check_declared_length(lengths, self.max_multipart_body)
            # python-multipart loads with the first multipart delivery, not with every app.
            from ..parsing.multipart import MultipartSink, multipart_boundary

            boundary = multipart_boundary(declared or "")
            return MultipartSink(boundary, limit=self.max_multipart_body, keep_raw=self._keep_raw)
        limit = self.max_body
        if lengths:
            text = lengths[0]
            # check_declared_length's common case, without the call: one plain decimal within
            # the limit (anything else, it judges whole).
            if not (
                len(lengths) == 1
                and len(text) <= MAX_LENGTH_DIGITS
                and text.isdigit()
                and text.isascii()
                and int(text) <= limit
            ):
                check_declared_length(lengths, limit)
        return BufferedSink(limit, content_type)

    def parse(self, delivery: Delivery, params: Mapping[str, str], body: Body) -> ParsedEvent:
        """Turn a verified, fully read delivery into a typed event.

        Raises:
            MalformedBody: the body cannot be decoded.
            InvalidPayload: it decoded but does not validate (use :func:`validate_model`).
            UnknownEvent: strict endpoint, undocumented event.
        """
        raise NotImplementedError

    def event_name(self, event: str) -> str:
        """The full name of one of this provider's events."""
        return f"{self.name}.{event}"

    def url_event_name(self, segment: str) -> str:
        """The full name of the event a URL's ``{event}`` segment names, read as :meth:`parse`
        reads it (aliases resolved): what a signed URL for that segment binds deliveries to.

        Raises:
            DeliveryRejected: 404, the segment names no event at all.
        """
        from ._common import event_from_segment

        return self.event_name(event_from_segment(segment, self.event_aliases))

    def respond(self, outcome: Outcome) -> Response:
        """The response for an outcome, with the status this provider's retry rules need."""
        return self._responses[outcome]

    def reject(self, exc: DeliveryRejected) -> Response:
        """The response for a refused delivery: its own status, a short JSON error."""
        return error_response(exc.status, exc.error, exc.detail, exc.headers)

    @staticmethod
    def retry_headers(status: int) -> tuple[tuple[str, str], ...]:
        """The headers an answer with ``status`` carries: ``Retry-After: 5`` on a 503 (the
        sender should come back soon), none otherwise. Override it for a sender that reads
        another header or wants another delay."""
        return (("retry-after", "5"),) if status == 503 else ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(guards={list(self.guards)!r})"
