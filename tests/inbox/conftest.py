"""Fixtures of the inbox tests: SQLite and PostgreSQL inboxes on a fake clock."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from inbox_support import FakeClock

from hookreceiver.inbox import Inbox, PostgresInbox, Retry, SQLiteInbox


@pytest.fixture
def clock() -> FakeClock:
    """A clock the test moves."""
    return FakeClock()


@pytest.fixture
def sqlite_inbox(tmp_path: Path, clock: FakeClock) -> Iterator[SQLiteInbox]:
    """A SQLite inbox in a fresh file, retrying 2 s, 4 s, 8 s ... up to 5 attempts."""
    box = SQLiteInbox(tmp_path / "inbox.db", clock=clock, retry=Retry(max_attempts=5), lease=60)
    yield box
    box.close()


@pytest.fixture
def pg_inbox(postgres_dsn: str, clock: FakeClock) -> Iterator[PostgresInbox]:
    """A PostgreSQL inbox in a table of its own, dropped afterwards."""
    table = f"hr_inbox_test_{secrets.token_hex(4)}"
    box = PostgresInbox(
        postgres_dsn, table=table, clock=clock, retry=Retry(max_attempts=5), lease=60
    )
    yield box
    box.drop()
    box.close()


@pytest.fixture(params=["sqlite", "postgres"])
def inbox(request: pytest.FixtureRequest) -> Inbox:
    """Each backend in turn."""
    name = "sqlite_inbox" if request.param == "sqlite" else "pg_inbox"
    box: Inbox = request.getfixturevalue(name)
    return box
