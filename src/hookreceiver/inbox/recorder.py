"""Deliveries answered in ``sync`` mode, kept in the inbox too: the receiver's whole history.

An endpoint in ``sync`` mode runs its handlers before it answers, so the inbox never sees its
deliveries. With an inbox, :class:`SyncRecorder` (an engine observer the receiver adds) keeps
each one it handled as a ``done`` record with its payload and one attempt, for the console to
show and replay. The request path only appends the report to a queue; a background thread
writes the queue in batches (one transaction each) every ``interval`` seconds, after the
answer has gone. A receiver without an inbox has no recorder and pays nothing.

The record is the request as received (method, path and query with any URL secret as ``***``,
headers without credentials, body, multipart form fields), taken from references the report
holds to the live request: nothing is copied on the request path. What is not kept: multipart
files' bytes (they are removed once the handlers end; their names are kept), so such
a record is marked :attr:`~.records.InboxRecord.not_replayable`: a replay refuses it rather
than give the handlers an empty file. Reports still queued when the process is killed are lost
(a normal exit writes them): the deliveries were handled, only their record is missing.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..core.outcome import Outcome
from ..delivery import CREDENTIAL_HEADERS, PATH_PLACEHOLDER
from .keeping import without_url_secrets
from .listing import Attempt
from .records import InboxRecord, InboxState, StoredFile, subject_of

if TYPE_CHECKING:
    from ..core.routing import Endpoint
    from ..engine.report import DeliveryReport
    from .base import Inbox

__all__ = ["SyncRecorder"]

logger = logging.getLogger("hookreceiver")

#: Outcomes of a sync delivery that are kept: its handlers ran (or had run) to the end.
_KEPT = frozenset({Outcome.HANDLED, Outcome.DUPLICATE})
#: Why a recorded sync delivery cannot be replayed.
_NO_FILES = (
    "answered in sync mode: its files' bytes were not kept (only their names), so "
    "it cannot be replayed"
)
_NO_FIELDS = "answered in sync mode: its form fields were not kept, so it cannot be replayed"


class SyncRecorder:
    """An observer that keeps handled ``sync`` deliveries in ``inbox``, in the background.

    Args:
        inbox: where to keep them.
        endpoint: finds an endpoint by its path template (the receiver's router).
        interval: seconds between batches.
        batch: records per transaction at most.
        max_queued: reports waiting at most; past it the oldest are dropped (and counted in
            :attr:`dropped`) rather than let memory grow while the inbox is down.
        clock: wall-clock seconds (the inbox's).
    """

    def __init__(
        self,
        inbox: Inbox,
        endpoint: Callable[[str], Endpoint | None],
        *,
        interval: float = 0.5,
        batch: int = 200,
        max_queued: int = 100_000,
    ) -> None:
        self.inbox = inbox
        self.endpoint = endpoint
        self.interval = interval
        self.batch = batch
        self.dropped = 0
        self._queue: deque[tuple[DeliveryReport, float]] = deque(maxlen=max_queued)
        self._pid = 0
        self._wake = threading.Event()
        self._lock = threading.Lock()

    def on_report(self, report: DeliveryReport) -> None:
        """Queue a handled live delivery (the request path's only cost)."""
        if report.outcome in _KEPT and report.source == "http" and report.context is not None:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
            self._queue.append((report, self.inbox.clock()))
            if self._pid != os.getpid():
                self._start()

    def _start(self) -> None:
        # Per process: a forked worker (gunicorn --preload) starts its own thread.
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="hookreceiver-recorder", daemon=True).start()
            atexit.register(self.flush)  # what is queued when the process exits normally

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write what is queued now; how many records were written (tests, shutdown)."""
        written = 0
        with self._lock:
            while self._queue:
                taken: list[tuple[DeliveryReport, float]] = []
                while self._queue and len(taken) < self.batch:
                    taken.append(self._queue.popleft())
                written += self._write(taken)
        return written

    def _write(self, taken: list[tuple[DeliveryReport, float]]) -> int:
        records: list[InboxRecord] = []
        history: list[Attempt] = []
        for report, at in taken:
            try:
                record = self._record(report, at)
            except Exception:
                logger.exception("could not record sync delivery %s", report.delivery_id)
                continue
            if record is not None:
                records.append(record)
                history.append(Attempt(record.id, at, 1, InboxState.DONE.value, report.duration))
        if not records:
            return 0
        try:
            return self.inbox.record_many(records, history)
        except Exception as exc:
            self.dropped += len(records)
            logger.warning("could not record %d sync deliveries: %s", len(records), exc)
            return 0

    def _record(self, report: DeliveryReport, at: float) -> InboxRecord | None:
        ctx = report.context
        endpoint = None if report.endpoint is None else self.endpoint(report.endpoint)
        if ctx is None or endpoint is None or report.delivery_id is None:
            return None
        params = dict(ctx.params)
        delivery = report.delivery
        if delivery is None:  # a report built by hand: the request is not known
            method, query = "POST", ""
            path = PATH_PLACEHOLDER.sub(lambda m: params.get(m.group(1), m.group(0)), endpoint.path)
        else:
            method, path, query = delivery.method, delivery.path, delivery.query
        path, query, params = without_url_secrets(endpoint, path, query, params)
        files = tuple(StoredFile(a.field, a.filename, a.content_type, b"") for a in ctx.attachments)
        content_type = ctx.headers.get("content-type") or ""
        if delivery is not None:
            content_type = delivery.content_type
        not_replayable = None
        if files:
            not_replayable = _NO_FILES
        elif content_type.startswith("multipart/") and report.fields is None:
            not_replayable = _NO_FIELDS
        return InboxRecord(
            id=report.delivery_id,
            state=InboxState.DONE,
            endpoint=endpoint.path,
            provider=ctx.provider,
            event_name=ctx.event_name,
            key=ctx.idempotency_key,
            received_at=at - report.duration,
            updated_at=at,
            attempts=1,
            next_attempt_at=at,
            last_error=None,
            size=len(ctx.raw_body),
            subject=subject_of(ctx.event),
            method=method,
            path=path,
            query=query,
            headers=tuple(
                (name, value)
                for name, value in ctx.headers.items_list()
                if name not in CREDENTIAL_HEADERS
            ),
            client=ctx.client,
            params=params,
            content_type=content_type,
            body=ctx.raw_body,
            fields=dict(report.fields) if report.fields is not None else {},
            files=files,
            signed=dict(ctx.signed) if ctx.signed is not None else None,
            not_replayable=not_replayable,
        )

    def __repr__(self) -> str:
        return f"SyncRecorder({self.inbox!r})"
