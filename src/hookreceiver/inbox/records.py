"""What the inbox stores: one verified delivery and its state, and how a record is encoded
in a storage backend's columns.

A record keeps everything needed to process the delivery again: the request (method, path,
query, headers without credentials, the sender's address, the endpoint's placeholders and any
signed-URL context) and the body as received, multipart files included. No credential is kept:
verification happened before the record was written (``keeping.py`` captures it, credential
headers dropped and a signed URL's token stored as ``***``). The retry policy is in
``retry.py`` (re-exported here).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import TYPE_CHECKING, Any

from ..delivery import CREDENTIAL_HEADERS
from ..parsing.body import Body
from .retry import Retry
from .stored import FILE_CHUNK, StoredFile

if TYPE_CHECKING:
    from ..core.events import ParsedEvent

__all__ = [
    "CREDENTIAL_HEADERS",
    "FILE_CHUNK",
    "InboxEntry",
    "InboxRecord",
    "InboxState",
    "Retry",
    "StoredFile",
    "entry_from_row",
    "subject_of",
    "wire_body",
]


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


@dataclass(frozen=True, slots=True)
class InboxCounts:
    """How many deliveries the inbox holds in each state, read in one query (for metrics).

    Attributes:
        pending: waiting for their first attempt.
        retrying: pending again after a failed attempt.
        processing: taken by a worker now.
        done: handled, not yet purged.
        failed: dead letters: their last attempt failed.
        quarantined: kept because they do not parse or validate.
        oldest_pending_at: when the oldest delivery still waiting to be handled (pending,
            retrying or processing) was received, or ``None`` when there is none.
    """

    pending: int = 0
    retrying: int = 0
    processing: int = 0
    done: int = 0
    failed: int = 0
    quarantined: int = 0
    oldest_pending_at: float | None = None


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
        basic_auth: the request came with ``Authorization: Basic`` credentials (never kept:
            only that they came, so ``hookreceiver forward`` sends the local app's own to
            this delivery and no other).
        lock_token: set on a record a worker has taken: only it may finish the record.
        traceparent: the W3C trace context of the span that received it, when traces are on
            (the worker's span links to it).
        not_replayable: why the record does not hold the payload as received (a sync
            delivery's attachments, whose bytes were not kept), so it is never processed
            again; ``None`` for a record that can be replayed.
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
    basic_auth: bool = False
    lock_token: str | None = None
    traceparent: str | None = None
    not_replayable: str | None = None

    def to_body(self) -> Body:
        """The body as the provider's parser expects it (attachments rebuilt from bytes)."""
        return Body(
            raw=self.body,
            content_type=self.content_type,
            fields=dict(self.fields),
            files=[stored.attachment() for stored in self.files],
        )

    def wire_body(self) -> bytes:
        """The body to send again (``hookreceiver forward``, an exported test): see
        :func:`wire_body`."""
        return wire_body(self.headers, self.content_type, self.body, self.fields, self.files)

    def details(
        self,
        *,
        body: Callable[[bytes], Any],
        file: Callable[[StoredFile], Mapping[str, Any]],
    ) -> dict[str, Any]:
        """:meth:`summary` and the request, JSON-ready: the body as ``body`` renders it and each
        file's fields beside what ``file`` gives (its bytes in base64, or only its size)."""
        return {
            **self.summary(),
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": [list(pair) for pair in self.headers],
            "client": self.client,
            "params": self.params,
            "content_type": self.content_type,
            "body": body(self.body),
            "fields": self.fields,
            "files": [
                {
                    "field": f.field,
                    "filename": f.filename,
                    "content_type": f.content_type,
                    **file(f),
                }
                for f in self.files
            ],
            "signed": self.signed,
            "basic_auth": self.basic_auth,
            "not_replayable": self.not_replayable,
        }

    def entry(self) -> InboxEntry:
        """The record without its payload."""
        return InboxEntry(**{f.name: getattr(self, f.name) for f in dataclasses.fields(InboxEntry)})

    # Storage encoding: the small parts in a JSON text, the bytes in one blob -----------------

    def encode(self, *, files_apart: bool = False) -> tuple[str, bytes]:
        """``(meta, payload)``: request details as JSON text; body and file bytes in one blob.

        With ``files_apart`` the payload holds the body alone: the inbox stores the files'
        bytes a chunk at a time beside the row (:meth:`StoredFile.chunks`).
        """
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
                    "size": f.size,
                }
                for f in self.files
            ],
            "signed": self.signed,
        }
        if self.traceparent is not None:
            meta["traceparent"] = self.traceparent
        if self.basic_auth:
            meta["basic_auth"] = True
        if self.not_replayable is not None:
            meta["not_replayable"] = self.not_replayable
        if files_apart and self.files:
            meta["files_apart"] = True
            payload = self.body
        elif self.files:
            payload = self.body + b"".join(f.data for f in self.files)
        else:
            payload = self.body
        return json.dumps(meta, separators=(",", ":"), default=str), payload

    @classmethod
    def decode(
        cls,
        entry: InboxEntry,
        meta_text: str,
        payload: bytes,
        parts: Callable[[int], Iterator[bytes]] | None = None,
    ) -> InboxRecord:
        """Rebuild a record from an entry's columns and :meth:`encode`'s output.

        ``parts(index)`` yields the chunks of file ``index`` of a record encoded with
        ``files_apart`` (read only when the file is).
        """
        meta = json.loads(meta_text)
        position = int(meta["body_size"])
        apart = bool(meta.get("files_apart"))
        if apart and parts is None:
            raise ValueError("the record's files are stored apart: pass parts")
        files = []
        for index, part in enumerate(meta["files"]):
            kind = (part["field"], part["filename"], part["content_type"])
            size = int(part["size"])
            if apart:
                assert parts is not None
                files.append(StoredFile(*kind, size=size, chunks=partial(parts, index)))
                continue
            end = position + size
            files.append(StoredFile(*kind, payload[position:end]))
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
            basic_auth=bool(meta.get("basic_auth")),
            traceparent=meta.get("traceparent"),
            not_replayable=meta.get("not_replayable"),
        )


def wire_body(
    headers: Iterable[tuple[str, str]],
    content_type: str,
    body: bytes,
    fields: Mapping[str, str],
    files: Iterable[StoredFile],
) -> bytes:
    """A stored delivery's body as it can be sent again.

    As received for every body but multipart, whose raw bytes are not kept (its parts are):
    that one is encoded again from the stored fields, then files, with the boundary of the
    stored ``Content-Type`` header, so it parses into the same parts.
    """
    if not content_type.startswith("multipart/"):
        return body
    header = next((v for k, v in headers if k == "content-type"), "")
    boundary = header.partition("boundary=")[2].split(";", 1)[0].strip().strip('"')
    if not boundary:
        return body
    dash = b"--" + boundary.encode("latin-1")
    out = bytearray()
    for name, value in fields.items():
        out += dash + b"\r\n" + _disposition(name, None) + b"\r\n\r\n"
        out += value.encode("utf-8") + b"\r\n"
    for stored in files:
        out += dash + b"\r\n" + _disposition(stored.field, stored.filename, is_file=True) + b"\r\n"
        out += f"Content-Type: {stored.content_type}\r\n\r\n".encode("latin-1")
        out += stored.data + b"\r\n"
    out += dash + b"--\r\n"
    return bytes(out)


def _disposition(name: str, filename: str | None, *, is_file: bool = False) -> bytes:
    # A file part is one with a filename parameter, even an empty one (stored as None).
    text = f"Content-Disposition: form-data; name={_quoted(name)}"
    if is_file:
        text += f"; filename={_quoted(filename or '')}"
    return text.encode("utf-8")


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


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
