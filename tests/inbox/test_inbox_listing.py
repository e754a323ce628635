"""The listing the console and ``inbox list`` share: filters, search, newest first, keyset
pages; the attempts history; the overview's counts; sync deliveries recorded. Both backends."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from inbox_support import FakeClock, kazoo_delivery, kazoo_receiver

from hookreceiver import Receiver, providers
from hookreceiver.cli import main
from hookreceiver.inbox import Inbox, InboxRecord, InboxState, SQLiteInbox
from hookreceiver.inbox.listing import SearchQuery, decode_cursor, encode_cursor
from hookreceiver.inbox.recorder import SyncRecorder
from hookreceiver.inbox.replay import replay


def record(
    record_id: str,
    at: float,
    *,
    provider: str = "wirecloud",
    event: str | None = "wirecloud.channel_destroy",
    state: InboxState = InboxState.PENDING,
    subject: str | None = None,
) -> InboxRecord:
    return InboxRecord(
        id=record_id,
        state=state,
        endpoint="/hooks/kazoo",
        provider=provider,
        event_name=event,
        key=None if event is None else f"{provider}:k:{record_id}",
        received_at=at,
        updated_at=at,
        attempts=0,
        next_attempt_at=at,
        last_error=None,
        size=2,
        subject=subject,
        body=b"{}",
    )


def fill(inbox: Inbox, count: int, start: float = 1_700_000_000.0) -> list[InboxRecord]:
    made = []
    for i in range(count):
        provider = "documo" if i % 3 == 0 else "wirecloud"
        state = InboxState.FAILED if i % 4 == 0 else InboxState.DONE
        made.append(
            record(f"r{i:04d}", start + i // 2, provider=provider, state=state, subject=f"fax{i}")
        )  # pairs share a time: the id breaks the tie
    for r in made:
        inbox.put(r)
    return made


def walk(inbox: Inbox, query: SearchQuery, limit: int) -> list[str]:
    """Every page's ids, following the cursors."""
    ids: list[str] = []
    cursor = None
    for _ in range(1000):
        page = inbox.search(
            SearchQuery(**{**_fields(query), "after": decode_cursor(cursor) if cursor else None}),
            limit=limit,
        )
        assert len(page.entries) <= limit
        ids += [e.id for e in page.entries]
        cursor = page.cursor
        if cursor is None:
            return ids
    raise AssertionError("the pages never ended")


def _fields(query: SearchQuery) -> dict[str, object]:
    return {name: getattr(query, name) for name in SearchQuery.__slots__}


def expected(made: list[InboxRecord], keep: object = None, newest: bool = True) -> list[str]:
    chosen = [r for r in made if keep is None or keep(r)]  # type: ignore[operator]
    chosen.sort(key=lambda r: (r.received_at, r.id), reverse=newest)
    return [r.id for r in chosen]


def test_pages_walk_every_delivery_once_newest_first(inbox: Inbox) -> None:
    made = fill(inbox, 23)
    assert walk(inbox, SearchQuery(), 5) == expected(made)
    assert walk(inbox, SearchQuery(newest=False), 7) == expected(made, newest=False)


def test_filters_combine_with_paging(inbox: Inbox) -> None:
    made = fill(inbox, 30)
    query = SearchQuery(states=("failed",), provider="documo")
    want = expected(made, lambda r: r.state is InboxState.FAILED and r.provider == "documo")
    assert want and walk(inbox, query, 2) == want
    since, until = made[6].received_at, made[20].received_at
    want = expected(made, lambda r: since <= r.received_at < until)
    assert walk(inbox, SearchQuery(since=since, until=until), 4) == want
    assert walk(inbox, SearchQuery(event="wirecloud.chan*"), 50) == expected(made)


def test_search_finds_by_id_key_or_subject(inbox: Inbox) -> None:
    fill(inbox, 12)
    for text in ("r0005", "wirecloud:k:r0005", "fax5"):
        found = inbox.search(SearchQuery.of(text=f"  {text} ")).entries
        assert [e.id for e in found] == ["r0005"], text
    assert inbox.search(SearchQuery.of(text="nothing")).entries == []
    assert inbox.search(SearchQuery.of(text="fax5")).entries[0].subject == "fax5"


def test_a_bad_cursor_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        decode_cursor("not-a-cursor")
    with pytest.raises(ValueError):
        SearchQuery.of(cursor="%%%")


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=0, max_value=4e9, allow_nan=False), st.text(min_size=1, max_size=40))
def test_cursors_round_trip(when: float, record_id: str) -> None:
    entry = record(record_id, when)
    assert decode_cursor(encode_cursor(entry)) == (when, record_id)


def test_attempts_are_kept_with_their_traceback(inbox: Inbox) -> None:
    hooks = kazoo_receiver(inbox)
    calls = []

    @hooks.on("wirecloud.*")
    def handler(event: object, ctx: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the CRM is down")

    assert hooks.handle(kazoo_delivery()).status == 200
    record_id = inbox.list()[0].id
    assert replay(hooks, record_id).state is InboxState.PENDING
    clock = inbox.clock
    assert isinstance(clock, FakeClock)
    clock.advance(30)
    assert replay(hooks, record_id).state is InboxState.DONE
    inbox.note(record_id, "resolved", actor="alice", detail="checked by hand")
    history = inbox.attempts(record_id)
    assert [a.outcome for a in history] == ["pending", "done", "resolved"]
    failed = history[0]
    assert failed.error == "RuntimeError: the CRM is down"
    assert failed.traceback is not None and "raise RuntimeError" in failed.traceback
    assert failed.duration is not None and failed.duration >= 0
    assert history[1].error is None and history[1].at == clock.now
    assert history[2].actor == "alice" and history[2].attempt == 0


def test_resolve_moves_only_dead_letters(inbox: Inbox) -> None:
    fill(inbox, 8)
    assert inbox.resolve(["r0000", "r0001", "missing"]) == 1  # r0001 is done already
    got = inbox.get("r0000")
    assert got is not None and got.state is InboxState.DONE


def test_stats_count_states_providers_and_minutes(inbox: Inbox, clock: FakeClock) -> None:
    now = clock.now
    inbox.put(record("a", now - 30, state=InboxState.PENDING))
    inbox.put(record("b", now - 90, state=InboxState.FAILED, provider="documo"))
    inbox.put(record("c", now - 7200, state=InboxState.DONE))
    stats = inbox.stats()
    assert stats.by_state == {"pending": 1, "failed": 1, "done": 1}
    assert stats.last_hour == {("wirecloud", "pending"): 1, ("documo", "failed"): 1}
    assert stats.last_day[("wirecloud", "done")] == 1
    assert stats.per_minute == {
        (int((now - 30) // 60), "pending"): 1,
        (int((now - 90) // 60), "failed"): 1,
    }
    assert stats.oldest_pending == now - 30


def test_purge_removes_the_history_of_purged_deliveries(inbox: Inbox, clock: FakeClock) -> None:
    inbox.put(record("old", clock.now, state=InboxState.DONE))
    inbox.note("old", "replayed", actor="bob")
    clock.advance(40 * 86400)
    assert inbox.purge(older_than=30 * 86400) == 1
    assert inbox.attempts("old") == []


def test_sync_deliveries_are_recorded_done_with_their_payload(inbox: Inbox) -> None:
    hooks = Receiver(inbox=inbox, worker=False)
    hooks.endpoint("/hooks/kazoo", providers.Wirecloud(allow_ips=["127.0.0.1"]), ack="sync")
    hooks.on("*")(lambda event, ctx: None)
    recorder = next(o for o in hooks.observers if isinstance(o, SyncRecorder))
    delivery = kazoo_delivery(extra=(("authorization", "Basic c2VjcmV0"),))
    assert hooks.handle(delivery).status == 200
    assert hooks.handle(kazoo_delivery(body=delivery.body)).status == 200  # a duplicate
    recorder.flush()
    found = inbox.search().entries
    assert len(found) == 2 and {e.state for e in found} == {InboxState.DONE}
    kept = inbox.get(found[0].id)
    assert kept is not None and kept.body == delivery.body
    assert kept.event_name == "wirecloud.channel_destroy" and kept.subject is not None
    assert "authorization" not in dict(kept.headers)
    assert [a.outcome for a in inbox.attempts(kept.id)] == ["done"]


def test_a_receiver_without_an_inbox_has_no_recorder() -> None:
    hooks = Receiver()
    assert not any(isinstance(o, SyncRecorder) for o in hooks.observers)


def test_an_old_sqlite_table_gets_the_new_column_and_indexes(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE hookreceiver_inbox (id TEXT PRIMARY KEY, state TEXT NOT NULL,"
        " endpoint TEXT NOT NULL, provider TEXT NOT NULL, event_name TEXT, event_key TEXT,"
        " received_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,"
        " attempts INTEGER NOT NULL, next_attempt_at DOUBLE PRECISION NOT NULL,"
        " last_error TEXT, size BIGINT NOT NULL, lock_token TEXT, meta TEXT NOT NULL,"
        " payload BLOB NOT NULL)"
    )
    conn.close()
    box = SQLiteInbox(path)
    box.put(record("x", 1.0, subject="fax-1"))
    assert box.search(SearchQuery.of(text="fax-1")).entries[0].id == "x"
    box.close()
    indexes = {
        row[1] for row in sqlite3.connect(path).execute("PRAGMA index_list(hookreceiver_inbox)")
    }
    assert {"hookreceiver_inbox_provider_received", "hookreceiver_inbox_state_received"} <= indexes


def test_cli_lists_newest_first_in_pages(tmp_path: Path) -> None:
    box = SQLiteInbox(tmp_path / "cli.db")
    made = fill(box, 9)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    result = runner.invoke(
        main, ["inbox", "--inbox", url, "list", "--newest", "--limit", "4", "--json"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == expected(made)[:4]
    cursor = result.stderr.strip().split("--cursor ")[-1].split()[0]
    more = runner.invoke(
        main,
        ["inbox", "--inbox", url, "list", "--newest", "--limit", "4", "--json", "--cursor", cursor],
    )
    assert [json.loads(x)["id"] for x in more.stdout.splitlines()] == expected(made)[4:8]
    ranged = runner.invoke(
        main,
        [
            "inbox",
            "--inbox",
            url,
            "list",
            "--since",
            "2023-11-14T22:13:21",
            "--until",
            "2023-11-14T22:13:23",
            "--json",
        ],
    )
    assert ranged.exit_code == 0, ranged.output
    got = [json.loads(x)["id"] for x in ranged.stdout.splitlines()]
    assert got == expected(
        made, lambda r: 1_700_000_001 <= r.received_at < 1_700_000_003, newest=False
    )
    bad = runner.invoke(main, ["inbox", "--inbox", url, "list", "--since", "yesterday"])
    assert bad.exit_code == 2 and "since" in bad.output
    box.close()


def test_search_rows_are_entries_without_payload(inbox: Inbox) -> None:
    inbox.put(record("p", 5.0))
    entry = inbox.search().entries[0]
    assert not hasattr(entry, "body") and entry.summary()["subject"] is None


def test_a_delivery_deleted_when_handled_leaves_no_history(inbox: Inbox) -> None:
    inbox.keep_done = 0
    hooks = kazoo_receiver(inbox)
    calls: list[int] = []

    @hooks.on("wirecloud.*")
    def handler(event: object, ctx: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first attempt fails")

    assert hooks.handle(kazoo_delivery()).status == 200
    record_id = inbox.list()[0].id
    assert replay(hooks, record_id).state is InboxState.PENDING
    assert len(inbox.attempts(record_id)) == 1
    assert replay(hooks, record_id).state is InboxState.DONE
    assert inbox.get(record_id) is None and inbox.attempts(record_id) == []


def test_cli_show_prints_the_history(tmp_path: Path) -> None:
    box = SQLiteInbox(tmp_path / "show.db")
    box.put(record("s1", 1_700_000_000.0))
    box.note("s1", "resolved", actor="alice", detail="by hand")
    url = f"sqlite:///{tmp_path / 'show.db'}"
    shown = CliRunner().invoke(main, ["inbox", "--inbox", url, "show", "s1", "--json"])
    assert shown.exit_code == 0, shown.output
    (entry,) = json.loads(shown.stdout)["attempts_history"]
    assert entry["outcome"] == "resolved" and entry["actor"] == "alice"
    text = CliRunner().invoke(main, ["inbox", "--inbox", url, "show", "s1"])
    assert "resolved by alice by hand" in text.stdout
    box.close()
