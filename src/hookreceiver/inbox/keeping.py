"""Keeping a live delivery: capture it as an :class:`~hookreceiver.inbox.InboxRecord` (no
credential: credential headers dropped, a signed URL's token stored as ``***`` in the path,
query and placeholders) and put it in the inbox or the fallback journal (:class:`Keeper`).

Two verbs, two acts, everywhere in the inbox: *keep* takes a live delivery (the request, its
endpoint, its body) and captures it; *put* stores a record that already exists.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from ..delivery import CREDENTIAL_HEADERS
from ..parsing.body import Body
from .records import InboxRecord, InboxState, subject_of
from .stored import StoredFile, spooled_chunks

if TYPE_CHECKING:
    from ..core.events import ParsedEvent
    from ..core.routing import Endpoint
    from ..errors import DeliveryRejected
    from ..security.base import GuardRequest

__all__ = ["REDACTED", "Keeper", "capture", "describe", "without_url_secrets"]

#: What a credential found in a stored delivery's URL is replaced with.
REDACTED = "***"


def capture(
    request: GuardRequest,
    endpoint: Endpoint,
    body: Body,
    delivery_id: str,
    now: float,
    *,
    event: ParsedEvent | None = None,
    error: DeliveryRejected | None = None,
    traceparent: str | None = None,
) -> InboxRecord:
    """A record of a verified delivery: ``pending`` with its event, or ``quarantined``."""
    delivery = request.delivery
    path, query, params = without_url_secrets(
        endpoint, delivery.path, delivery.query, request.params
    )
    # The files stay in the request's spooled files: the keeper reads them a chunk at a time.
    files = tuple(
        StoredFile(
            a.field, a.filename, a.content_type, size=a.size, chunks=partial(spooled_chunks, a)
        )
        for a in body.files
    )
    size = len(body.raw) + sum(f.size for f in files)
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
        basic_auth=_came_with_basic_auth(delivery.headers.get("authorization")),
        traceparent=traceparent,
    )


def _came_with_basic_auth(authorization: str | None) -> bool:
    """Whether the request carried basic auth: kept (not the credentials), so a forwarded
    copy gets the local app's credentials and no other delivery does."""
    return authorization is not None and authorization.lstrip()[:6].lower() == "basic "


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


def describe(error: BaseException) -> str:
    """A one-line description of an error for ``last_error`` (never a traceback)."""
    code = getattr(error, "error", None)
    detail = getattr(error, "detail", None)
    if isinstance(code, str) and isinstance(detail, str):
        return f"{code}: {detail}"
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


class Keeper:
    """What the flow keeps a verified delivery with. Two verbs, two acts:

    - :meth:`keep` takes a *live* delivery (the request, its endpoint, its body): it captures
      it as a record (no credential, tokens as ``***``) at :attr:`clock`'s time, then puts it.
    - :meth:`put` stores a record that already exists: the inbox writes it as a row (and wakes
      its workers), the fallback journal appends it to its file.
    """

    clock: Callable[[], float]

    def put(self, record: InboxRecord) -> None:
        """Store one record."""
        raise NotImplementedError

    def keep(
        self,
        request: GuardRequest,
        endpoint: Endpoint,
        body: Body,
        delivery_id: str,
        event: ParsedEvent | None = None,
        error: DeliveryRejected | None = None,
        *,
        traceparent: str | None = None,
    ) -> InboxRecord:
        """Capture a verified live delivery as a record and :meth:`put` it (the flow calls
        this)."""
        record = capture(
            request,
            endpoint,
            body,
            delivery_id,
            self.clock(),
            event=event,
            error=error,
            traceparent=traceparent,
        )
        self.put(record)
        return record

    async def akeep(
        self,
        request: GuardRequest,
        endpoint: Endpoint,
        body: Body,
        delivery_id: str,
        event: ParsedEvent | None = None,
        error: DeliveryRejected | None = None,
        *,
        traceparent: str | None = None,
    ) -> InboxRecord:
        """Async :meth:`keep`: reading spooled attachments and writing both off the loop."""
        return await asyncio.to_thread(
            lambda: self.keep(
                request, endpoint, body, delivery_id, event, error, traceparent=traceparent
            )
        )
