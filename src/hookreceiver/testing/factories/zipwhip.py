"""Zipwhip deliveries, as Zipwhip's webhooks send them.

A message event is JSON (``application/json; charset=UTF-8``) sent with the method chosen for the
webhook (POST, PUT or GET) by ``Jakarta Commons-HttpClient/3.1``. The payload names no event: the
event is the last segment of the URL the webhook was registered with, so the default path is
``/hooks/zipwhip/<event>``. Message ids are 64-bit integers above 2**53 and go on the wire as
exact JSON integers. Senders come from 69.46.44.0/24 and 208.69.95.64/26.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ._base import (
    HeadersArg,
    SimulatedDelivery,
    assemble,
    deep_merge,
    json_body,
    next_number,
    recent_time,
    signature_of,
    transport_of,
)

if TYPE_CHECKING:
    from ...security.signed_urls import URLSigner

__all__ = [
    "ALIASES",
    "EVENTS",
    "EVENT_NAMES",
    "IP_PRESET",
    "STATUS_CODES",
    "USER_AGENT",
    "delete",
    "message_event",
    "optout_change",
    "progress",
    "read",
    "receive",
    "send",
]

PROVIDER = "zipwhip"
#: Zipwhip's published sender ranges.
IP_PRESET = ("69.46.44.0/24", "208.69.95.64/26")
#: The agent shown in Zipwhip's example request.
USER_AGENT = "Jakarta Commons-HttpClient/3.1"
#: ``statusCode`` values and their meaning.
STATUS_CODES = {
    -1234: "recipient sent STOP",
    -855: "internal error (final failure)",
    -801: "spam protection",
    0: "delivered, unconfirmed (final success)",
    1: "in process",
    2: "queued",
    3: "queued",
    4: "delivered, confirmed (final success)",
    5: "error, confirmed (final failure)",
    6: "delivered by receipt (final success)",
    7: "error by receipt (final failure)",
}
DEFAULT_PATH = "/hooks/zipwhip/{event}"
#: Above 2**53: a float would lose its last digits.
_FIRST_ID = 1327295480212647936


#: Our event names, by the URL segment the webhook is registered with.
EVENT_NAMES = {
    "receive": "message.receive",
    "send": "message.send",
    "progress": "message.progress",
    "read": "message.read",
    "delete": "message.delete",
    "optout_change": "optout.change",
}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _message(event: str, e164: bool) -> dict[str, Any]:
    n = next_number()
    ours, theirs = "4257772300", f"425{(7770000 + n) % 10**7:07d}"
    outgoing = event in ("send", "progress")
    source, destination = (ours, theirs) if outgoing else (theirs, ours)
    created = recent_time().astimezone()
    payload: dict[str, Any] = {
        "body": "Thanks for texting, this is an auto reply!" if outgoing else f"Hello #{n}",
        "bodySize": 0,
        "visible": True,
        "hasAttachment": False,
        "dateRead": None,
        "bcc": None,
        "finalDestination": destination,
        "messageType": "ZO" if outgoing else "MO",
        "deleted": event == "delete",
        "statusCode": 1 if event == "send" else 4,
        "id": _FIRST_ID + n,
        "scheduledDate": None,
        "fingerprint": str(132131532 + n),
        "messageTransport": 9,
        "contactId": 3382213402 + n,
        "address": f"ptn:/{theirs}",
        "read": event == "read",
        "dateCreated": created.isoformat(timespec="seconds"),
        "dateDeleted": None,
        "dateDelivered": None,
        "cc": None,
        "finalSource": source,
        "deviceId": 299538202,
    }
    if e164:
        payload |= {
            "finalDestination": f"+1{destination}",
            "finalSource": f"+1{source}",
            "address": f"ptn:/+1{theirs}",
            "messageStatus": 1003,
        }
    payload["bodySize"] = len(payload["body"])
    return payload


def message_event(
    event: str,
    /,
    *,
    status_code: int | None = None,
    e164: bool = False,
    method: str = "POST",
    path: str | None = None,
    sender: str | None = None,
    basic_auth: tuple[str, str] | None = None,
    headers: HeadersArg = None,
    user_agent: str | None = USER_AGENT,
    url: str | None = None,
    signer: URLSigner | None = None,
    signed_context: Mapping[str, Any] | None = None,
    **fields: Any,
) -> SimulatedDelivery:
    """Any Zipwhip message event (``receive``, ``send``, ``progress``, ``read``, ``delete``,
    ``optout_change``).

    Args:
        event: the event, as the last segment of the webhook's URL.
        status_code: the ``statusCode`` (see :data:`STATUS_CODES`).
        e164: use the newer payload: E.164 addresses and ``messageStatus``.
        method: ``POST`` (default), ``PUT`` or ``GET`` (the fields go in the query string).
        fields: wire fields to set (``body="STOP"``, ``id=...``); ``...`` drops one.
    """
    transport = transport_of(locals())
    payload = _message(event, e164)
    if status_code is not None:
        payload["statusCode"] = status_code
    payload = deep_merge(payload, fields)
    body, query = json_body(payload), ""
    content_type: str | None = "application/json; charset=UTF-8"
    if method.upper() == "GET":
        # Zipwhip does not show a GET delivery; we send the message's fields as a query [I].
        body, content_type = b"", None
        query = urlencode({k: _text(v) for k, v in payload.items() if v is not None})
    return assemble(
        provider=PROVIDER,
        event=f"{PROVIDER}.{EVENT_NAMES.get(event, event)}",
        method=method,
        default_path=DEFAULT_PATH,
        body=body,
        content_type=content_type,
        payload=payload,
        preset=IP_PRESET,
        query=query,
        url_event=event,
        **transport,
    )


@signature_of(message_event)
def receive(**kwargs: Any) -> SimulatedDelivery:
    """``receive``: a text message arrived. Keywords as for :func:`message_event`."""
    return message_event("receive", **kwargs)


@signature_of(message_event)
def send(**kwargs: Any) -> SimulatedDelivery:
    """``send``: a text message was sent. Keywords as for :func:`message_event`."""
    return message_event("send", **kwargs)


@signature_of(message_event)
def progress(**kwargs: Any) -> SimulatedDelivery:
    """``progress``: a sent message's status changed (``status_code=``)."""
    return message_event("progress", **kwargs)


@signature_of(message_event)
def read(**kwargs: Any) -> SimulatedDelivery:
    """``read``: a message was read. Keywords as for :func:`message_event`."""
    return message_event("read", **kwargs)


@signature_of(message_event)
def delete(**kwargs: Any) -> SimulatedDelivery:
    """``delete``: a message was deleted. Keywords as for :func:`message_event`."""
    return message_event("delete", **kwargs)


@signature_of(message_event)
def optout_change(**kwargs: Any) -> SimulatedDelivery:
    """``optout change``: a contact opted out (or back in). Keywords as for
    :func:`message_event`."""
    kwargs.setdefault("body", "STOP")
    kwargs.setdefault("status_code", -1234)
    return message_event("optout_change", **kwargs)


#: Every event's factory, by the event name after ``zipwhip.``.
EVENTS: dict[str, Callable[..., SimulatedDelivery]] = {
    "message.receive": receive,
    "message.send": send,
    "message.progress": progress,
    "message.read": read,
    "message.delete": delete,
    "optout.change": optout_change,
}
#: Other names of the events: the URL segments.
ALIASES = {segment: name for segment, name in EVENT_NAMES.items()} | {"optout": "optout.change"}

#: Events ``hookreceiver demo`` sends with something worth showing: its "case", the keywords.
#: Zipwhip documents no retries: no ``retry_schedule``, so one attempt.
DEMO_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "message.progress": ("delivered", {"status_code": 4}),
}
