"""The README stays true: its quickstart and testing snippets run, its two set-up commands are
the ones CI runs, and the demo command works from a clean copy of the repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from hookreceiver.testing import documo, faxplus, send_http

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def setup_commands() -> list[str]:
    section = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [line.strip() for line in section.splitlines() if line.startswith("    ")]


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one() -> None:
    demo, tests = setup_commands()
    assert demo.endswith("hookreceiver demo") and "pip install -e '.[demo]'" in demo
    assert tests.endswith("python -m pytest") and "pip install -e . --group test" in tests
    # The test dependencies are a PEP 735 group, which pip installs from 25.1 on: the command
    # upgrades the venv's bundled pip (23.x on Python 3.11) first.
    assert "pip install -q -U pip && " in tests
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci, ".ci/run must run the README's test command verbatim"


@pytest.fixture
def quickstart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(tmp_path)  # the quickstart's SQLite file lands here
    namespace: dict[str, Any] = {"__name__": "quickstart"}
    exec(compile(python_blocks()[0], "README-quickstart", "exec"), namespace)
    return namespace


@pytest.mark.anyio
async def test_quickstart_handles_faxes_from_two_providers(
    quickstart: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    app = quickstart["app"]
    fax_plus = faxplus.fax_received(pages=4)  # from one of Fax.Plus's published addresses
    transport = httpx.ASGITransport(app=app, client=(fax_plus.sender or "", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first = await client.post(
            fax_plus.path, content=fax_plus.body, headers=dict(fax_plus.headers)
        )
        stranger = await client.post(
            fax_plus.path, content=fax_plus.body, headers=dict(fax_plus.headers)
        )
    assert first.status_code == 200
    assert stranger.json() == {"status": "duplicate"}
    printed = capsys.readouterr().out
    assert "faxplus fax" in printed and "4 pages" in printed

    fax = documo.fax_inbound(basic_auth=("documo", "s3cret"))
    transport = httpx.ASGITransport(app=app, client=(fax.sender or "", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post(fax.path, content=fax.body, headers=dict(fax.headers))
    assert response.status_code == 200
    printed = capsys.readouterr().out
    assert "documo fax" in printed


def test_quickstart_mount_under_uvicorn_over_a_socket(
    quickstart: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's mount (the receiver around the app) under a real uvicorn, run as the
    README says (``--no-proxy-headers``), with a real client on 127.0.0.1: both endpoints
    check the real peer against their senders' addresses (Documo's password alone is not
    enough; a header claiming Fax.Plus's address changes nothing), no handler runs, and every
    other path reaches the app inside."""
    from support.servers import serve_asgi

    fax = documo.fax_inbound(basic_auth=("documo", "s3cret"))
    spoofed = faxplus.fax_received(pages=2)
    with serve_asgi(quickstart["app"], proxy_headers=False) as base:
        local = httpx.post(base + fax.path, content=fax.body, headers=dict(fax.headers))
        claimed = httpx.post(
            base + spoofed.path,
            content=spoofed.body,
            headers={**dict(spoofed.headers), "x-forwarded-for": spoofed.sender or ""},
        )
        elsewhere = httpx.get(base + "/not-a-hook")
    for refused in (local, claimed):
        assert refused.status_code == 403 and refused.json()["error"] == "address_not_allowed"
    assert elsewhere.status_code == 404 and "error" not in elsewhere.text  # Starlette's own
    assert "fax" not in capsys.readouterr().out  # no handler ran


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_testing_snippet_runs_under_pytester(pytester: pytest.Pytester) -> None:
    quickstart_code, testing_code = python_blocks()[:2]
    pytester.makepyfile(
        test_snippet=textwrap.dedent(quickstart_code).replace(
            "hookreceiver-quickstart.db", str(pytester.path / "q.db")
        )
        + "\n\n"
        + testing_code
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


@pytest.mark.slow
def test_demo_command_works_from_a_clean_copy(tmp_path: Path) -> None:
    """The README's first command, verbatim, in a copy of the tracked files."""
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the repository's files")
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    copy = tmp_path / "clone"
    for name in files:
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    demo, _ = setup_commands()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    result = subprocess.run(
        ["bash", "-c", demo], cwd=copy, env=env, capture_output=True, text=True, timeout=540
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "documo.fax.inbound" in result.stdout


def test_send_http_reaches_nothing_gracefully() -> None:
    # The demo and `hookreceiver send` report a closed port as a transport error, not a crash.
    from hookreceiver.testing import TransportError

    with pytest.raises(TransportError):
        send_http(faxplus.fax_received(), "http://127.0.0.1:9", timeout=2)
    assert sys.executable
