"""The inbox interface: verified deliveries kept durably until their handlers have succeeded.

An endpoint in ``inbox`` mode answers the sender as soon as the delivery is written here; a
worker then takes it, parses it and runs its handlers under the usual dedup rules, retrying with
backoff. Deliveries that do not parse are kept too, as ``quarantined``, so nothing a sender
delivered is ever lost because a model was out of date.

The life of one stored delivery::

    pending ──take──> processing ──> done
       ^                  │  ├─────> pending (a handler failed: retried after a backoff)
       │                  │  ├─────> failed (the last attempt failed: on_dead_letter is called)
       └──── replay ──────┘  └─────> quarantined (it does not parse or validate)

A worker renews its lease on a heartbeat while the handlers run, so a slow handler keeps its
delivery; a ``processing`` delivery whose worker died (and stopped renewing) is taken again once
its lease has expired. Every
time is wall-clock seconds from the inbox's ``clock``: the rows outlive processes, and workers
on several hosts must read (roughly) the same clock.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from .keeping import Keeper
from .listing import Attempt, InboxStats, Page, SearchQuery
from .records import InboxCounts, InboxEntry, InboxRecord, InboxState
from .retry import Retry

__all__ = ["DAY", "Inbox"]

logger = logging.getLogger("hookreceiver")

DAY = 86400.0
_BATCH = 500  # ids per statement: SQLite allows a few thousand parameters at most


class Inbox(Keeper):
    """Base class of inboxes: durable storage of verified deliveries, and their retry policy.

    Subclasses (:class:`~hookreceiver.inbox.SQLiteInbox`,
    :class:`~hookreceiver.inbox.PostgresInbox`) implement the storage primitives; the public
    methods here add the clock, the policy and change notifications. The async methods run the
    sync ones in a worker thread.

    Every method raises :class:`~hookreceiver.StoreUnavailable` when the backend is unreachable.

    Args:
        retry: the retry policy of failed deliveries.
        lease: seconds a worker holds a delivery; a worker that died frees it after this long.
            Renewed every third of it while the handlers run, so slow handlers keep theirs.
        keep_done: seconds a handled delivery stays listed (and replayable) before the worker
            purges it; ``0`` deletes it as soon as it is handled.
        clock: wall-clock seconds; pass a fake clock in tests.
    """

    def __init__(
        self,
        *,
        retry: Retry | None = None,
        lease: float = 300.0,
        keep_done: float = DAY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.retry = retry if retry is not None else Retry()
        self.lease = lease
        self.keep_done = keep_done
        self.clock = clock
        self._listeners: list[Callable[[str, InboxRecord | None], None]] = []
        self._listeners_lock = threading.Lock()

    # Writing ---------------------------------------------------------------------------------

    def put(self, record: InboxRecord) -> None:
        """Write ``record`` durably, then tell the listeners (in-process workers, queues)."""
        self._insert(record)
        if record.state is InboxState.PENDING:
            self._notify(record.id, record)

    async def aput(self, record: InboxRecord) -> None:
        """Async :meth:`put`."""
        await asyncio.to_thread(self.put, record)

    def put_new(self, record: InboxRecord) -> bool:
        """:meth:`put` ``record`` unless a delivery with its id is stored already (whatever its
        state): whether it was written. Idempotent: the fallback journal drains with it."""
        written = self._insert_new(record)
        if written and record.state is InboxState.PENDING:
            self._notify(record.id, record)
        return written

    # Processing ------------------------------------------------------------------------------

    def take(self, token: str) -> InboxRecord | None:
        """Lease the delivery due first to the worker holding ``token``, or ``None``.

        Due: pending with its retry time reached, or processing with an expired lease (its
        worker died). The attempt count goes up by one.
        """
        return self._take(self.clock(), token, self.lease, None, False)

    async def atake(self, token: str) -> InboxRecord | None:
        """Async :meth:`take`."""
        return await asyncio.to_thread(self.take, token)

    def take_id(self, token: str, record_id: str, *, replay: bool = False) -> InboxRecord | None:
        """Lease one given delivery to the worker holding ``token``.

        With ``replay``: in any state (a replay of a failed, quarantined or done delivery),
        restarting its attempt count. Without: only when it is due, as :meth:`take` would.
        ``None`` when it is missing, not due, or held by a live lease.
        """
        return self._take(self.clock(), token, self.lease, record_id, replay)

    async def atake_id(
        self, token: str, record_id: str, *, replay: bool = False
    ) -> InboxRecord | None:
        """Async :meth:`take_id`."""
        return await asyncio.to_thread(lambda: self.take_id(token, record_id, replay=replay))

    def renew(self, record_id: str, token: str) -> bool:
        """Extend ``token``'s lease on a delivery it is processing to ``lease`` seconds from now
        (workers do so on a heartbeat while handlers run); ``False`` if the lease was lost."""
        return self._renew(record_id, token, self.clock() + self.lease)

    async def arenew(self, record_id: str, token: str) -> bool:
        """Async :meth:`renew`."""
        return await asyncio.to_thread(self.renew, record_id, token)

    def finish(
        self,
        record_id: str,
        token: str,
        state: InboxState,
        *,
        error: str | None = None,
        retry_in: float = 0.0,
        event_name: str | None = None,
        key: str | None = None,
        attempt: int | None = None,
        started: float | None = None,
        traceback: str | None = None,
        give_back: bool = False,
    ) -> bool:
        """End ``token``'s lease: move the delivery to ``state``; ``False`` if the lease was lost.

        ``pending`` deliveries become due ``retry_in`` seconds from now. ``done`` deliveries are
        deleted at once when ``keep_done`` is ``0``. With ``attempt`` (its number), the
        attempt is added to the delivery's history (:meth:`attempts`), its duration counted
        from ``started`` and its ``traceback`` kept. With ``give_back``, the take's attempt is
        not counted (the attempt count goes back down by one): the try ran nothing, as when
        another delivery of the same event holds its key.
        """
        now = self.clock()
        if state is InboxState.DONE and self.keep_done <= 0:
            return self._delete_owned(record_id, token)
        history = None
        if attempt is not None:
            duration = None if started is None else max(0.0, now - started)
            history = Attempt(record_id, now, attempt, state.value, duration, error, traceback)
        if give_back:
            return self._finish(
                record_id,
                token,
                state,
                now,
                now + retry_in,
                error,
                event_name,
                key,
                history,
                give_back=True,
            )
        return self._finish(
            record_id, token, state, now, now + retry_in, error, event_name, key, history
        )

    async def afinish(
        self,
        record_id: str,
        token: str,
        state: InboxState,
        *,
        error: str | None = None,
        retry_in: float = 0.0,
        event_name: str | None = None,
        key: str | None = None,
        attempt: int | None = None,
        started: float | None = None,
        traceback: str | None = None,
        give_back: bool = False,
    ) -> bool:
        """Async :meth:`finish`."""
        return await asyncio.to_thread(
            lambda: self.finish(
                record_id,
                token,
                state,
                error=error,
                retry_in=retry_in,
                event_name=event_name,
                key=key,
                attempt=attempt,
                started=started,
                traceback=traceback,
                give_back=give_back,
            )
        )

    # Inspection and maintenance --------------------------------------------------------------

    def get(self, record_id: str) -> InboxRecord | None:
        """The stored delivery, with its payload, or ``None``."""
        return self._get(record_id)

    def list(
        self,
        *,
        states: Iterable[InboxState | str] | None = None,
        provider: str | None = None,
        event: str | None = None,
        limit: int | None = 100,
    ) -> builtins.list[InboxEntry]:
        """Stored deliveries, oldest first, filtered by state, provider and event name.

        ``event`` matches the full event name, or a prefix ending in ``*``
        (``"wirecloud.channel_*"``).
        """
        chosen = None if states is None else [InboxState(s).value for s in states]
        return self._list(chosen, provider, event, limit)

    def received_after(
        self, after: tuple[float, str] | None, *, limit: int = 100
    ) -> builtins.list[InboxRecord]:
        """Stored deliveries in the order received, with their payloads, whatever their state:
        those after ``after`` (a ``(received_at, id)`` pair from :meth:`last_received` or the
        last record of a previous call), or from the first when it is ``None``.

        What the feed of ``hookreceiver forward`` reads. A delivery written later with an
        earlier ``received_at`` (one the fallback journal drained) comes before the cursor
        and is not seen.
        """
        return self._received_after(after, limit)

    def last_received(self) -> tuple[float, str] | None:
        """The ``(received_at, id)`` of the delivery received last, or ``None`` when empty:
        a cursor from which :meth:`received_after` gives only deliveries still to come."""
        return self._received_last()

    def counts(self) -> InboxCounts:
        """How many deliveries are in each state, and the oldest waiting one's arrival."""
        return self._counts()

    def search(
        self,
        query: SearchQuery | None = None,
        *,
        limit: int = 50,
    ) -> Page:
        """One page of deliveries matching ``query``, newest first by default, without
        payloads. Pass the page's ``cursor`` back (``SearchQuery.of(cursor=...)``) for the next.
        """
        query = query if query is not None else SearchQuery()
        limit = max(1, int(limit))
        found = self._search(query, limit + 1)
        if len(found) <= limit:
            return Page(found, None)
        from .listing import encode_cursor

        return Page(found[:limit], encode_cursor(found[limit - 1]))

    def attempts(self, record_id: str) -> builtins.list[Attempt]:
        """The history of a delivery: its attempts and the actions taken on it, oldest first."""
        return self._attempts(record_id)

    def note(
        self, record_id: str, action: str, *, actor: str | None = None, detail: str | None = None
    ) -> None:
        """Add an operator's action (``replayed``, ``resolved``...) to a delivery's history."""
        self.note_many([record_id], action, actor=actor, detail=detail)

    def note_many(
        self,
        record_ids: Sequence[str],
        action: str,
        *,
        actor: str | None = None,
        detail: str | None = None,
    ) -> None:
        """:meth:`note` one action on many deliveries, in one transaction."""
        now = self.clock()
        self._add_attempts(
            [Attempt(i, now, 0, action, None, detail, None, actor) for i in record_ids]
        )

    def resolve(
        self, record_ids: Sequence[str], *, states: Iterable[InboxState] = (InboxState.FAILED,)
    ) -> int:
        """Mark deliveries in ``states`` (dead letters by default) ``done`` without running
        their handlers (an operator dealt with them); how many were."""
        chosen = [s.value for s in states]
        now, count = self.clock(), 0
        for start in range(0, len(record_ids), _BATCH):
            batch = list(record_ids[start : start + _BATCH])
            count += self._set_state(batch, chosen, InboxState.DONE.value, now)
        return count

    def stats(self) -> InboxStats:
        """The counts of the console's overview (see :class:`InboxStats`)."""
        return self._stats(self.clock())

    def record_many(self, records: Sequence[InboxRecord], history: Sequence[Attempt]) -> int:
        """Write handled deliveries (and their attempts) in one batch, skipping ids already
        stored; how many were written. Workers are not told: nothing here is pending."""
        return self._insert_many(records, history)

    def requeue(self, record_ids: Sequence[str]) -> int:
        """Make deliveries pending and due now with a fresh attempt count, for the workers.

        Deliveries a live lease holds are left alone. Returns how many were requeued.
        """
        now, count = self.clock(), 0
        for start in range(0, len(record_ids), _BATCH):
            count += self._requeue(list(record_ids[start : start + _BATCH]), now)
        for record_id in record_ids:
            self._notify(record_id)
        return count

    def purge(self, *, older_than: float, states: Iterable[InboxState] = (InboxState.DONE,)) -> int:
        """Delete deliveries in ``states`` not updated for ``older_than`` seconds, with their
        attachments and attempts' history; how many.

        The SQL inboxes delete a batch (about 1,000 deliveries) per transaction, so deliveries
        keep being written while a large purge runs.
        """
        return self._purge([s.value for s in states], self.clock() - older_than)

    def close(self) -> None:
        """Release connections. The default does nothing."""

    # Change notifications --------------------------------------------------------------------

    def subscribe(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call ``listener(record_id)`` whenever a delivery becomes pending in this process.

        Listeners must be quick and must not raise (errors are logged). Returns a function
        that removes the listener.
        """
        return self.subscribe_records(lambda record_id, _record: listener(record_id))

    def subscribe_records(
        self, listener: Callable[[str, InboxRecord | None], None]
    ) -> Callable[[], None]:
        """:meth:`subscribe`, with the record as it was written (``None`` for a requeue, which
        knows only ids): task queues read its trace context without reading the inbox."""
        with self._listeners_lock:
            self._listeners = [*self._listeners, listener]

        def unsubscribe() -> None:
            with self._listeners_lock:
                self._listeners = [f for f in self._listeners if f is not listener]

        return unsubscribe

    def _notify(self, record_id: str, record: InboxRecord | None = None) -> None:
        for listener in self._listeners:
            try:
                listener(record_id, record)
            except Exception:
                logger.exception("inbox listener failed for delivery %s", record_id)

    # Storage primitives (subclasses) ---------------------------------------------------------

    def _insert(self, record: InboxRecord) -> None:
        raise NotImplementedError

    def _insert_new(self, record: InboxRecord) -> bool:
        # Storages with an atomic "insert unless present" override this.
        if self._get(record.id) is not None:
            return False
        self._insert(record)
        return True

    def _take(
        self, now: float, token: str, lease: float, record_id: str | None, replay: bool
    ) -> InboxRecord | None:
        raise NotImplementedError

    def _finish(
        self,
        record_id: str,
        token: str,
        state: InboxState,
        now: float,
        due: float,
        error: str | None,
        event_name: str | None,
        key: str | None,
        history: Attempt | None = None,
        *,
        give_back: bool = False,
    ) -> bool:
        """Move a leased delivery to ``state`` and, when it was, add ``history`` to its
        attempts, both at once (a worker stops renewing its lease only once this returns).
        ``give_back``: take back the attempt its take counted."""
        raise NotImplementedError

    def _delete_owned(self, record_id: str, token: str) -> bool:
        raise NotImplementedError

    def _renew(self, record_id: str, token: str, until: float) -> bool:
        raise NotImplementedError

    def _get(self, record_id: str) -> InboxRecord | None:
        raise NotImplementedError

    def _list(
        self,
        states: builtins.list[str] | None,
        provider: str | None,
        event: str | None,
        limit: int | None,
    ) -> builtins.list[InboxEntry]:
        raise NotImplementedError

    def _received_after(
        self, after: tuple[float, str] | None, limit: int
    ) -> builtins.list[InboxRecord]:
        raise NotImplementedError

    def _received_last(self) -> tuple[float, str] | None:
        raise NotImplementedError

    def _requeue(self, record_ids: builtins.list[str], now: float) -> int:
        raise NotImplementedError

    def _counts(self) -> InboxCounts:
        raise NotImplementedError

    def _search(self, query: SearchQuery, limit: int) -> builtins.list[InboxEntry]:
        raise NotImplementedError

    def _attempts(self, record_id: str) -> builtins.list[Attempt]:
        return []

    def _add_attempts(self, attempts: builtins.list[Attempt]) -> None:
        """Storages without a history drop them."""

    def _set_state(
        self, record_ids: builtins.list[str], states: builtins.list[str], state: str, now: float
    ) -> int:
        raise NotImplementedError

    def _stats(self, now: float) -> InboxStats:
        raise NotImplementedError

    def _insert_many(self, records: Sequence[InboxRecord], history: Sequence[Attempt]) -> int:
        count = 0
        for record in records:
            count += self._insert_new(record)
        self._add_attempts(list(history))
        return count

    def _purge(self, states: builtins.list[str], before: float) -> int:
        raise NotImplementedError
