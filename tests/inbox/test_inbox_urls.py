"""An inbox is named by one URL: ``open_inbox`` for apps, ``--inbox``/``HOOKRECEIVER_INBOX``."""

from __future__ import annotations

import os
import secrets
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from hookreceiver.inbox import PostgresInbox, SQLiteInbox, open_inbox
from hookreceiver.inbox.cli import inbox as inbox_command
from hookreceiver.inbox.cli import worker as worker_command


def test_sqlite_urls_relative_absolute_and_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = open_inbox("sqlite:///hooks.db?table=kept")
    assert isinstance(relative, SQLiteInbox)
    assert (relative.path, relative._sql.get.split("FROM ")[1].split()[0]) == ("hooks.db", "kept")
    absolute = open_inbox(f"sqlite:///{tmp_path / 'my inbox.db'}", lease=7)
    assert isinstance(absolute, SQLiteInbox) and absolute.lease == 7
    assert absolute.path == str(tmp_path / "my inbox.db")
    quoted = open_inbox("sqlite:///my%20inbox.db")
    assert isinstance(quoted, SQLiteInbox) and quoted.path == "my inbox.db"
    for box in (relative, absolute, quoted):
        box.close()


def test_postgres_urls_keep_their_own_query(postgres_dsn: str) -> None:
    box = open_inbox("postgresql://u@db.example/hooks?sslmode=require&table=t1")
    assert isinstance(box, PostgresInbox)
    assert box.dsn == "postgresql://u@db.example/hooks?sslmode=require"
    box.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://x", "unknown inbox URL scheme 'redis'"),
        ("sqlite://", "sqlite:///relative/path"),
        ("sqlite://host/inbox.db", "sqlite:///relative/path"),
        ("sqlite:////no/such/directory/inbox.db", "the directory /no/such/directory does not"),
    ],
)
def test_bad_urls_are_value_errors(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_inbox(url)


def test_a_bare_path_still_works_with_a_future_warning(tmp_path: Path) -> None:
    path = str(tmp_path / "inbox.db")
    with pytest.warns(FutureWarning, match=f"'sqlite:///{path}'"):
        box = open_inbox(path)
    assert isinstance(box, SQLiteInbox) and box.path == path
    box.close()


def test_the_cli_reads_the_same_url_and_says_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    url = f"sqlite:///{tmp_path}/i.db"
    ok = runner.invoke(inbox_command, ["list"], env={"HOOKRECEIVER_INBOX": url})
    assert ok.exit_code == 0 and ok.output == "0 deliveries\n"

    bare_path = str(tmp_path / "i.db")
    bare = runner.invoke(inbox_command, ["list"], env={"HOOKRECEIVER_INBOX": bare_path})
    assert bare.exit_code == 0, bare.output
    warning, count = bare.output.splitlines()
    assert warning.startswith("Warning: ") and f"sqlite:///{tmp_path}/i.db" in warning
    assert count == "0 deliveries"

    missing = f"sqlite:///{tmp_path}/nowhere/i.db"
    for args in (["list"], ["show", "x"], ["replay", "--failed", "--requeue"]):
        result = runner.invoke(inbox_command, args, env={"HOOKRECEIVER_INBOX": missing})
        assert result.exit_code == 2, result.output
        (line,) = result.output.splitlines()
        assert line.startswith("Error: ") and f"{tmp_path}/nowhere does not exist" in line
        assert result.exception is None or isinstance(result.exception, SystemExit)


APP = """
from hookreceiver import Receiver, providers
from hookreceiver.inbox import SQLiteInbox, open_inbox
import os

hooks = Receiver(inbox=SQLiteInbox(DB), worker=False)
hooks.endpoint("/hooks/kazoo", providers.Wirecloud(allow_ips=["127.0.0.1"]))
configured = Receiver(inbox=open_inbox(os.environ["MY_INBOX"]), worker=False)
"""


def test_an_app_whose_inbox_cannot_open_is_one_line_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.chdir(tmp_path)
    name = f"url_app_{secrets.token_hex(4)}"
    db = os.path.join(tmp_path, "gone", "hooks.db")
    (tmp_path / f"{name}.py").write_text(f"DB = {db!r}\n" + textwrap.dedent(APP))
    runner = CliRunner()
    env = {"MY_INBOX": f"sqlite:///{tmp_path}/inbox.db", "HOOKRECEIVER_INBOX": None}
    listed = runner.invoke(inbox_command, ["--app", f"{name}:hooks", "list"], env=env)
    assert listed.exit_code == 1, listed.output
    (line,) = listed.output.splitlines()
    assert line.startswith("Error: SQLite inbox ") and db in line
    once = runner.invoke(worker_command, ["--app", f"{name}:hooks", "--once"], env=env)
    assert once.exit_code == 1 and once.output.startswith("Error: SQLite inbox "), once.output

    bad = {**env, "MY_INBOX": "redis://nope"}
    module = f"{name}_2"
    (tmp_path / f"{module}.py").write_text(f"DB = {db!r}\n" + textwrap.dedent(APP))
    broken = runner.invoke(inbox_command, ["--app", f"{module}:configured", "list"], env=bad)
    assert broken.exit_code == 2, broken.output
    (line,) = broken.output.splitlines()
    assert line.startswith("Error: importing") and "unknown inbox URL scheme 'redis'" in line
