"""``Inbox.counts()`` (what the metrics read at scrape time), and the ``traceparent`` a record
keeps, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from inbox_support import FakeClock
from test_inbox_storage import record

from hookreceiver.inbox import Inbox, InboxCounts, InboxState, Journal


def test_counts_by_state_and_the_oldest_waiting(inbox: Inbox, clock: FakeClock) -> None:
    assert inbox.counts() == InboxCounts()
    start = clock()
    inbox.put(record("first", at=start))
    inbox.put(record("second", at=start + 10))
    inbox.put(record("third", at=start + 20))
    inbox.put(record("bad", at=start + 1, state=InboxState.QUARANTINED))
    clock.advance(30)
    taken = inbox.take_id("t1", "first")
    assert taken is not None
    inbox.finish("first", "t1", InboxState.PENDING, error="boom", retry_in=60)
    taken = inbox.take_id("t2", "second")
    assert taken is not None
    inbox.finish("second", "t2", InboxState.FAILED, error="boom")
    assert inbox.take_id("t3", "third") is not None  # processing now
    assert inbox.counts() == InboxCounts(
        pending=0,
        retrying=1,
        processing=1,
        done=0,
        failed=1,
        quarantined=1,
        oldest_pending_at=start,
    )
    inbox.finish("third", "t3", InboxState.DONE)
    inbox.put(record("fourth", at=start + 40))
    counts = inbox.counts()
    assert (counts.pending, counts.retrying, counts.done) == (1, 1, 1)
    assert counts.oldest_pending_at == start


def test_a_record_keeps_its_traceparent(inbox: Inbox, clock: FakeClock) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    kept = record("traced", at=clock())
    kept.traceparent = parent
    inbox.put(kept)
    inbox.put(record("untraced", at=clock()))
    stored = inbox.get("traced")
    assert stored is not None and stored.traceparent == parent
    untraced = inbox.get("untraced")
    assert untraced is not None and untraced.traceparent is None


def test_the_fallback_journal_keeps_it_too(tmp_path: Path, clock: FakeClock) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    kept = record("journaled", at=clock())
    kept.traceparent = parent
    journal = Journal(tmp_path / "journal", clock=clock)
    journal.put(kept)
    (back,) = journal.records()
    assert back.traceparent == parent
