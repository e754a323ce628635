"""The console over HTTP without a browser: the example app's mount, the ``authorize``
callable, configuration errors, headers, attachments, the trace id, PostgreSQL."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hookreceiver import ConfigurationError, Receiver, providers
from hookreceiver.console import ConsoleApp, ConsoleRequest, Identity
from hookreceiver.inbox import (
    Inbox,
    InboxRecord,
    InboxState,
    PostgresInbox,
    SQLiteInbox,
    StoredFile,
)
from hookreceiver.testing.demo import demo_environment, serve
from support.servers import free_port, serve_asgi, serve_wsgi

ADMIN = ("alice", "pw-alice-0123")


def basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def stored(record_id: str, **changes: Any) -> InboxRecord:
    values: dict[str, Any] = dict(
        id=record_id,
        state=InboxState.QUARANTINED,
        endpoint="/hooks/documo",
        provider="documo",
        event_name=None,
        key=None,
        received_at=1_700_000_000.0,
        updated_at=1_700_000_000.0,
        attempts=1,
        next_attempt_at=1_700_000_000.0,
        last_error="invalid_payload: <b>bad</b>",
        size=10,
        path="/hooks/documo",
        headers=(
            ("content-type", "multipart/form-data; boundary=x"),
            ("x-signature", "s3cr3t-signature"),
            ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ),
        client="203.0.113.9",
        content_type="multipart/form-data",
        fields={"data": '{"messageId": "m-1"}'},
        files=(StoredFile("attachment", "fax<1>.html", "text/html", b"<script>x</script>"),),
    )
    values.update(changes)
    return InboxRecord(**values)


def receiver_with(inbox: Inbox) -> Receiver:
    hooks = Receiver(inbox=inbox, worker=False)
    hooks.endpoint("/hooks/documo", providers.Documo(basic_auth=[("documo", "pw-documo-01")]))
    return hooks


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[SQLiteInbox]:
    box = SQLiteInbox(tmp_path / "c.db")
    yield box
    box.close()


@pytest.mark.slow
def test_the_example_app_mounts_the_console(tmp_path: Path) -> None:
    port = free_port()
    env = demo_environment(port, str(tmp_path))
    env["HOOKRECEIVER_CONSOLE_READONLY_AUTH"] = "viewer:pw-viewer-0123"
    env["HOOKRECEIVER_JOURNAL"] = str(tmp_path / "journal")
    user, _, password = env["HOOKRECEIVER_CONSOLE_AUTH"].partition(":")
    with serve("examples.starlette_app:app", port, env):
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(base + "/console/").status_code == 401
        page = httpx.get(base + "/console/", headers=basic(user, password))
        assert page.status_code == 200 and "<h1>Deliveries</h1>" in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        viewer = httpx.get(base + "/console/overview", headers=basic("viewer", "pw-viewer-0123"))
        assert viewer.status_code == 200 and "read-only" in viewer.text
        bare = httpx.get(base + "/console", headers=basic(user, password))
        assert bare.status_code in (200, 307, 308)
        css = httpx.get(base + "/console/static/console.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert httpx.get(base + "/health").json() == {"ok": True}


def test_the_console_needs_authentication_and_an_inbox(sqlite: SQLiteInbox) -> None:
    with pytest.raises(ConfigurationError, match="authentication"):
        receiver_with(sqlite).console_app()
    with pytest.raises(ConfigurationError, match="inbox"):
        Receiver().console_app(auth=[ADMIN])
    with pytest.raises(ConfigurationError):
        receiver_with(sqlite).console_app(auth=[("", "x")])


@pytest.mark.slow
def test_an_authorize_callable_decides(sqlite: SQLiteInbox) -> None:
    seen: list[ConsoleRequest] = []

    async def authorize(request: ConsoleRequest) -> Identity | None:
        seen.append(request)
        user = request.headers.get("x-user")
        return None if user is None else Identity(user, can_write=user == "admin")

    app = ConsoleApp(receiver_with(sqlite), authorize=authorize, secret="k" * 32)
    sqlite.put(stored("q1"))
    with serve_asgi(app, interface="asgi3") as url:
        assert httpx.get(url + "/").status_code == 403
        ok = httpx.get(url + "/deliveries/q1", headers={"x-user": "admin"})
        assert ok.status_code == 200 and "Release for re-parse" in ok.text
        watcher = httpx.get(url + "/deliveries/q1", headers={"x-user": "watcher"})
        assert watcher.status_code == 200 and "Release for re-parse" not in watcher.text
    assert seen[-1].path == "/deliveries/q1" and seen[-1].client == "127.0.0.1"


@pytest.fixture(params=["sqlite", "postgres"])
def any_inbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Inbox]:
    if request.param == "sqlite":
        box: Inbox = SQLiteInbox(tmp_path / "any.db")
        yield box
        box.close()
        return
    dsn = os.environ.get("HOOKRECEIVER_POSTGRES_DSN")
    if not dsn:
        pytest.skip("HOOKRECEIVER_POSTGRES_DSN is not set: no PostgreSQL to test against")
    pg = PostgresInbox(dsn, table=f"hr_console_{secrets.token_hex(4)}")
    yield pg
    pg.drop()
    pg.close()


@pytest.mark.slow
def test_detail_redacts_shows_trace_and_serves_files_as_downloads(any_inbox: Inbox) -> None:
    any_inbox.put(stored("q1"))
    app = ConsoleApp(receiver_with(any_inbox), auth=[ADMIN])
    with serve_asgi(app, interface="asgi3") as url:
        page = httpx.get(url + "/deliveries/q1", headers=basic(*ADMIN))
        assert page.status_code == 200
        assert "s3cr3t-signature" not in page.text and "[redacted]" in page.text
        assert "4bf92f3577b34da6a3ce929d0e0e4736" in page.text  # the trace id
        assert "&lt;b&gt;bad&lt;/b&gt;" in page.text and "<b>bad</b>" not in page.text
        assert "fax&lt;1&gt;.html" in page.text and "18 bytes" in page.text
        assert "m-1" in page.text  # the multipart field
        file = httpx.get(url + "/deliveries/q1/files/0", headers=basic(*ADMIN))
        assert file.content == b"<script>x</script>"
        assert file.headers["content-type"] == "application/octet-stream"
        assert file.headers["content-disposition"] == 'attachment; filename="fax1.html"'
        assert httpx.get(url + "/deliveries/q1/files/1", headers=basic(*ADMIN)).status_code == 404
        found = httpx.get(url + "/?q=q1", headers=basic(*ADMIN))
        assert "/deliveries/q1" in found.text
        overview = httpx.get(url + "/overview", headers=basic(*ADMIN))
        assert overview.status_code == 200 and "<svg" in overview.text
        token = page.text.split('name="csrf" value="')[1].split('"')[0]
        released = httpx.post(
            url + "/deliveries/q1/release",
            data={"csrf": token},
            headers={**basic(*ADMIN), "origin": url},
        )
        assert released.status_code == 303
        again = any_inbox.get("q1")
        assert again is not None and again.state is InboxState.PENDING
        assert [a.outcome for a in any_inbox.attempts("q1")] == ["released"]
        purged = httpx.post(
            url + "/purge",
            data={"csrf": token, "older_than_days": "0"},
            headers={**basic(*ADMIN), "origin": url},
        )
        assert purged.status_code == 400


@pytest.mark.slow
def test_the_docs_mounting_snippet_serves_the_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "console.md").read_text()
    snippet = doc.split("```python\n")[2].split("```")[0]  # the mount (the first sets env)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOOKRECEIVER_CONSOLE_AUTH", "ops:pw-ops-0123,ops:pw-ops-old")
    monkeypatch.setenv("HOOKRECEIVER_CONSOLE_READONLY_AUTH", "audit:pw-audit-0123")
    scope: dict[str, Any] = {}
    exec(compile(snippet, "docs/console.md", "exec"), scope)
    with serve_asgi(scope["app"]) as url:
        for user, password, status in [
            ("ops", "pw-ops-0123", 200),
            ("ops", "pw-ops-old", 200),  # rotation: both pairs are valid
            ("audit", "pw-audit-0123", 200),
            ("ops", "nope", 401),
        ]:
            got = httpx.get(url + "/console/", headers=basic(user, password))
            assert got.status_code == status, user
    scope["hooks"].inbox.close()


@pytest.mark.slow
def test_the_wsgi_mount_serves_and_acts(sqlite: SQLiteInbox) -> None:
    from flask import Flask
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    hooks = receiver_with(sqlite)
    sqlite.put(stored("f1", state=InboxState.FAILED))
    flask = Flask(__name__)
    flask.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
        hooks.wsgi_middleware(flask.wsgi_app), {"/console": hooks.console_wsgi_app(auth=[ADMIN])}
    )
    with serve_wsgi(flask) as url:
        assert httpx.get(url + "/console/").status_code == 401
        page = httpx.get(url + "/console/deliveries/f1", headers=basic(*ADMIN))
        assert page.status_code == 200 and "Mark resolved" in page.text
        assert 'href="/console/static/console.css"' in page.text
        token = page.text.split('name="csrf" value="')[1].split('"')[0]
        forged = httpx.post(
            url + "/console/deliveries/f1/resolve",
            data={"csrf": token},
            headers={**basic(*ADMIN), "origin": "https://evil.example"},
        )
        assert forged.status_code == 403
        done = httpx.post(
            url + "/console/deliveries/f1/resolve",
            data={"csrf": token},
            headers={**basic(*ADMIN), "origin": url},
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/console/deliveries/f1"
        big = httpx.post(
            url + "/console/purge",
            data={"csrf": token, "x": "y" * 70_000},
            headers={**basic(*ADMIN), "origin": url},
        )
        assert big.status_code == 413
    resolved = sqlite.get("f1")
    assert resolved is not None and resolved.state is InboxState.DONE


@pytest.mark.slow
def test_an_unreachable_inbox_is_a_503_page() -> None:
    port = free_port()  # nothing listens there
    down = PostgresInbox(f"postgresql://postgres@127.0.0.1:{port}/test", connect_timeout=1)
    app = ConsoleApp(receiver_with(down), auth=[ADMIN])
    with serve_asgi(app, interface="asgi3") as url:
        for path in ("/", "/overview", "/deliveries/x"):
            answer = httpx.get(url + path, headers=basic(*ADMIN), timeout=10)
            assert answer.status_code == 503, path
            assert "unreachable" in answer.text and str(port) not in answer.text


@pytest.mark.slow
def test_demo_serve_prints_the_console_and_keeps_it_browsable() -> None:
    import re
    import signal
    import socket
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "hookreceiver.cli", "demo", "--serve"]
    process = subprocess.Popen(
        command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 90
    try:
        while not any("until Ctrl-C" in line for line in seen):
            assert time.monotonic() < deadline and process.poll() is None, "".join(seen)
            seen.append(process.stdout.readline())
        text = "".join(seen)
        found = re.search(r"console: (\S+) \(user (\w+), password (\S+)\)", text)
        assert found is not None, text
        url, user, password = found.groups()
        page = httpx.get(url, headers=basic(user, password))
        assert page.status_code == 200 and "/deliveries/" in page.text  # the demo's deliveries
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        port = int(url.split(":")[2].split("/")[0])
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        process.stdout.close()


@pytest.mark.slow
def test_a_sync_fax_without_its_bytes_has_no_replay_button(sqlite: SQLiteInbox) -> None:
    from hookreceiver import Delivery, Headers
    from hookreceiver.inbox.recorder import SyncRecorder

    hooks = Receiver(inbox=sqlite, worker=False)
    hooks.endpoint("/hooks/documo", providers.Documo(allow_ips=["127.0.0.1"]), ack="sync")
    hooks.endpoint("/hooks/kazoo", providers.Wirecloud(allow_ips=["127.0.0.1"]), ack="sync")
    seen: list[str] = []
    hooks.on("*")(lambda event, ctx: seen.append(ctx.event_name))
    boundary = "b0undary"
    fax = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="data"\r\n\r\n'
        '{"messageId": "m-sync", "status": "success", "direction": "inbound", '
        '"faxNumber": "+18332394039", "createdAt": "2021-05-14T13:34:30.000Z"}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="attachment"; filename="f.pdf"'
        f"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4 fax\r\n--{boundary}--\r\n"
    ).encode()
    multipart = ("content-type", f"multipart/form-data; boundary={boundary}")
    sent = hooks.handle(
        Delivery("POST", "/hooks/documo", headers=Headers([multipart]), peer="127.0.0.1", body=fax)
    )
    assert sent.status == 200, sent.body
    kazoo = b'{"hook_event": "channel_destroy", "call_id": "c-json", "timestamp": "63724349409"}'
    json_headers = Headers([("content-type", "application/json"), ("x-hook-id", "h")])
    sent = hooks.handle(
        Delivery("POST", "/hooks/kazoo", headers=json_headers, peer="127.0.0.1", body=kazoo)
    )
    assert sent.status == 200, sent.body
    assert len(seen) == 2
    recorder = next(o for o in hooks.observers if isinstance(o, SyncRecorder))
    assert recorder.flush() == 2
    ids = {e.provider: e.id for e in sqlite.search().entries}
    app = ConsoleApp(hooks, auth=[ADMIN])
    with serve_asgi(app, interface="asgi3") as url:
        plain = httpx.get(url + f"/deliveries/{ids['wirecloud']}", headers=basic(*ADMIN))
        assert plain.status_code == 200 and "Replay now" in plain.text
        page = httpx.get(url + f"/deliveries/{ids['documo']}", headers=basic(*ADMIN))
        assert page.status_code == 200
        assert "Replay now" not in page.text and "/replay" not in page.text
        assert "Not possible" in page.text and "bytes were not kept" in page.text
        token = plain.text.split('name="csrf" value="')[1].split('"')[0]
        forced = httpx.post(  # a hand-made POST is refused too
            url + f"/deliveries/{ids['documo']}/replay",
            data={"csrf": token},
            headers={**basic(*ADMIN), "origin": url},
        )
        assert forced.status_code == 303
    assert seen == [seen[0], seen[1]]  # no handler ran again
    history = sqlite.attempts(ids["documo"])
    assert history[-1].outcome == "replayed" and "bytes were not kept" in (history[-1].error or "")
    kept = sqlite.get(ids["documo"])
    assert kept is not None and kept.state is InboxState.DONE
