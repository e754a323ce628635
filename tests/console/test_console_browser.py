"""The console end to end: a real uvicorn server, a real headless Chromium (Playwright).

Log in, find a delivery by id, open it, see its attempts, replay a dead letter and watch it
become handled; the read-only role gets no buttons and its POST is refused; forged POSTs are
403; a payload holding ``<script>`` renders as text. Each page's screenshot is written to
``build/screenshots/`` (CI keeps the folder).
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from hookreceiver import Delivery, Headers, Receiver, providers
from hookreceiver.inbox import InboxState, Retry, SQLiteInbox
from hookreceiver.inbox.listing import SearchQuery
from hookreceiver.inbox.replay import replay
from support.servers import serve_asgi

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("HOOKRECEIVER_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
ADMIN = ("alice", "pw-alice-0123")
VIEWER = ("viewer", "pw-viewer-0123")

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
    if os.environ.get("CI"):  # .ci/run installs it: a skip there would hide the browser tests
        pytest.fail(f"no Chromium at {CHROMIUM} on CI (see .ci/run)", pytrace=False)
    pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium", allow_module_level=True)


class Site:
    """A receiver with a SQLite inbox and its console on one uvicorn server."""

    def __init__(self, tmp_path: Path) -> None:
        self.failing = True
        self.calls = 0
        self.inbox = SQLiteInbox(tmp_path / "console.db", retry=Retry(max_attempts=1))
        self.hooks = Receiver(inbox=self.inbox, worker=False)
        self.hooks.endpoint("/hooks/kazoo", providers.Wirecloud(allow_ips=["127.0.0.1"]))

        @self.hooks.on("wirecloud.*")
        def handler(event: Any, ctx: Any) -> None:
            if self.failing:
                raise RuntimeError("the CRM is down")

        self.console = self.hooks.console_app(auth=[ADMIN], readonly_auth=[VIEWER])

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/console"):
            scope = {**scope, "root_path": "/console"}
            await self.console(scope, receive, send)
        else:
            await self.hooks.asgi_app(scope, receive, send)

    def dead_letter(self, **fields: Any) -> str:
        """A Kazoo delivery kept in the inbox whose only attempt failed."""
        self.calls += 1
        form = {
            "account_id": "91eb05e5c68d7ca05e7618b6821d2d16",
            "call_direction": "inbound",
            "call_id": f"call-{self.calls}",
            "caller_id_number": "+15556783945",
            "hook_event": "channel_destroy",
            "hangup_cause": "NORMAL_CLEARING",
            "timestamp": "63724349409",
            **fields,
        }
        delivery = Delivery(
            "POST",
            "/hooks/kazoo",
            headers=Headers([("content-type", "application/x-www-form-urlencoded")]),
            peer="127.0.0.1",
            body=urlencode(form).encode(),
        )
        assert self.hooks.handle(delivery).status == 200
        kept = self.inbox.search(SearchQuery(states=("pending",))).entries
        assert len(kept) == 1
        assert replay(self.hooks, kept[0].id).state is InboxState.FAILED
        return kept[0].id


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Site, str]]:
    made = Site(tmp_path)
    with serve_asgi(made.app, interface="asgi3") as url:
        yield made, url + "/console/"
    made.inbox.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def login(browser: Any, who: tuple[str, str], **options: Any) -> Any:
    context = browser.new_context(
        http_credentials={"username": who[0], "password": who[1]}, **options
    )
    return context.new_page()


def auth_header(who: tuple[str, str]) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(":".join(who).encode()).decode()}


def test_find_open_and_replay_a_dead_letter(site: tuple[Site, str], browser: Any) -> None:
    made, console = site
    for _ in range(3):
        made.dead_letter()
    target = made.dead_letter(caller_id_number="+15550001111")
    page = login(browser, ADMIN, viewport={"width": 1366, "height": 800})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(console)
    assert page.locator("table.deliveries tbody tr").count() == 4
    shot(page, "list")
    page.fill("input[name=q]", target)
    page.click("form.filters button[type=submit]")
    rows = page.locator("table.deliveries tbody tr")
    assert rows.count() == 1
    page.click(f"text={target}")
    assert page.url.endswith(f"/console/deliveries/{target}")
    assert page.locator("h1 .state").inner_text() == "failed"
    attempts = page.locator("table.attempts tbody tr")
    assert attempts.count() == 1
    assert "RuntimeError: the CRM is down" in attempts.first.inner_text()
    page.click("table.attempts summary")  # the folded traceback
    assert "raise RuntimeError" in page.locator("table.attempts pre").inner_text()
    assert "+15550001111" in page.locator("pre.code").first.inner_text()  # the parsed event
    shot(page, "detail-failed")
    made.failing = False  # the fix is deployed
    page.click("button:has-text('Replay now')")
    assert page.url.endswith(f"/console/deliveries/{target}")
    assert page.locator("h1 .state").inner_text() == "done"
    outcomes = page.locator("table.attempts tbody tr").all_inner_texts()
    assert len(outcomes) == 3 and "done" in outcomes[1] and "replayed by alice" in outcomes[2]
    stored = made.inbox.get(target)
    assert stored is not None and stored.state is InboxState.DONE
    shot(page, "detail-replayed")
    page.goto(console + "overview")
    assert page.locator(".card").first.inner_text().startswith("pending")
    assert page.locator("svg.chart rect").count() >= 1
    shot(page, "overview")
    page.goto(console + "?state=failed")
    page.click("text=Replay these")
    assert "3 deliveries match" in page.locator("main").inner_text()
    shot(page, "confirm-replay")
    page.click("button:has-text('Replay 3 deliveries')")
    assert "requeued 3" in page.locator(".notice").inner_text()
    assert errors == []  # no CSP violation, no script error
    phone = login(browser, ADMIN, viewport={"width": 390, "height": 844})
    phone.goto(console + f"deliveries/{target}")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, "the detail page scrolls sideways on a phone"
    shot(phone, "detail-phone")


def test_read_only_sees_but_cannot_act(site: tuple[Site, str], browser: Any) -> None:
    made, console = site
    target = made.dead_letter()
    page = login(browser, VIEWER)
    page.goto(console + f"deliveries/{target}")
    assert "read-only" in page.locator(".who").inner_text()
    assert page.locator("button").count() == 0
    assert page.locator("input[name=csrf]").count() == 0
    shot(page, "detail-readonly")
    # Its POST is refused even with a valid admin form token and the right Origin.
    admin = login(browser, ADMIN)
    admin.goto(console + f"deliveries/{target}")
    token = admin.locator("input[name=csrf]").first.get_attribute("value")
    answer = httpx.post(
        console + f"deliveries/{target}/replay",
        data={"csrf": token},
        headers={**auth_header(VIEWER), "origin": console.split("/console")[0]},
    )
    assert answer.status_code == 403
    stored = made.inbox.get(target)
    assert stored is not None and stored.state is InboxState.FAILED


def test_forged_posts_are_refused(site: tuple[Site, str], browser: Any) -> None:
    made, console = site
    target = made.dead_letter()
    origin = console.split("/console")[0]
    url = console + f"deliveries/{target}/resolve"
    page = login(browser, ADMIN)
    page.goto(console + f"deliveries/{target}")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    admin = auth_header(ADMIN)
    forged = [
        ({"origin": origin}, {}),  # no token
        ({"origin": origin}, {"csrf": "forged"}),
        ({"origin": "https://evil.example"}, {"csrf": token}),  # a foreign origin
        ({}, {"csrf": token}),  # no Origin, no Referer
    ]
    for headers, form in forged:
        answer = httpx.post(url, data=form, headers={**admin, **headers})
        assert answer.status_code == 403, (headers, form)
    stored = made.inbox.get(target)
    assert stored is not None and stored.state is InboxState.FAILED
    # A page on another origin submitting a form to the console, in the browser.
    evil = browser.new_context(http_credentials={"username": ADMIN[0], "password": ADMIN[1]})
    attacker = evil.new_page()
    attacker.route(
        "http://attacker.test/",
        lambda route: route.fulfill(
            content_type="text/html",
            body=f'<form method="post" action="{url}"><input name="csrf" value="{token}">'
            "<button>win</button></form>",
        ),
    )
    attacker.goto("http://attacker.test/")
    with attacker.expect_response(url) as answered:
        attacker.click("button")
    assert answered.value.status == 403
    stored = made.inbox.get(target)
    assert stored is not None and stored.state is InboxState.FAILED
    # The same token, from the console's own page, works.
    ok = httpx.post(url, data={"csrf": token}, headers={**admin, "origin": origin})
    assert ok.status_code == 303
    resolved = made.inbox.get(target)
    assert resolved is not None and resolved.state is InboxState.DONE


def test_unauthenticated_is_401_with_a_challenge(site: tuple[Site, str]) -> None:
    _, console = site
    for headers in ({}, auth_header(("alice", "wrong")), {"authorization": "Basic !!!"}):
        answer = httpx.get(console, headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Basic ")
        assert "pw-alice" not in answer.text
    assert httpx.get(console + "?state=nope", headers=auth_header(ADMIN)).status_code == 400
    assert httpx.get(console + "?cursor=zz", headers=auth_header(ADMIN)).status_code == 400
    assert httpx.get(console + "deliveries/nope", headers=auth_header(ADMIN)).status_code == 404


def test_a_payload_holding_script_renders_as_text(site: tuple[Site, str], browser: Any) -> None:
    made, console = site
    evil = '<script>alert("pwned")</script><img src=x onerror=alert(2)>'
    target = made.dead_letter(caller_id_name=evil, hook_event="channel_destroy")
    page = login(browser, ADMIN)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    answer = page.goto(console + f"deliveries/{target}")
    assert answer is not None
    csp = answer.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert evil in page.locator("main").inner_text()
    assert page.locator("main script").count() == 0 and page.locator("main img").count() == 0
    assert dialogs == []
    shot(page, "escaped-payload")
    query = urlencode({"q": target})
    page.goto(console + "?" + query)
    assert page.locator("main script").count() == 0
