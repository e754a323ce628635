"""``hookreceiver inbox list|show|replay`` and ``hookreceiver worker``, through click."""

from __future__ import annotations

import importlib
import json
import secrets
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner, Result
from inbox_support import kazoo_body, kazoo_delivery

from hookreceiver.inbox import InboxState
from hookreceiver.inbox.cli import inbox, worker

APP = """
from hookreceiver import Receiver, providers
from hookreceiver.inbox import Retry, SQLiteInbox

BROKEN = {"on": True}
HANDLED = []
hooks = Receiver(inbox=SQLiteInbox(DB, retry=Retry(max_attempts=1)), worker=False)
hooks.endpoint("/hooks/kazoo", providers.Wirecloud(basic_auth=[("kazoo", "s3cret")]))

@hooks.on("wirecloud.channel_destroy")
def handle(event, ctx):
    if BROKEN["on"]:
        raise RuntimeError("CRM is down")
    HANDLED.append(event.call_id)
"""


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, ModuleType]:
    """A user's app module with a Kazoo endpoint and a handler that can be broken."""
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.chdir(tmp_path)
    name = f"cli_app_{secrets.token_hex(4)}"
    source = f"DB = {str(tmp_path / 'hooks.db')!r}\n" + textwrap.dedent(APP)
    (tmp_path / f"{name}.py").write_text(source)
    module = importlib.import_module(name)
    return f"{name}:hooks", module


def run(*args: str, command: object = inbox) -> Result:
    return CliRunner().invoke(command, list(args), catch_exceptions=False)  # type: ignore[arg-type]


AUTH = ("authorization", "Basic a2F6b286czNjcmV0")


def test_list_show_and_replay_a_failed_and_a_quarantined_delivery(
    app: tuple[str, ModuleType], tmp_path: Path
) -> None:
    spec, module = app
    hooks = module.hooks
    assert hooks.handle(kazoo_delivery(kazoo_body(call_id="c-1"), extra=(AUTH,))).status == 200
    bad = kazoo_delivery(kazoo_body(call_id="c-2", ringing_seconds="soon"), extra=(AUTH,))
    assert hooks.handle(bad).status == 200  # Kazoo: kept in quarantine, so never a 4xx

    result = run("--app", spec, "--once", command=worker)
    assert result.exit_code == 0 and "processed 1" in result.output

    listed = run("--app", spec, "list")
    assert listed.exit_code == 0
    assert "failed" in listed.stdout and "RuntimeError: CRM is down" in listed.stdout
    assert "quarantined" in listed.stdout and "ringing_seconds" in listed.stdout
    assert "2 deliveries" in listed.output

    as_json = run("--app", spec, "list", "--state", "quarantined", "--json")
    (line,) = as_json.stdout.splitlines()
    quarantined = json.loads(line)
    assert quarantined["state"] == "quarantined"
    assert quarantined["event"] == "wirecloud.channel_destroy"  # known before it failed

    shown = run("--app", spec, "show", quarantined["id"])
    assert "ringing_seconds=soon" in shown.stdout and "x-hook-id: hook-1" in shown.stdout
    assert "s3cret" not in shown.stdout and "a2F6b286" not in shown.stdout
    full = json.loads(run("--app", spec, "show", quarantined["id"], "--json").stdout)
    assert full["client"] == "127.0.0.1" and full["method"] == "POST"
    missing = CliRunner().invoke(inbox, ["--app", spec, "show", "nope"])
    assert missing.exit_code == 1 and "no delivery nope" in missing.output

    # Fixed handler, model still refusing "soon": one handled, one still quarantined -> exit 1.
    module.BROKEN["on"] = False
    replayed = CliRunner().invoke(inbox, ["--app", spec, "replay", "--failed"])
    assert replayed.exit_code == 1
    assert "done" in replayed.stdout and "quarantined" in replayed.stdout
    assert module.HANDLED == ["c-1"]

    done_id = hooks.inbox.list(states=["done"])[0].id
    assert run("--app", spec, "replay", done_id).exit_code == 0
    assert module.HANDLED == ["c-1"]  # a duplicate: not handled again
    assert run("--app", spec, "replay", done_id, "--force").exit_code == 0
    assert module.HANDLED == ["c-1", "c-1"]

    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    requeued = run("--inbox", url, "replay", "--state", "done", "--requeue")
    assert requeued.stdout.strip() == "requeued 1 of 1"
    assert [e.state for e in hooks.inbox.list(states=["pending"])] == [InboxState.PENDING]
    assert "1 delivery" in run("--inbox", url, "list", "--state", "pending").output


def test_usage_errors_are_clear(app: tuple[str, ModuleType]) -> None:
    spec, _ = app
    cases = [
        (["--app", spec, "replay"], "name deliveries, a filter, or --failed"),
        (["--app", spec, "replay", "x", "--failed"], "ids or a filter, not both"),
        (["list"], "--app"),
        (["--app", "no_colon", "list"], "module:attribute"),
        (["--app", "no_such_module_xyz:hooks", "list"], "cannot import"),
        (["--app", spec.replace(":hooks", ":nothing"), "list"], "no attribute"),
        (["--app", spec.replace(":hooks", ":BROKEN"), "list"], "not a hookreceiver Receiver"),
        (["--inbox", "redis://x", "list"], "unknown inbox URL scheme"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(inbox, args)
        assert result.exit_code == 2, args
        assert message in result.output, (args, result.output)
    result = CliRunner().invoke(worker, [])
    assert result.exit_code == 2 and "--app" in result.output
