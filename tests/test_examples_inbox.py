"""``hookreceiver inbox --app examples.flask_app:hooks ...`` in the examples' own environment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hookreceiver.testing import send_http, wirecloud
from support.servers import free_port
from test_examples import ROOT, Server, commands, example_env, registration_urls

pytestmark = pytest.mark.slow
SPEC = "examples.flask_app:hooks"


def hookreceiver(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("hookreceiver")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "hookreceiver.cli"]
    return subprocess.run(
        [*command, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_cli_lists_and_replays_what_the_example_app_kept(tmp_path: Path) -> None:
    env = example_env(tmp_path)
    port = free_port()
    server = Server(commands(port)["flask"], env, port)
    try:
        url = registration_urls(env)["wirecloud channel_destroy"]
        delivery = wirecloud.channel_destroy(url=url.replace("http://127.0.0.1:8000", ""))
        assert send_http(delivery, server.base_url).status == 200
        assert server.wait_for_events(1), server.lines[-20:]
    finally:
        server.stop()

    listed = hookreceiver("inbox", "--app", SPEC, "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    (entry,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (entry["event"], entry["state"]) == ("wirecloud.channel_destroy", "done")
    # replay loads the app itself: its inbox is the one HOOKRECEIVER_INBOX names.
    replayed = hookreceiver("inbox", "--app", SPEC, "replay", entry["id"], env=env)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.split()[:2] == [entry["id"], "done"]

    # The examples' old setting, a bare path, still works, with a warning naming the URL.
    old = {**env, "HOOKRECEIVER_INBOX": str(tmp_path / "inbox.db")}
    listed = hookreceiver("inbox", "--app", SPEC, "list", env=old)
    assert listed.returncode == 0, listed.stderr
    assert entry["id"] in listed.stdout
    assert "Warning: an inbox is named by a URL" in listed.stderr
    assert f"'sqlite:///{tmp_path / 'inbox.db'}'" in listed.stderr


@pytest.mark.parametrize("command", [["list"], ["replay", "--failed"]])
def test_a_missing_directory_is_one_clean_line(tmp_path: Path, command: list[str]) -> None:
    env = {**example_env(tmp_path), "HOOKRECEIVER_INBOX": f"sqlite:///{tmp_path}/no/inbox.db"}
    result = hookreceiver("inbox", "--app", SPEC, *command, env=env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert f"the directory {tmp_path}/no does not exist" in line
    assert result.stderr.strip() == line, result.stderr
