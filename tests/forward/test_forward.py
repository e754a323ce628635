"""``hookreceiver forward`` end to end: a "deployed" receiver with an inbox and its feed, and a
"local" app, each a real uvicorn process; real deliveries to the deployed one reach the local
one byte for byte, with the local app's own credentials, through the feed or the inbox."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hookreceiver import URLSigner
from hookreceiver.testing import documo, faxplus, send_http, updox
from hookreceiver.testing.forward import FeedSource
from support.servers import free_port

pytestmark = pytest.mark.slow

FEED_TOKEN = "feed-" + secrets.token_urlsafe(24)
PROD_PASSWORD = "prod-" + secrets.token_hex(8)
LOCAL_PASSWORD = "local-" + secrets.token_hex(8)
PROD_KEY = "prodkey-" + secrets.token_hex(16)
LOCAL_KEY = "localkey-" + secrets.token_hex(16)
SECRETS = (FEED_TOKEN, PROD_PASSWORD, LOCAL_PASSWORD, PROD_KEY, LOCAL_KEY)

DEPLOYED = """
import os
from starlette.applications import Starlette
from starlette.routing import Mount
from hookreceiver import Receiver, URLSigner, providers
from hookreceiver.inbox import open_inbox

hooks = Receiver(inbox=open_inbox(os.environ["INBOX"]), worker=False)
hooks.endpoint("/hooks/documo", providers.Documo(
    basic_auth=[("documo", os.environ["PROD_PASSWORD"])], allow_ips=["127.0.0.1"]), ack="inbox")
hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]), ack="inbox")
hooks.endpoint("/hooks/updox/{event}/{token}", providers.Updox(
    signed_urls=URLSigner([os.environ["PROD_KEY"]], expires_in=None)), ack="inbox")
feed = hooks.inbox_feed_app(auth=os.environ["FEED_TOKEN"])
app = Starlette(routes=[Mount("/_hookreceiver/feed", app=feed)])
app = hooks.asgi_middleware(app)
"""

LOCAL = """
import hashlib, json, os
from hookreceiver import Receiver, URLSigner, providers

hooks = Receiver()
hooks.endpoint("/hooks/documo", providers.Documo(
    basic_auth=[("documo", os.environ["LOCAL_PASSWORD"])], allow_ips=["127.0.0.1"]))
hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
hooks.endpoint("/hooks/updox/{event}/{token}", providers.Updox(
    signed_urls=URLSigner([os.environ["LOCAL_KEY"]], expires_in=None)))

@hooks.on("*")
def seen(event, ctx):
    line = {
        "event": ctx.event_name,
        "raw": hashlib.sha256(ctx.raw_body).hexdigest(),
        "signed": ctx.signed,
        "files": [hashlib.sha256(a.read()).hexdigest() for a in ctx.attachments],
        "user_agent": ctx.headers.get("user-agent"),
        "authorization": ctx.headers.get("authorization") is not None,
    }
    with open(os.environ["SEEN"], "a") as f:
        f.write(json.dumps(line) + "\\n")

app = hooks.asgi_app
"""


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Server:
    def __init__(self, tmp: Path, module: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"{module}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--no-proxy-headers",
                    "--port",
                    str(self.port),
                    "--app-dir",
                    str(tmp),
                    f"{module}:app",
                ],
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def up() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(self.log.read_text())
            try:
                httpx.get(self.base + "/", timeout=1)
            except httpx.TransportError:
                return False
            return True

        wait_for(up, what=f"{module} to start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(params=["sqlite", "postgres"])
def inbox_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The deployed receiver's inbox: a SQLite file, or a PostgreSQL table of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'deployed.db'}"
        return
    dsn = request.getfixturevalue("postgres_dsn")
    table = f"hr_forward_{secrets.token_hex(4)}"
    yield f"{dsn}?table={table}"
    from hookreceiver.inbox import PostgresInbox

    box = PostgresInbox(dsn, table=table)
    box.drop()
    box.close()


@pytest.fixture
def servers(tmp_path: Path, inbox_url: str) -> Iterator[tuple[Server, Server, str, Path]]:
    (tmp_path / "deployed.py").write_text(DEPLOYED)
    (tmp_path / "local.py").write_text(LOCAL)
    seen = tmp_path / "seen.jsonl"
    env = {
        "INBOX": inbox_url,
        "PROD_PASSWORD": PROD_PASSWORD,
        "PROD_KEY": PROD_KEY,
        "FEED_TOKEN": FEED_TOKEN,
        "LOCAL_PASSWORD": LOCAL_PASSWORD,
        "LOCAL_KEY": LOCAL_KEY,
        "SEEN": str(seen),
    }
    deployed = Server(tmp_path, "deployed", env)
    local = Server(tmp_path, "local", env)
    try:
        yield deployed, local, inbox_url, seen
    finally:
        deployed.stop()
        local.stop()


def seen_lines(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def hookreceiver(*args: str, env: dict[str, str] | None = None) -> list[str]:
    return [sys.executable, "-m", "hookreceiver.cli", *args]


def test_forward_follows_the_feed_and_resigns_for_the_local_app(
    servers: tuple[Server, Server, str, Path], tmp_path: Path
) -> None:
    deployed, local, _, seen = servers
    out = tmp_path / "forward.out"
    with out.open("wb") as log:
        forward = subprocess.Popen(
            hookreceiver(
                "forward",
                "--from",
                deployed.base + "/_hookreceiver/feed",
                "--to",
                local.base,
                "--basic-auth",
                f"documo:{LOCAL_PASSWORD}",
                "--poll-interval",
                "0.1",
                "--count",
                "3",
            ),
            env={
                **os.environ,
                "HOOKRECEIVER_FEED_TOKEN": FEED_TOKEN,
                "HOOKRECEIVER_FORWARD_URL_KEYS": LOCAL_KEY,
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "TIME" in out.read_text(), what="forward's table header")
        fax = documo.fax_inbound(pages=2, basic_auth=("documo", PROD_PASSWORD))
        plus = faxplus.fax_received()
        signer = URLSigner([PROD_KEY], expires_in=None)
        url = signer.url(
            deployed.base, "/hooks/updox/{event}/{token}", {"event": "outbound_fax"}, {"job": 42}
        )
        up = updox.outbound_fax(url=url)
        for delivery in (fax, plus, up):
            assert send_http(delivery, deployed.base).status == 200
        forward.wait(30)
    finally:
        if forward.poll() is None:
            forward.kill()
    output = out.read_text()
    assert forward.returncode == 0, output
    lines = wait_for(lambda: len(seen_lines(seen)) == 3 and seen_lines(seen), what="3 handled")
    by_event = {line["event"]: line for line in lines}
    assert by_event["documo.fax.inbound"]["files"] == [hashlib.sha256(fax.attachment).hexdigest()]
    assert by_event["faxplus.fax_received"]["raw"] == hashlib.sha256(plus.body).hexdigest()
    assert by_event["updox.outbound_fax"]["raw"] == hashlib.sha256(up.body).hexdigest()
    assert by_event["updox.outbound_fax"]["signed"] == {"job": 42}  # re-signed, same context
    assert by_event["faxplus.fax_received"]["user_agent"] == plus.header("user-agent")
    # The local Documo password goes to the delivery that came with basic auth only.
    assert by_event["documo.fax.inbound"]["authorization"] is True
    assert by_event["faxplus.fax_received"]["authorization"] is False
    assert by_event["updox.outbound_fax"]["authorization"] is False
    rows = [line for line in output.splitlines() if " 200 " in line]
    assert len(rows) == 3 and all("handled" in row for row in rows), output
    assert "/hooks/updox/outbound_fax/***" in output
    for secret in SECRETS:
        assert secret not in output


def test_forward_one_past_delivery_by_id_straight_from_the_inbox(
    servers: tuple[Server, Server, str, Path],
) -> None:
    deployed, local, inbox_url, seen = servers
    plus = faxplus.fax_received()
    assert send_http(plus, deployed.base).status == 200
    listed = subprocess.run(
        hookreceiver("inbox", "--inbox", inbox_url, "list", "--json"),
        capture_output=True,
        text=True,
        check=True,
    )
    [entry] = [json.loads(line) for line in listed.stdout.splitlines()]
    command = hookreceiver("forward", "--from", inbox_url, "--to", local.base, "--id", entry["id"])
    first = subprocess.run(command, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr
    assert seen_lines(seen)[0]["raw"] == hashlib.sha256(plus.body).hexdigest()
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0 and "duplicate" in again.stdout  # the local dedup store
    assert len(seen_lines(seen)) == 1
    missing = subprocess.run(
        hookreceiver("forward", "--from", inbox_url, "--to", local.base, "--id", "nope"),
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and "no delivery nope" in missing.stderr


def test_the_feed_wants_its_token_and_serves_no_secret(
    servers: tuple[Server, Server, str, Path],
) -> None:
    deployed, _, _, _ = servers
    fax = documo.fax_inbound(pages=1, basic_auth=("documo", PROD_PASSWORD))
    assert send_http(fax, deployed.base).status == 200
    feed = deployed.base + "/_hookreceiver/feed"
    for headers in ({}, {"authorization": "Bearer " + "x" * 30}, {"authorization": FEED_TOKEN}):
        refused = httpx.get(feed + "/deliveries", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"] == "unauthorized"
        assert FEED_TOKEN not in refused.text
    auth = {"authorization": f"Bearer {FEED_TOKEN}"}
    page = httpx.get(feed + "/deliveries", headers=auth).json()
    [delivery] = page["deliveries"]
    assert delivery["event"] == "documo.fax.inbound"
    assert "authorization" not in {name for name, _ in delivery["headers"]}
    text = json.dumps(page)
    for secret in SECRETS:
        assert secret not in text
    assert (
        httpx.get(feed + "/deliveries", headers=auth, params={"after": page["cursor"]}).json()[
            "deliveries"
        ]
        == []
    )
    assert httpx.get(feed + "/cursor", headers=auth).json()["cursor"] == page["cursor"]
    one = httpx.get(feed + f"/deliveries/{delivery['id']}", headers=auth)
    assert one.status_code == 200 and one.json()["files"][0]["data"]
    assert httpx.get(feed + "/deliveries/nope", headers=auth).status_code == 404
    assert (
        httpx.get(feed + "/deliveries", headers=auth, params={"after": "garbage"}).status_code
        == 400
    )
    assert httpx.post(feed + "/deliveries", headers=auth).status_code == 405


def test_a_feed_url_with_credentials_is_refused_without_echoing_them() -> None:
    # http.client cannot send a URL's user:password; printing the URL would show them.
    with pytest.raises(ValueError) as refused:
        FeedSource("https://ops:S3CRET-pw@hooks.example.com/_feed", "t" * 32)
    assert "S3CRET-pw" not in str(refused.value)
    with pytest.raises(ValueError) as refused:
        FeedSource("ftp://ops:S3CRET-pw@hooks.example.com/_feed", "t" * 32)
    assert "S3CRET-pw" not in str(refused.value)
    from click.testing import CliRunner

    from hookreceiver.cli import main

    url = "http://ops:S3CRET-pw@127.0.0.1:9/_feed"
    result = CliRunner().invoke(
        main, ["forward", "--from", url, "--to", "http://127.0.0.1:9", "--token", "t" * 32]
    )
    assert result.exit_code == 2 and "S3CRET-pw" not in result.output


@pytest.mark.slow
def test_a_wrong_feed_token_exits_3_instead_of_retrying_forever(tmp_path: Path) -> None:
    # A refused token is not an outage: `--from-start --once` looped on 401s and never exited.
    from hookreceiver.inbox import SQLiteInbox
    from hookreceiver.inbox.feed import InboxFeed
    from support.servers import serve_wsgi

    box = SQLiteInbox(tmp_path / "deployed.db")
    feed = InboxFeed(box, auth=FEED_TOKEN)
    wrong = "w" * 32
    with serve_wsgi(feed.wsgi) as base:
        args = ["forward", "--from", base, "--to", "http://127.0.0.1:9", "--from-start"]
        done = subprocess.run(
            hookreceiver(*args, "--once", "--poll-interval", "0.1"),
            env={**os.environ, "HOOKRECEIVER_FEED_TOKEN": wrong},
            capture_output=True,
            text=True,
            timeout=30,
        )
    box.close()
    assert done.returncode == 3, done.stderr
    assert "401" in done.stderr and wrong not in done.stdout + done.stderr


def _html_login_page(environ: dict[str, object], start_response: object) -> list[bytes]:
    start_response("200 OK", [("content-type", "text/html")])  # type: ignore[operator]
    return [b"<html>sign in</html>"]


def _redirect(environ: dict[str, object], start_response: object) -> list[bytes]:
    start_response("301 Moved", [("location", "https://sso.example.com/")])  # type: ignore[operator]
    return [b""]


@pytest.mark.slow
@pytest.mark.parametrize("app", [_html_login_page, _redirect], ids=["html", "redirect"])
def test_a_url_that_is_no_feed_exits_3_with_a_message(app: object, tmp_path: Path) -> None:
    # A sign-in page answered 200 made a JSONDecodeError traceback; a redirect was retried
    # forever as if the feed were down.
    from support.servers import serve_wsgi

    with serve_wsgi(app) as base:
        for follow in ([], ["--from-start", "--once"]):
            done = subprocess.run(
                hookreceiver("forward", "--from", base, "--to", "http://127.0.0.1:9", *follow),
                env={**os.environ, "HOOKRECEIVER_FEED_TOKEN": FEED_TOKEN},
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert done.returncode == 3, done.stderr
            assert "Traceback" not in done.stderr and FEED_TOKEN not in done.stderr
