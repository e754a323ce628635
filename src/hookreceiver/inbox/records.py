"""What the inbox stores: one verified delivery, its state, and the retry policy.

A record keeps everything needed to process the delivery again: the request (method, path,
query, headers without credentials, the sender's address, the endpoint's placeholders and any
signed-URL context) and the body as received, multipart files included. No credential is kept:
verification happened before the record was written, so credential headers are dropped and a
signed URL's token is stored as ``***`` in the path, query and placeholders.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from ..delivery import CREDENTIAL_HEADERS
from ..parsing.attachment import Attachment
from ..parsing.body import Body

if TYPE_CHECKING:
    from ..core.events import ParsedEvent
    from ..core.routing import Endpoint
    from ..errors import DeliveryRejected
    from ..security.base import GuardRequest

__all__ = [
    "CREDENTIAL_HEADERS",
    "InboxEntry",
    "InboxRecord",
    "InboxState",
    "Keeper",
    "REDACTED",
    "Retry",
    "StoredFile",
    "capture",
    "describe",
    "entry_from_row",
    "subject_of",
    "without_url_secrets",
]

#: Headers never written to the inbox: verification is done before a delivery is stored, and
#: the credentials are of no use afterwards.
#: What a credential found in a stored delivery's URL is replaced with.
REDACTED = "***"


class InboxState(str, Enum):
    """Where a stored delivery is in its life."""

    #: Waiting for a worker (new, or retried after a failure once its backoff has passed).
    PENDING = "pending"
    #: A worker holds it until its lease expires.
    PROCESSING = "processing"
    #: Its handlers succeeded (or it was a duplicate of a handled event).
    DONE = "done"
    #: The last attempt failed; kept with its error until replayed.
    FAILED = "failed"
    #: It does not parse or validate; kept raw with the error until replayed.
    QUARANTINED = "quarantined"


@dataclass(frozen=True, slots=True)
class Retry:
    """How a failed delivery is retried: exponential backoff, then ``failed``.

    After failed attempt ``n`` the next one waits ``first_delay * factor ** (n - 1)`` seconds,
    at most ``max_delay``. With the defaults: 2 s, 4 s, 8 s ... about 17 minutes in all over
    ten attempts.

    Attributes:
        max_attempts: attempts before the delivery is marked ``failed``.
        first_delay: seconds before the second attempt.
        factor: growth of the delay per attempt.
        max_delay: the longest delay.
    """

    max_attempts: int = 10
    first_delay: float = 2.0
    factor: float = 2.0
    max_delay: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("Retry.max_attempts must be at least 1")
        if self.first_delay < 0 or self.factor < 1 or self.max_delay < 0:
            raise ValueError("Retry delays must be >= 0 and factor >= 1")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first)."""
        exponent = max(0, attempt - 1)
        if exponent > 64:  # far past any max_delay; avoid an overflow
            return self.max_delay
        return float(min(self.max_delay, self.first_delay * self.factor**exponent))


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A multipart file part kept in the inbox (a fax document)."""

    field: str
    filename: str | None
    content_type: str
    data: bytes

    def attachment(self) -> Attachment:
        """A fresh :class:`~hookreceiver.Attachment` over the stored bytes."""
        return Attachment.from_bytes(
            self.data, field=self.field, filename=self.filename, content_type=self.content_type
        )


@dataclass(slots=True)
class InboxEntry:
    """A stored delivery without its payload: what ``inbox list`` shows.

    Attributes:
        id: the delivery's id (the ``delivery_id`` its handlers see).
        state: where it is in its life.
        endpoint: the endpoint's path template.
        provider: the provider's name.
        event_name: the full event name, once parsed (``None`` when it does not parse).
        key: the idempotency key, once parsed.
        received_at: when it was accepted.
        updated_at: when it last changed.
        attempts: processing attempts so far (a replay starts again at 1).
        next_attempt_at: when a pending delivery is due (for ``processing``: its lease's end).
        last_error: why the last attempt failed, or why it is quarantined.
        size: bytes of body and files.
        subject: the fax, message or call id the event is about, when it names one (what
            the console's search finds besides the delivery id and idempotency key).
    """

    id: str
    state: InboxState
    endpoint: str
    provider: str
    event_name: str | None
    key: str | None
    received_at: float
    updated_at: float
    attempts: int
    next_attempt_at: float
    last_error: str | None
    size: int
    subject: str | None = None

    def summary(self) -> dict[str, Any]:
        """A JSON-ready dict of the entry."""
        return {
            "id": self.id,
            "state": self.state.value,
            "endpoint": self.endpoint,
            "provider": self.provider,
            "event": self.event_name,
            "key": self.key,
            "received_at": self.received_at,
            "updated_at": self.updated_at,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
            "last_error": self.last_error,
            "size": self.size,
            "subject": self.subject,
        }


@dataclass(slots=True)
class InboxRecord(InboxEntry):
    """A stored delivery with everything needed to process it again.

    Attributes:
        method: the HTTP method.
        path: the URL path it was delivered to (the template's placeholders filled in).
        query: the raw query string.
        headers: the request headers, credentials removed (see :data:`CREDENTIAL_HEADERS`).
        client: the sender's address (after trusted-proxy resolution).
        params: the values of the endpoint's placeholders.
        content_type: the body's media type.
        body: the raw body (empty for multipart).
        fields: multipart text fields.
        files: multipart files.
        signed: the context a signed callback URL carried, when the endpoint uses them.
        lock_token: set on a record a worker has taken: only it may finish the record.
    """

    method: str = "POST"
    path: str = ""
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    client: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    content_type: str = ""
    body: bytes = b""
    fields: dict[str, str] = field(default_factory=dict)
    files: tuple[StoredFile, ...] = ()
    signed: dict[str, Any] | None = None
    lock_token: str | None = None

    def to_body(self) -> Body:
        """The body as the provider's parser expects it (attachments rebuilt from bytes)."""
        return Body(
            raw=self.body,
            content_type=self.content_type,
            fields=dict(self.fields),
            files=[stored.attachment() for stored in self.files],
        )

    def entry(self) -> InboxEntry:
        """The record without its payload."""
        return InboxEntry(**{f.name: getattr(self, f.name) for f in dataclasses.fields(InboxEntry)})

    # Storage encoding: the small parts in a JSON text, the bytes in one blob -----------------

    def encode(self) -> tuple[str, bytes]:
        """``(meta, payload)``: request details as JSON text; body and file bytes in one blob."""
        meta = {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": [list(pair) for pair in self.headers],
            "client": self.client,
            "params": self.params,
            "content_type": self.content_type,
            "body_size": len(self.body),
            "fields": self.fields,
            "files": [
                {
                    "field": f.field,
                    "filename": f.filename,
                    "content_type": f.content_type,
                    "size": len(f.data),
                }
                for f in self.files
            ],
            "signed": self.signed,
        }
        payload = self.body + b"".join(f.data for f in self.files) if self.files else self.body
        return json.dumps(meta, separators=(",", ":"), default=str), payload

    @classmethod
    def decode(cls, entry: InboxEntry, meta_text: str, payload: bytes) -> InboxRecord:
        """Rebuild a record from an entry's columns and :meth:`encode`'s output."""
        meta = json.loads(meta_text)
        position = int(meta["body_size"])
        files = []
        for part in meta["files"]:
            end = position + int(part["size"])
            files.append(
                StoredFile(
                    part["field"], part["filename"], part["content_type"], payload[position:end]
                )
            )
            position = end
        return cls(
            **{f.name: getattr(entry, f.name) for f in dataclasses.fields(InboxEntry)},
            method=meta["method"],
            path=meta["path"],
            query=meta["query"],
            headers=tuple((str(k), str(v)) for k, v in meta["headers"]),
            client=meta["client"],
            params=dict(meta["params"]),
            content_type=meta["content_type"],
            body=bytes(payload[: int(meta["body_size"])]),
            fields=dict(meta["fields"]),
            files=tuple(files),
            signed=meta["signed"],
        )


def capture(
    request: GuardRequest,
    endpoint: Endpoint,
    body: Body,
    delivery_id: str,
    now: float,
    *,
    event: ParsedEvent | None = None,
    error: DeliveryRejected | None = None,
) -> InboxRecord:
    """A record of a verified delivery: ``pending`` with its event, or ``quarantined``."""
    delivery = request.delivery
    path, query, params = without_url_secrets(
        endpoint, delivery.path, delivery.query, request.params
    )
    files = tuple(StoredFile(a.field, a.filename, a.content_type, a.read()) for a in body.files)
    size = len(body.raw) + sum(len(f.data) for f in files)
    return InboxRecord(
        id=delivery_id,
        state=InboxState.PENDING if error is None else InboxState.QUARANTINED,
        endpoint=endpoint.path,
        provider=endpoint.provider.name,
        event_name=event.name if event is not None else getattr(error, "event", None),
        key=event.key if event is not None else None,
        received_at=now,
        updated_at=now,
        attempts=0,
        next_attempt_at=now,
        last_error=None if error is None else describe(error),
        size=size,
        subject=None if event is None else subject_of(event),
        method=delivery.method,
        path=path,
        query=query,
        headers=tuple(
            (name, value)
            for name, value in delivery.headers.items_list()
            if name not in CREDENTIAL_HEADERS
        ),
        client=request.client,
        params=params,
        content_type=body.content_type or delivery.content_type,
        body=body.raw,
        fields=dict(body.fields),
        files=files,
        signed=dict(request.signed) if request.signed is not None else None,
    )


def without_url_secrets(
    endpoint: Endpoint, path: str, query: str, params: Mapping[str, str]
) -> tuple[str, str, dict[str, str]]:
    """The path, query and placeholders with every credential the endpoint's guards read from
    the URL (a signed URL's token) replaced by ``***``: a stored delivery holds no secret."""
    names = {n for guard in endpoint.provider.guards for n in guard.secret_params}
    kept = dict(params)
    if not names:
        return path, query, kept
    for name in names & kept.keys():
        token = kept[name]
        if token:
            path = path.replace(token, REDACTED)
        kept[name] = REDACTED
    if query and any(name in query for name in names):
        items = [item.partition("=") for item in query.split("&")]
        query = "&".join(
            f"{key}={REDACTED}" if unquote_plus(key) in names else f"{key}{eq}{value}"
            for key, eq, value in items
        )
    return path, query, kept


def subject_of(event: ParsedEvent) -> str | None:
    """The fax, message or call id ``event`` is about (from its cross-provider view), if any."""
    try:
        view = event.normalized
    except Exception:  # a view that cannot be built names nothing; the delivery is kept
        return None
    for name in ("fax_id", "message_id", "call_id"):
        value = getattr(view, name, None)
        if value is not None:
            return str(value)[:200]
    return None


def describe(error: BaseException) -> str:
    """A one-line description of an error for ``last_error`` (never a traceback)."""
    code = getattr(error, "error", None)
    detail = getattr(error, "detail", None)
    if isinstance(code, str) and isinstance(detail, str):
        return f"{code}: {detail}"
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def entry_from_row(row: Mapping[str, Any]) -> InboxEntry:
    """An :class:`InboxEntry` from a row of the shared column layout (both SQL backends)."""
    return InboxEntry(
        id=row["id"],
        state=InboxState(row["state"]),
        endpoint=row["endpoint"],
        provider=row["provider"],
        event_name=row["event_name"],
        key=row["event_key"],
        received_at=float(row["received_at"]),
        updated_at=float(row["updated_at"]),
        attempts=int(row["attempts"]),
        next_attempt_at=float(row["next_attempt_at"]),
        last_error=row["last_error"],
        size=int(row["size"]),
        subject=row["subject"] if "subject" in row.keys() else None,
    )


class Keeper:
    """What the flow keeps a verified delivery with: :meth:`keep` captures it as a record (no
    credential, tokens as ``***``) at :attr:`clock`'s time and writes it with :meth:`write`.
    The inbox writes it as a row, the fallback journal appends it to its file."""

    clock: Callable[[], float]

    def write(self, record: InboxRecord) -> None:
        """Store one captured record."""
        raise NotImplementedError

    def keep(
        self,
        request: GuardRequest,
        endpoint: Endpoint,
        body: Body,
        delivery_id: str,
        event: ParsedEvent | None = None,
        error: DeliveryRejected | None = None,
    ) -> InboxRecord:
        """Capture a verified delivery as a record and :meth:`write` it (the flow calls this)."""
        record = capture(
            request, endpoint, body, delivery_id, self.clock(), event=event, error=error
        )
        self.write(record)
        return record

    async def akeep(
        self,
        request: GuardRequest,
        endpoint: Endpoint,
        body: Body,
        delivery_id: str,
        event: ParsedEvent | None = None,
        error: DeliveryRejected | None = None,
    ) -> InboxRecord:
        """Async :meth:`keep`: reading spooled attachments and writing both off the loop."""
        return await asyncio.to_thread(
            self.keep, request, endpoint, body, delivery_id, event, error
        )
