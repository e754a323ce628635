"""Outcomes of a delivery, and the HTTP response each provider's retry rules want for them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum

__all__ = ["INTERNAL_ERROR", "NOT_FOUND", "Outcome", "Response", "error_response"]


class Outcome(str, Enum):
    """What happened to one delivery, before the provider turns it into a status."""

    #: Every handler succeeded.
    HANDLED = "handled"
    #: The event was already handled: nothing ran.
    DUPLICATE = "duplicate"
    #: The same event is being handled right now by another worker: nothing ran.
    IN_FLIGHT = "in_flight"
    #: A handler raised; the claim was released so a retry is handled.
    HANDLER_FAILED = "handler_failed"
    #: Written durably to the inbox; handlers run later.
    ACCEPTED = "accepted"
    #: The dedup store (or inbox) could not be reached; nothing ran, nothing was marked.
    STORE_UNAVAILABLE = "store_unavailable"
    #: The body decoded but did not validate (or the event is unknown to a strict endpoint).
    INVALID_PAYLOAD = "invalid_payload"
    #: A verified delivery that does not decode, validate or name a known event (strict), kept
    #: in quarantine (the inbox, or the local journal) for a replay. Providers whose sender must
    #: never see a 4xx for it declare a status; the others answer the refusal's own 4xx.
    QUARANTINED = "quarantined"
    #: Refused before parsing: verification, size, media type, method, malformed body.
    REJECTED = "rejected"
    #: A bug in the receiver itself (not in a handler) stopped the delivery while it was
    #: parsed; logged with its traceback, and the raw delivery quarantined in the inbox if any.
    RECEIVER_ERROR = "receiver_error"


@dataclass(frozen=True, slots=True)
class Response:
    """An HTTP response, independent of any framework.

    Attributes:
        status: the status code.
        headers: ``(name, value)`` pairs; ``content-type`` and ``content-length`` included.
        body: the encoded body.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    #: ``headers`` encoded for ASGI once, since provider responses are built at start-up.
    raw_headers: tuple[tuple[bytes, bytes], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        raw = tuple(
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in self.headers
        )
        object.__setattr__(self, "raw_headers", raw)

    @classmethod
    def json(
        cls, status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()
    ) -> Response:
        """A compact JSON response."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(
            status,
            (
                ("content-type", "application/json"),
                ("content-length", str(len(body))),
                *headers,
            ),
            body,
        )


def error_response(
    status: int, error: str, detail: str, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    """The short JSON error every refusal uses: ``{"error": ..., "detail": ...}``."""
    return Response.json(status, {"error": error, "detail": detail}, headers)


#: The answer for a path that is no endpoint (the adapters' and the receiver's one 404).
NOT_FOUND = error_response(404, "not_found", "no webhook endpoint at this path")
#: The answer when the receiver itself failed; the log has the traceback.
INTERNAL_ERROR = error_response(500, "internal_error", "the receiver failed; see its log")
