"""Documo deliveries, as Documo sends them.

Legacy webhooks (``fax.inbound``, ``fax.outbound``, ``fax.outbound.extended`` and the account
events) are ``multipart/form-data``: a form field ``data`` holding the event as a JSON string and,
when the webhook has ``attachmentEnabled``, a file field ``attachment`` with the fax document
(here a small valid PDF with as many pages as the fax). The new generation (``fax.v1.*``) posts
plain JSON. Basic auth, when the webhook has it, arrives in ``Authorization``. Documo sends from
35.225.187.84.

Every factory takes the wire fields as keywords (``messageId=...``, ``faxNumber=...``; ``...``
drops a field) besides its friendly arguments, and the transport keywords ``path``, ``sender``,
``url``, ``basic_auth``, ``headers``, ``user_agent``, ``signer`` and ``signed_context`` (see
:class:`~hookreceiver.testing.factories._base.Transport`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from ..pdf import make_pdf
from ..schedules import HOUR, MINUTE, RetrySchedule
from ._base import (
    AttachmentArg,
    HeadersArg,
    SimulatedDelivery,
    Transport,
    assemble,
    deep_merge,
    json_body,
    multipart_body,
    next_number,
    post_json,
    recent_time,
    signature_of,
    transport_of,
    unique_uuid,
)

if TYPE_CHECKING:
    from ...security.signed_urls import URLSigner

__all__ = [
    "EVENTS",
    "IP_PRESET",
    "OUTBOUND_EXTENDED_STATUSES",
    "USER_AGENT",
    "account_event",
    "document_complete",
    "document_failed",
    "fax_event",
    "fax_inbound",
    "fax_outbound",
    "fax_outbound_extended",
    "fax_v1",
    "number_add",
    "number_release",
    "outbound_extended_sequence",
    "user_create",
    "user_delete",
]

PROVIDER = "documo"
#: Documo's published sender address.
IP_PRESET = ("35.225.187.84",)
#: Documo's webhook sender is a Node.js service; the exact agent is not published [I].
USER_AGENT = "axios/0.21.4"
#: The statuses ``fax.outbound.extended`` posts, in the order a fax goes through them.
OUTBOUND_EXTENDED_STATUSES = ("processing", "scheduled", "transmitting", "success")
DEFAULT_PATH = "/hooks/documo"

_ACCOUNT = {
    "uuid": "efaa36f7-d9a0-493f-a3aa-0cb1114eea0c",
    "accountNumber": "1201734191",
    "accountName": "Documo",
    "accountType": "master",
}


def _iso(moment: datetime | None = None) -> str:
    chosen = moment if moment is not None else recent_time()
    return chosen.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fax_payload(direction: str, status: str, pages: int) -> dict[str, Any]:
    number = next_number()
    created = recent_time()
    success = status == "success"
    return {
        "resultInfo": "OK" if success else "Fax failed",
        "messageId": unique_uuid(),
        "channelType": "web" if direction == "inbound" else "api",
        "isArchived": False,
        "isFilePurged": False,
        "deliveryId": f"22105{number:011d}",
        "watermark": f"221051413{number:010d}",
        "messageNumber": str(1436823 + number),
        "status": status,
        "pagesCount": pages,
        "pagesComplete": pages if success else 0,
        "duration": 22000 * pages,
        "faxNumber": "+18332394039",
        "faxCsid": "702432",
        "faxCallerId": "+15551230000",
        "faxECM": 256,
        "faxSpeed": 14400,
        "faxDetected": True,
        "faxProtocol": 17,
        "faxAttempt": 1,
        "direction": direction,
        "errorCode": "0" if success else "3011",
        "resultCode": "0" if success else "3011",
        "country": "US",
        "resolvedDate": _iso(created + timedelta(seconds=22 * pages)),
        "createdAt": _iso(created),
        "accountId": _ACCOUNT["uuid"],
        "processingStatusName": status,
        "classificationLabel": direction,
        "recipientName": None if direction == "inbound" else "Front desk",
        "subject": None if direction == "inbound" else "Test fax",
        "deviceId": None,
        "faxbridgeId": None,
        "deletedAt": None,
        "account": dict(_ACCOUNT),
        "cf": {},
    }


def _legacy(
    event: str,
    payload: Mapping[str, Any],
    attachment: bytes | None,
    filename: str,
    transport: Transport,
) -> SimulatedDelivery:
    files = [("attachment", filename, "application/pdf", attachment)] if attachment else []
    body, content_type = multipart_body([("data", json_body(payload).decode())], files)
    return assemble(
        provider=PROVIDER,
        event=f"{PROVIDER}.{event}",
        method="POST",
        default_path=DEFAULT_PATH,
        body=body,
        content_type=content_type,
        payload=payload,
        preset=IP_PRESET,
        attachment=attachment,
        url_event=event,
        **transport,
    )


def _document(attachment: AttachmentArg, pages: int, default: bool) -> bytes | None:
    if attachment is None:
        attachment = default
    if attachment is True:
        return make_pdf(pages)
    if attachment is False:
        return None
    return attachment


#: The legacy fax events: direction, usual status, whether the fax document is attached.
_FAX_EVENTS = {
    "fax.inbound": ("inbound", "success", True),
    "fax.outbound": ("outbound", "success", False),
    "fax.outbound.extended": ("outbound", "transmitting", False),
}


def fax_event(
    event: str,
    /,
    *,
    status: str | None = None,
    pages: int = 1,
    attachment: AttachmentArg = None,
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
    """Any legacy fax event (``fax.inbound``, ``fax.outbound``, ``fax.outbound.extended``).

    Args:
        status: the fax's status; ``success`` unless the event is ``fax.outbound.extended``
            (``transmitting``).
        pages: the fax's pages (``pagesCount``, and the attached PDF's pages).
        attachment: the document's bytes, ``True`` for a PDF of ``pages`` pages or ``False`` for
            none; by default only ``fax.inbound`` carries one.
        fields: wire fields to set (``messageId=...``); ``...`` drops one.
    """
    transport = transport_of(locals())
    if event not in _FAX_EVENTS:
        raise ValueError(f"Documo has no legacy fax event {event!r}; see {sorted(_FAX_EVENTS)}")
    direction, usual_status, attached = _FAX_EVENTS[event]
    status = usual_status if status is None else status
    payload = deep_merge(_fax_payload(direction, status, pages), fields)
    document = _document(attachment, pages, attached)
    filename = f"{payload.get('messageId', 'fax')}.pdf"
    return _legacy(event, payload, document, filename, transport)


@signature_of(fax_event)
def fax_inbound(**kwargs: Any) -> SimulatedDelivery:
    """``fax.inbound``: a fax was received; the PDF (``pages`` pages) is attached by default."""
    return fax_event("fax.inbound", **kwargs)


@signature_of(fax_event)
def fax_outbound(**kwargs: Any) -> SimulatedDelivery:
    """``fax.outbound``: a sent fax ended (``success`` or ``failed``); no attachment by default."""
    return fax_event("fax.outbound", **kwargs)


@signature_of(fax_event)
def fax_outbound_extended(**kwargs: Any) -> SimulatedDelivery:
    """``fax.outbound.extended``: one post per status of a sent fax (pass ``messageId`` to
    tie several to one fax, or use :func:`outbound_extended_sequence`)."""
    return fax_event("fax.outbound.extended", **kwargs)


def outbound_extended_sequence(
    statuses: tuple[str, ...] | list[str] = OUTBOUND_EXTENDED_STATUSES, **kwargs: Any
) -> list[SimulatedDelivery]:
    """The ``fax.outbound.extended`` posts of one fax, one per status, in the given order.

    All share one ``messageId`` (pass ``messageId=`` to choose it). Reorder the list to test
    out-of-order arrival: the receiver answers a ``transmitting`` that arrives after the
    final status as a duplicate, without running handlers.
    """
    kwargs.setdefault("messageId", unique_uuid())
    return [fax_outbound_extended(status=status, **kwargs) for status in statuses]


def account_event(
    event: str,
    /,
    *,
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
    """An account-level legacy event (``user.create``, ``number.add``, ``document.complete``...).

    Documo publishes no sample of these; the payload is the plausible object the event names,
    multipart like every legacy event [I].
    """
    transport = transport_of(locals())
    subject, _, action = event.partition(".")
    base: dict[str, Any] = {
        "accountId": _ACCOUNT["uuid"],
        "action": action,
        "createdAt": _iso(),
        "account": dict(_ACCOUNT),
    }
    if subject == "user":
        n = next_number()
        base |= {"userId": unique_uuid(), "email": f"user{n}@example.com", "firstName": "Test"}
    elif subject == "number":
        base |= {"numberId": unique_uuid(), "faxNumber": f"+1833{next_number() % 10**7:07d}"}
    else:
        base |= {"documentId": unique_uuid(), "status": action}
    payload = deep_merge(base, fields)
    return _legacy(event, payload, None, "", transport)


@signature_of(account_event)
def user_create(**kwargs: Any) -> SimulatedDelivery:
    """``user.create``: see :func:`account_event` for the keywords."""
    return account_event("user.create", **kwargs)


@signature_of(account_event)
def user_delete(**kwargs: Any) -> SimulatedDelivery:
    """``user.delete``: see :func:`account_event` for the keywords."""
    return account_event("user.delete", **kwargs)


@signature_of(account_event)
def number_add(**kwargs: Any) -> SimulatedDelivery:
    """``number.add``: see :func:`account_event` for the keywords."""
    return account_event("number.add", **kwargs)


@signature_of(account_event)
def number_release(**kwargs: Any) -> SimulatedDelivery:
    """``number.release``: see :func:`account_event` for the keywords."""
    return account_event("number.release", **kwargs)


@signature_of(account_event)
def document_complete(**kwargs: Any) -> SimulatedDelivery:
    """``document.complete``: see :func:`account_event` for the keywords."""
    return account_event("document.complete", **kwargs)


@signature_of(account_event)
def document_failed(**kwargs: Any) -> SimulatedDelivery:
    """``document.failed``: see :func:`account_event` for the keywords."""
    return account_event("document.failed", **kwargs)


#: The new-generation (JSON) events, after ``fax.v1.``.
V1_STAGES = (
    "inbound.init",
    "inbound.page",
    "inbound.succeed",
    "inbound.failed",
    "inbound.complete",
    "outbound.init",
    "outbound.succeed",
    "outbound.failed",
    "outbound.complete",
    "number.add",
    "number.release",
)


def fax_v1(
    stage: str = "inbound.succeed",
    *,
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
    """A new-generation ``fax.v1.<stage>`` event, plain JSON ``{"event", "data"}``.

    Documo has not published this schema; the envelope is our assumption [I].
    """
    transport = transport_of(locals())
    event = f"fax.v1.{stage}"
    direction, _, step = stage.partition(".")
    status = {"succeed": "success", "failed": "failed"}.get(step, "processing")
    data = _fax_payload(direction if direction in ("inbound", "outbound") else "inbound", status, 1)
    payload = deep_merge({"event": event, "createdAt": _iso(), "data": data}, fields)
    return post_json(
        PROVIDER, event, payload, default_path=DEFAULT_PATH, preset=IP_PRESET, transport=transport
    )


#: Every event's factory, by the event name after ``documo.``.
EVENTS: dict[str, Callable[..., SimulatedDelivery]] = {
    "fax.inbound": fax_inbound,
    "fax.outbound": fax_outbound,
    "fax.outbound.extended": fax_outbound_extended,
    "user.create": user_create,
    "user.delete": user_delete,
    "number.add": number_add,
    "number.release": number_release,
    "document.complete": document_complete,
    "document.failed": document_failed,
    **{f"fax.v1.{stage}": partial(fax_v1, stage) for stage in V1_STAGES},
}


def retry_schedule() -> RetrySchedule:
    """Documo retries any non-2xx (or no answer) 7 more times, 5 s, 25 s, 2 min, 10 min, 52 min,
    4 h and 22 h after the previous failure; then it e-mails the account."""
    return RetrySchedule(
        PROVIDER,
        (5.0, 25.0, 2 * MINUTE, 10 * MINUTE, 52 * MINUTE, 4 * HOUR, 22 * HOUR),
        retry_status=lambda status: not 200 <= status < 300,
        then="e-mails the account with the event (without its attachment)",
    )


#: Events whose body does not name them: the demo sends them to an endpoint whose path does.
NAMED_BY_URL = frozenset(
    ("user.create", "user.delete", "number.add", "number.release")
    + ("document.complete", "document.failed")
)

#: Events ``hookreceiver demo`` sends with something worth showing: its "case", the keywords.
DEMO_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "fax.inbound": ("multipart, 3-page PDF", {"pages": 3}),
    "fax.outbound": ("failed", {"status": "failed"}),
    **{f"fax.v1.{stage}": ("new JSON generation", {}) for stage in V1_STAGES},
}
