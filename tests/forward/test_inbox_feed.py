"""The inbox feed's parts: deliveries in the order received after a cursor (SQLite and
PostgreSQL), records as JSON and back, multipart encoded again from stored parts, the feed's
answers (WSGI, over a real server), and the parsers under arbitrary input."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookreceiver import ConfigurationError, Receiver
from hookreceiver.inbox import Inbox, InboxRecord, InboxState, PostgresInbox, SQLiteInbox
from hookreceiver.inbox.feed import (
    InboxFeed,
    decode_cursor,
    encode_cursor,
    record_from_json,
    record_to_json,
)
from hookreceiver.inbox.records import StoredFile
from hookreceiver.parsing.multipart import MultipartSink, multipart_boundary
from hookreceiver.testing import LocalGuards, StoredDelivery, send_http
from support.servers import serve_asgi, serve_wsgi

TOKEN = "t" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def record(record_id: str, at: float, **changes: object) -> InboxRecord:
    body = b'{"id": "' + record_id.encode() + b'"}'
    made = InboxRecord(
        id=record_id, state=InboxState.PENDING, endpoint="/hooks/faxplus", provider="faxplus",
        event_name="faxplus.fax_received", key=record_id, received_at=at, updated_at=at,
        attempts=0, next_attempt_at=at, last_error=None, size=len(body),
        path="/hooks/faxplus", headers=(("content-type", "application/json"),),
        client="127.0.0.1", content_type="application/json", body=body,
    )  # fmt: skip
    for name, value in changes.items():
        setattr(made, name, value)
    return made


@pytest.fixture(params=["sqlite", "postgres"])
def inbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Inbox]:
    box: Inbox
    if request.param == "sqlite":
        box = SQLiteInbox(tmp_path / "feed.db")
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        box = PostgresInbox(dsn, table=f"hr_feed_{secrets.token_hex(4)}")
    yield box
    if isinstance(box, PostgresInbox):
        box.drop()
    box.close()


def test_received_after_pages_in_order_through_ties_and_every_state(inbox: Inbox) -> None:
    assert inbox.last_received() is None
    assert inbox.received_after(None) == []
    for n, at in enumerate([10.0, 10.0, 10.0, 11.5, 12.0]):
        state = InboxState.DONE if n == 1 else InboxState.PENDING
        inbox.put(record(f"r{n}", at, state=state))
    seen: list[str] = []
    cursor: tuple[float, str] | None = None
    while page := inbox.received_after(cursor, limit=2):
        seen += [r.id for r in page]
        cursor = (page[-1].received_at, page[-1].id)
    assert seen == ["r0", "r1", "r2", "r3", "r4"]
    assert inbox.last_received() == (12.0, "r4")
    inbox.put(record("r5", 12.0))
    assert [r.id for r in inbox.received_after(inbox.last_received())] == []
    assert [r.id for r in inbox.received_after((12.0, "r4"))] == ["r5"]
    assert inbox.received_after((10.0, "r0"), limit=1)[0].body == b'{"id": "r1"}'


stored_files = st.builds(
    StoredFile,
    st.text(st.characters(codec="utf-8", exclude_characters='\r\n"\\'), min_size=1, max_size=8),
    st.none() | st.text(st.characters(codec="latin-1", exclude_characters='\r\n"\\'), max_size=8),
    st.sampled_from(["application/pdf", "image/tiff", "application/octet-stream"]),
    st.binary(max_size=300),
)
field_names = st.text(
    st.characters(codec="utf-8", exclude_characters='\r\n"\\'), min_size=1, max_size=8
)


@settings(max_examples=150, deadline=None)
@given(
    fields=st.dictionaries(field_names, st.text(max_size=50), max_size=3),
    files=st.lists(stored_files, max_size=3, unique_by=lambda f: f.field),
)
def test_a_multipart_body_made_again_parses_into_the_same_parts(
    fields: dict[str, str], files: list[StoredFile]
) -> None:
    files = [f for f in files if f.field not in fields]
    header = "multipart/form-data; boundary=----hookreceiverabc123"
    made = record(
        "m",
        1.0,
        content_type="multipart/form-data",
        body=b"",
        fields=fields,
        files=tuple(files),
        headers=(("content-type", header),),
    )
    sink = MultipartSink(multipart_boundary(header), limit=1 << 20, max_files=8)
    sink.feed(made.wire_body())
    body = sink.finish()
    try:
        assert body.fields == fields
        assert [(a.field, a.filename or None, a.read()) for a in body.files] == [
            (f.field, f.filename or None, f.data) for f in files
        ]
    finally:
        body.close()


@settings(max_examples=100, deadline=None)
@given(
    body=st.binary(max_size=200),
    fields=st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=2),
    files=st.lists(stored_files, max_size=2),
    signed=st.none() | st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5)),
    at=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    record_id=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1),
)
def test_records_cross_the_feed_as_json_unchanged(
    body: bytes,
    fields: dict[str, str],
    files: list[StoredFile],
    signed: dict[str, object] | None,
    at: float,
    record_id: str,
) -> None:
    original = record(record_id, at, body=body, fields=fields, files=tuple(files), signed=signed)
    assert record_from_json(json.loads(json.dumps(record_to_json(original)))) == original
    assert decode_cursor(encode_cursor((at, record_id))) == (at, record_id)


@given(st.text(max_size=40))
def test_a_cursor_is_decoded_or_refused_with_value_error(text: str) -> None:
    try:
        decoded = decode_cursor(text)
    except ValueError:
        return
    assert decoded is None or (isinstance(decoded[0], float) and decoded[1])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(list(record_to_json(record("x", 1.0)))), json_values))
def test_anything_else_than_a_record_is_refused_with_value_error(data: dict[str, object]) -> None:
    whole = {**record_to_json(record("x", 1.0)), **data}
    try:
        record_from_json(whole)
    except ValueError:
        pass


def test_the_feed_as_a_wsgi_app_over_a_real_server(tmp_path: Path) -> None:
    box = SQLiteInbox(tmp_path / "w.db")
    box.put(record("w1", 5.0))
    feed = InboxFeed(box, auth=["n" * 20, TOKEN])  # a second token while rotating
    with serve_wsgi(feed.wsgi) as base:
        assert httpx.get(base + "/deliveries").status_code == 401
        auth = {"authorization": f"Bearer {TOKEN}"}
        page = httpx.get(base + "/deliveries", headers=auth)
        assert page.headers["cache-control"] == "no-store"
        assert [d["id"] for d in page.json()["deliveries"]] == ["w1"]
        assert httpx.get(base + "/cursor", headers=auth).json() == {
            "cursor": encode_cursor((5.0, "w1"))
        }
    box.close()


def test_the_feed_needs_an_inbox_and_long_tokens(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="inbox"):
        Receiver().inbox_feed_app(auth=TOKEN)
    hooks = Receiver(inbox=SQLiteInbox(tmp_path / "x.db"), worker=False)
    with pytest.raises(ConfigurationError, match="16"):
        hooks.inbox_feed_app(auth="short")
    with pytest.raises(ConfigurationError):
        hooks.inbox_feed_app(auth=[])
    assert "t" * 32 not in repr(hooks.inbox_feed_app(auth=TOKEN))


def test_stored_headers_for_one_hop_are_not_sent_again_and_a_query_token_is_resigned() -> None:
    from hookreceiver import URLSigner

    signer = URLSigner(["k" * 20], expires_in=None)
    stored = StoredDelivery(
        id="q1", provider="updox", event="updox.inbound_fax", endpoint="/hooks/updox/{event}",
        method="POST", path="/hooks/updox/inbound_fax", query="a=1&token=***",
        headers=(("host", "hooks.example.com"), ("x-forwarded-for", "203.0.113.1"),
                 ("content-length", "2"), ("content-type", "application/json")),
        params={"event": "inbound_fax"}, signed={"job": 1}, body=b"{}", basic_auth=True,
    )  # fmt: skip
    sent = stored.simulated(LocalGuards(url_signer=signer, basic_auth=("u", "p")))
    names = [name for name, _ in sent.headers]
    assert names == ["content-type", "authorization"]
    name, _, token = sent.query.partition("&")[2].partition("=")
    assert sent.query.startswith("a=1&") and name == "token"
    assert signer.verify("/hooks/updox/{event}", {"event": "inbound_fax"}, token) == {"job": 1}


def test_a_standard_webhooks_signature_is_made_again_for_the_local_secret() -> None:
    from hookreceiver import NotVerified, Receiver, StandardWebhooks, providers
    from hookreceiver.testing import faxplus

    local = StandardWebhooks(["whsec_" + "bG9jYWwtc2VjcmV0LWtleS0xMjM0NTY="])
    hooks = Receiver(log_events=False)
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"], guards=[local]))
    original = faxplus.fax_received()
    stored = StoredDelivery(
        id="s1", provider="faxplus", event=original.event, endpoint="/hooks/faxplus",
        method="POST", path="/hooks/faxplus", client="127.0.0.1", body=original.body,
        headers=(*original.headers, ("webhook-id", "msg_1"), ("webhook-timestamp", "1"),
                 ("webhook-signature", "v1,cHJvZHVjdGlvbi1zaWduYXR1cmUtMzItYnl0ZXMhISE=")),
    )  # fmt: skip
    as_stored = stored.simulated()
    with pytest.raises(NotVerified):
        hooks.verify("POST", "/hooks/faxplus", as_stored.headers, original.body, client="127.0.0.1")
    sent = stored.simulated(LocalGuards(webhook_signer=local))
    assert sent.body == original.body and sent.header("webhook-id") == "msg_1"
    verified = hooks.verify("POST", "/hooks/faxplus", sent.headers, sent.body, client="127.0.0.1")
    assert verified.name == "faxplus.fax_received"


def test_a_delivery_without_a_signed_url_is_sent_without_a_token() -> None:
    # --url-keys applies to every forwarded delivery: one that came without a signed URL
    # (Documo, basic auth) keeps its path and query as they were.
    from hookreceiver import URLSigner

    signer = URLSigner(["k" * 20], expires_in=None)
    stored = StoredDelivery(
        id="d1", provider="documo", event="documo.fax.inbound", endpoint="/hooks/documo",
        method="POST", path="/hooks/documo", query="a=1",
        headers=(("content-type", "application/json"),), body=b"{}",
    )  # fmt: skip
    sent = stored.simulated(LocalGuards(url_signer=signer))
    assert (sent.path, sent.query) == ("/hooks/documo", "a=1")


@pytest.mark.parametrize(
    ("path", "query", "status"),
    [
        ("/deliveries/\x00", "", 404),
        ("/deliveries/a\x00b", "", 404),
        ("/deliveries", "after=1.0~%00", 400),
        ("/deliveries", "after=1.0~a%00b", 400),
    ],
)
def test_ids_no_inbox_can_store_are_a_clear_4xx(
    inbox: Inbox, path: str, query: str, status: int
) -> None:
    # A NUL byte in an id (%00 in the URL) made PostgreSQL's driver raise: a 500.
    inbox.put(record("n1", 5.0))
    feed = InboxFeed(inbox, auth=TOKEN)
    answer = feed.respond("GET", path, query, f"Bearer {TOKEN}")
    assert answer.status == status
    assert json.loads(answer.body)["error"] in ("not_found", "bad_request")


def test_routes_are_exact_paths_relative_to_the_mount_and_the_rest_is_404(tmp_path: Path) -> None:
    # The routes were matched by their path's end: /deliveries/cursor answered the cursor,
    # /x/deliveries the deliveries.
    from starlette.applications import Starlette
    from starlette.routing import Mount

    box = SQLiteInbox(tmp_path / "m.db")
    box.put(record("m1", 5.0))
    feed = InboxFeed(box, auth=TOKEN)
    auth = {"authorization": f"Bearer {TOKEN}"}
    good = {"/deliveries": 200, "/cursor": 200, "/deliveries/m1": 200, "/deliveries/zz": 404}
    bad = ["/deliveries/cursor", "/x/deliveries", "/x/cursor", "/deliveries/m1/cursor",
           "/deliveries/m1/x", "/feed/deliveries", "//deliveries", "/", "/cursor/x"]  # fmt: skip
    app = Starlette(routes=[Mount("/_feed", app=feed)])
    with serve_asgi(app) as direct, serve_asgi(app, root_path="/proxied") as behind:
        for base in (direct, behind):
            for path, status in good.items():
                assert httpx.get(base + "/_feed" + path, headers=auth).status_code == status, path
            for path in bad:
                answer = httpx.get(base + "/_feed" + path, headers=auth)
                assert answer.status_code == 404, path
                assert answer.json()["error"] == "not_found"
        # The bare feed app, at the root of its server.
    with serve_asgi(feed) as bare:
        assert httpx.get(bare + "/cursor", headers=auth).status_code == 200
        assert httpx.get(bare + "/x/cursor", headers=auth).status_code == 404

    def wsgi_root(environ: dict[str, object], start_response: object) -> object:
        environ["SCRIPT_NAME"] = "/_feed"  # what a DispatcherMiddleware does
        environ["PATH_INFO"] = str(environ["PATH_INFO"]).removeprefix("/_feed")
        return feed.wsgi(environ, start_response)  # type: ignore[arg-type]

    with serve_wsgi(wsgi_root) as base:
        for path, status in good.items():
            assert httpx.get(base + "/_feed" + path, headers=auth).status_code == status, path
        for path in bad:
            assert httpx.get(base + "/_feed" + path, headers=auth).status_code == 404, path
    box.close()


class Loads:
    """The inbox, counting the records the feed loads from it (not a fake: it reads it)."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.loaded: list[int] = []

    def received_after(self, after: tuple[float, str] | None, *, limit: int) -> list[InboxRecord]:
        found = self.inbox.received_after(after, limit=limit)
        self.loaded.append(len(found))
        return found

    def __getattr__(self, name: str) -> object:
        return getattr(self.inbox, name)


def test_a_page_is_capped_by_bytes_and_loads_about_what_it_sends(tmp_path: Path) -> None:
    # A page of 100 faxes of 25 MiB was ~3 GB of JSON built in the production process.
    mib = 1024 * 1024
    box = SQLiteInbox(tmp_path / "big.db")
    bodies = {f"b{i}": os.urandom(3 * mib) for i in range(6)}
    for i, (rid, body) in enumerate(bodies.items()):
        box.put(record(rid, 10.0 + i, body=body, size=len(body)))
    box.put(record("small", 20.0))
    box.put(record("huge", 30.0, body=os.urandom(12 * mib), size=12 * mib))
    cap = 10 * mib
    loads = Loads(box)
    feed = InboxFeed(loads, auth=TOKEN, max_page_bytes=cap)  # type: ignore[arg-type]
    seen: list[str] = []
    cursor = ""
    with serve_asgi(feed) as base:
        auth = {"authorization": f"Bearer {TOKEN}"}
        for _ in range(20):
            loads.loaded.clear()
            answer = httpx.get(
                base + "/deliveries", params={"after": cursor, "limit": 500}, headers=auth
            )
            page = answer.json()
            ids = [d["id"] for d in page["deliveries"]]
            if not ids:
                break
            if ids != ["huge"]:  # one record over the cap still goes, alone
                assert len(answer.content) <= cap, ids
            assert sum(loads.loaded) <= len(ids) + 2, (loads.loaded, ids)
            seen += ids
            cursor = page["cursor"]
    assert seen == [*bodies, "small", "huge"]
    assert record_from_json(httpx_get_one(feed, "b3")).body == bodies["b3"]
    box.close()


def httpx_get_one(feed: InboxFeed, record_id: str) -> dict[str, object]:
    answer = feed.respond("GET", f"/deliveries/{record_id}", "", f"Bearer {TOKEN}")
    return dict(json.loads(answer.body))


def test_the_page_cap_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="max_page_bytes"):
        InboxFeed(SQLiteInbox(tmp_path / "c.db"), auth=TOKEN, max_page_bytes=0)


def test_forward_follows_past_a_page_the_byte_cap_cut_short(tmp_path: Path) -> None:
    # The follower took a page shorter than its batch for "caught up": with once=True it
    # stopped, leaving deliveries behind.
    from hookreceiver.testing.forward import FeedSource, Forwarder

    box = SQLiteInbox(tmp_path / "f.db")
    for i in range(5):
        box.put(record(f"r{i}", 10.0 + i, body=os.urandom(300_000), size=300_000))
    feed = InboxFeed(box, auth=TOKEN, max_page_bytes=500_000)
    got: list[bytes] = []

    def local(environ: dict[str, object], start_response: object) -> list[bytes]:
        stream = environ["wsgi.input"]
        got.append(stream.read(int(str(environ.get("CONTENT_LENGTH") or 0))))  # type: ignore[attr-defined]
        start_response("200 OK", [("content-type", "application/json")])  # type: ignore[operator]
        return [b"{}"]

    with serve_asgi(feed) as remote, serve_wsgi(local) as to:
        forwarder = Forwarder(FeedSource(remote, TOKEN), to)
        sent = [f.record.id for f in forwarder.follow(cursor="", once=True, batch=100)]
    assert sent == [f"r{i}" for i in range(5)]
    assert len(got) == 5
    box.close()


def test_basic_auth_goes_only_to_a_delivery_that_came_with_it(tmp_path: Path) -> None:
    # --basic-auth went to every forwarded delivery: the local Kazoo and Updox endpoints
    # received the Documo password. The inbox now keeps whether basic auth came (not what).
    from hookreceiver import providers
    from hookreceiver.testing import documo, faxplus

    box = SQLiteInbox(tmp_path / "ba.db")
    hooks = Receiver(inbox=box, worker=False, log_events=False)
    hooks.endpoint(
        "/hooks/documo",
        providers.Documo(basic_auth=[("documo", "prod-pw")], allow_ips=["127.0.0.1"]),
        ack="inbox",
    )
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]), ack="inbox")
    with serve_asgi(hooks.asgi_app) as base:
        fax = documo.fax_inbound(basic_auth=("documo", "prod-pw"))
        assert send_http(fax, base).status == 200
        assert send_http(faxplus.fax_received(), base).status == 200
    kept = {r.provider: r for r in box.received_after(None, limit=10)}
    assert kept["documo"].basic_auth is True and kept["faxplus"].basic_auth is False
    assert all("prod-pw" not in repr(r) for r in kept.values())
    guards = LocalGuards(basic_auth=("local", "local-pw"))
    for provider, record_ in kept.items():
        again = record_from_json(json.loads(json.dumps(record_to_json(record_))))
        assert again.basic_auth is record_.basic_auth
        sent = StoredDelivery.from_record(again).simulated(guards)
        assert (sent.header("authorization") is not None) is (provider == "documo"), provider
    box.close()
