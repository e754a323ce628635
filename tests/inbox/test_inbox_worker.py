"""The inbox in the flow: accept then process, retries, dead letters, quarantine and replay."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from inbox_support import (
    KAZOO,
    KAZOO_HEADERS,
    FakeClock,
    kazoo_body,
    kazoo_delivery,
    kazoo_fields,
    kazoo_receiver,
)

from hookreceiver import (
    ConfigurationError,
    Delivery,
    DeliveryContext,
    Headers,
    Receiver,
    StoreUnavailable,
    providers,
)
from hookreceiver.inbox import (
    InboxEntry,
    InboxState,
    InboxWorker,
    Retry,
    SQLiteInbox,
    areplay,
    replay,
    replay_many,
)
from hookreceiver.providers import wirecloud
from hookreceiver.stores import MemoryStore


def flaky(failures: int, calls: list[int]) -> Any:
    """A handler that fails ``failures`` times, recording each attempt number."""

    def handler(event: Any, ctx: DeliveryContext) -> None:
        calls.append(ctx.attempt)
        if len(calls) <= failures:
            raise RuntimeError(f"downstream down ({len(calls)})")

    return handler


def test_kazoo_is_answered_200_at_once_and_handled_on_the_fourth_attempt(
    sqlite_inbox: SQLiteInbox, clock: FakeClock
) -> None:
    hooks = kazoo_receiver(sqlite_inbox)
    calls: list[int] = []
    hooks.on("wirecloud.channel_destroy")(flaky(3, calls))

    response = hooks.handle(kazoo_delivery())
    assert (response.status, json.loads(response.body)) == (200, {"status": "accepted"})
    assert calls == []  # nothing ran before the answer

    worker = InboxWorker(hooks)
    for delay in (2, 4, 8):  # Retry(): 2 s, then doubling
        assert worker.run_once()
        assert worker.run_once() is False  # not due before its backoff
        clock.advance(delay)
    assert worker.run_once()
    assert calls == [1, 2, 3, 4]
    (entry,) = sqlite_inbox.list()
    assert (entry.state, entry.attempts, entry.last_error) == (InboxState.DONE, 4, None)
    assert entry.event_name == "wirecloud.channel_destroy"


def test_the_last_failure_leaves_the_delivery_failed_and_calls_on_dead_letter(
    sqlite_inbox: SQLiteInbox, clock: FakeClock
) -> None:
    hooks = kazoo_receiver(sqlite_inbox)
    calls: list[int] = []
    hooks.on("wirecloud.channel_destroy")(flaky(99, calls))
    letters: list[InboxEntry] = []
    hooks.on_dead_letter(letters.append)

    hooks.handle(kazoo_delivery())
    worker = InboxWorker(hooks)
    for _ in range(5):
        assert worker.run_once()
        clock.advance(3600)
    assert worker.run_once() is False
    (entry,) = sqlite_inbox.list()
    assert (entry.state, entry.attempts) == (InboxState.FAILED, 5)
    assert entry.last_error == "RuntimeError: downstream down (5)"
    assert [(e.id, e.state, e.last_error) for e in letters] == [
        (entry.id, InboxState.FAILED, entry.last_error)
    ]

    # The cause is fixed: a replay handles it, once.
    calls.clear()
    hooks.handlers = type(hooks.handlers)()
    hooks.on("wirecloud.channel_destroy")(flaky(0, calls))
    assert replay(hooks, entry.id).state is InboxState.DONE
    assert calls == [1]
    assert sqlite_inbox.get(entry.id).state is InboxState.DONE  # type: ignore[union-attr]


def test_async_dead_letter_hooks_and_broken_ones(sqlite_inbox: SQLiteInbox) -> None:
    hooks = kazoo_receiver(sqlite_inbox)
    hooks.inbox = SQLiteInbox(
        sqlite_inbox.path, clock=sqlite_inbox.clock, retry=Retry(max_attempts=1)
    )
    hooks.on("*")(flaky(99, []))
    seen: list[str] = []

    @hooks.on_dead_letter
    def broken(entry: InboxEntry) -> None:
        raise RuntimeError("pager down")

    @hooks.on_dead_letter
    async def alert(entry: InboxEntry) -> None:
        seen.append(entry.id)

    hooks.handle(kazoo_delivery())
    assert asyncio.run(InboxWorker(hooks).arun_once())
    assert len(seen) == 1  # the broken hook did not stop the next one


def test_duplicate_deliveries_are_handled_once(sqlite_inbox: SQLiteInbox) -> None:
    hooks = kazoo_receiver(sqlite_inbox)
    calls: list[int] = []
    hooks.on("wirecloud.channel_destroy")(flaky(0, calls))
    body = kazoo_body()
    for _ in range(3):  # Kazoo re-sends after a transport error
        assert hooks.handle(kazoo_delivery(body)).status == 200
    assert InboxWorker(hooks).run_until_idle() == 3
    assert calls == [1]
    assert [e.state for e in sqlite_inbox.list()] == [InboxState.DONE] * 3


def test_credentials_never_reach_the_inbox(sqlite_inbox: SQLiteInbox) -> None:
    hooks = Receiver(inbox=sqlite_inbox, worker=False)
    hooks.endpoint(KAZOO, providers.Wirecloud(basic_auth=[("kazoo", "s3cret")]))
    auth = ("authorization", "Basic a2F6b286czNjcmV0")
    delivery = kazoo_delivery(extra=(auth, ("cookie", "session=1")))
    assert hooks.handle(delivery).status == 200
    record = sqlite_inbox.get(sqlite_inbox.list()[0].id)
    assert record is not None
    assert {name for name, _ in record.headers} == {"content-type", "x-hook-id", "x-account-id"}
    assert record.body == delivery.body and record.client == "127.0.0.1"


def test_schema_drift_is_quarantined_then_handled_by_replay_once_the_model_accepts_it(
    sqlite_inbox: SQLiteInbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hooks = kazoo_receiver(sqlite_inbox)
    handled: list[float] = []

    @hooks.on("wirecloud.channel_destroy")
    def record_duration(event: Any, ctx: DeliveryContext) -> None:
        handled.append(event.ringing_seconds)

    # Tomorrow's Kazoo sends fractional ring times; today's model wants an integer.
    drifted = kazoo_body(ringing_seconds="0.5")
    with caplog.at_level(logging.WARNING, "hookreceiver"):
        response = hooks.handle(kazoo_delivery(drifted))
    # Kept in quarantine: Kazoo gets its 200 (six non-200 answers a minute disable the hook).
    assert (response.status, json.loads(response.body)) == (200, {"status": "quarantined"})
    (entry,) = sqlite_inbox.list(states=["quarantined"])
    assert entry.last_error is not None and "ringing_seconds" in entry.last_error
    assert entry.id in caplog.text
    assert replay(hooks, entry.id).state is InboxState.QUARANTINED  # still not accepted

    class Tomorrow(wirecloud.ChannelDestroy):
        ringing_seconds: float | None = None  # type: ignore[assignment]

    monkeypatch.setitem(wirecloud._MODELS, "channel_destroy", Tomorrow)
    results = replay_many(hooks)
    assert [(r.id, r.state) for r in results] == [(entry.id, InboxState.DONE)]
    assert handled == [0.5]
    assert replay_many(hooks) == []  # nothing left that needs attention


def test_sync_endpoints_quarantine_too_when_there_is_an_inbox(sqlite_inbox: SQLiteInbox) -> None:
    hooks = Receiver(inbox=sqlite_inbox, worker=False)
    endpoint = hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    assert endpoint.ack == "sync"
    bad = Delivery(
        "POST",
        "/hooks/faxplus",
        headers=Headers([("content-type", "application/json")]),
        peer="127.0.0.1",
        body=b'{"hook": {"id": "1", "event": "fax_sent", "event_time": "x"}, "data": {}}',
    )
    assert hooks.handle(bad).status == 400
    assert [e.state for e in sqlite_inbox.list()] == [InboxState.QUARANTINED]
    # An unverified sender's garbage is refused before the inbox: never stored.
    assert hooks.handle(Delivery("POST", "/hooks/faxplus", peer="198.51.100.7")).status == 403
    assert len(sqlite_inbox.list()) == 1


def test_strict_endpoints_quarantine_unknown_events(sqlite_inbox: SQLiteInbox) -> None:
    hooks = Receiver(inbox=sqlite_inbox, worker=False)
    hooks.endpoint(KAZOO, providers.Wirecloud(allow_ips=["127.0.0.1"], strict=True))
    response = hooks.handle(kazoo_delivery(kazoo_body("channel_transfer")))
    assert (response.status, json.loads(response.body)) == (200, {"status": "quarantined"})
    (entry,) = sqlite_inbox.list()
    assert entry.state is InboxState.QUARANTINED and "unknown_event" in (entry.last_error or "")
    # Another provider keeps its refusal: the 4xx is what its sender's retry rules want.
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"], strict=True))
    unknown = Delivery(
        "POST",
        "/hooks/faxplus",
        headers=Headers([("content-type", "application/json")]),
        peer="127.0.0.1",
        body=b'{"hook": {"id": "1", "event": "fax_teleported", "event_time": "x"}, "data": {}}',
    )
    assert hooks.handle(unknown).status == 422
    assert [e.state for e in sqlite_inbox.list()] == [InboxState.QUARANTINED] * 2


def test_force_runs_the_handlers_of_an_event_already_handled(sqlite_inbox: SQLiteInbox) -> None:
    hooks = kazoo_receiver(sqlite_inbox)
    calls: list[int] = []
    hooks.on("wirecloud.channel_destroy")(flaky(0, calls))
    hooks.handle(kazoo_delivery())
    InboxWorker(hooks).run_until_idle()
    (entry,) = sqlite_inbox.list()
    assert replay(hooks, entry.id).state is InboxState.DONE
    assert calls == [1]  # a duplicate: the dedup store said done
    assert asyncio.run(areplay(hooks, entry.id, force=True)).state is InboxState.DONE
    assert calls == [1, 1]
    assert replay(hooks, "no-such-id").detail == "no such delivery"


def test_a_busy_key_or_store_outage_is_retried_and_never_dead(
    sqlite_inbox: SQLiteInbox, clock: FakeClock
) -> None:
    class DownStore(MemoryStore):
        def claim(self, key: str, lease: float) -> Any:
            raise StoreUnavailable("redis is down")

    hooks = kazoo_receiver(sqlite_inbox, store=DownStore())
    hooks.handle(kazoo_delivery())
    worker = InboxWorker(hooks)
    for _ in range(7):  # more than max_attempts
        assert worker.run_once()
        clock.advance(3600)
    (entry,) = sqlite_inbox.list()
    assert (entry.state, entry.last_error) == (InboxState.PENDING, "the dedup store is unavailable")


def test_a_parser_crash_counts_as_an_attempt(
    sqlite_inbox: SQLiteInbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = kazoo_receiver(sqlite_inbox)
    hooks.handle(kazoo_delivery())

    def crash(*args: Any) -> Any:
        raise KeyError("bug")

    monkeypatch.setattr(wirecloud.Wirecloud, "parse", crash)
    assert InboxWorker(hooks).run_once()
    (entry,) = sqlite_inbox.list()
    assert (entry.state, entry.attempts, entry.last_error) == (
        InboxState.PENDING,
        1,
        "KeyError: 'bug'",
    )


def test_a_delivery_whose_endpoint_is_gone_is_quarantined(sqlite_inbox: SQLiteInbox) -> None:
    kazoo_receiver(sqlite_inbox).handle(kazoo_delivery())
    other = Receiver(inbox=sqlite_inbox, worker=False)
    assert InboxWorker(other).run_once()
    (entry,) = sqlite_inbox.list()
    assert entry.state is InboxState.QUARANTINED
    assert entry.last_error == "no endpoint /hooks/kazoo is configured"


def test_an_unavailable_inbox_falls_back_to_handling_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hooks = kazoo_receiver(SQLiteInbox(tmp_path / "missing-dir" / "inbox.db"))
    calls: list[int] = []
    hooks.on("*")(flaky(0, calls))
    response = hooks.handle(kazoo_delivery())
    assert (response.status, json.loads(response.body)) == (200, {"status": "handled"})
    assert calls == [1]
    assert "inbox unavailable" in caplog.text


def test_attachments_survive_the_inbox(sqlite_inbox: SQLiteInbox) -> None:
    from hookreceiver.testing.factories import documo

    hooks = Receiver(inbox=sqlite_inbox, worker=False)
    hooks.endpoint("/hooks/documo", providers.Documo(allow_ips=["127.0.0.1"]), ack="inbox")
    simulated = documo.fax_inbound(pages=2)
    assert simulated.attachment
    seen: list[tuple[str, bytes]] = []

    @hooks.on("documo.fax.inbound")
    async def fax_in(event: Any, ctx: DeliveryContext) -> None:
        seen.append((ctx.event_name, event.attachment.read()))

    delivery = simulated.to_delivery(path="/hooks/documo", peer="127.0.0.1")
    assert hooks.handle(delivery).status == 200
    assert asyncio.run(InboxWorker(hooks).arun_until_idle()) == 1
    assert seen == [("documo.fax.inbound", simulated.attachment)]


async def _accept_and_process(hooks: Receiver) -> int:
    response = await hooks.ahandle(kazoo_delivery())
    assert response.status == 200
    return await InboxWorker(hooks).arun_until_idle()


def test_the_async_path_accepts_and_processes(sqlite_inbox: SQLiteInbox) -> None:
    hooks = kazoo_receiver(sqlite_inbox)
    calls: list[int] = []
    hooks.on("*")(flaky(0, calls))
    assert asyncio.run(_accept_and_process(hooks)) == 1
    assert calls == [1]


def test_ack_modes_and_their_defaults(
    sqlite_inbox: SQLiteInbox, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "hookreceiver"):
        without = kazoo_receiver(None)
    assert without.match(KAZOO).endpoint.ack == "sync"  # type: ignore[union-attr]
    assert "never retries" in caplog.text and "Receiver(inbox=" in caplog.text
    calls: list[int] = []
    without.on("*")(flaky(1, calls))
    # Without an inbox a failure can only be answered: Kazoo gets its 200 and the event is lost.
    assert without.handle(kazoo_delivery()).status == 200

    hooks = Receiver(inbox=sqlite_inbox, worker=False)
    fax = providers.FaxPlus(allow_ips=["127.0.0.1"])
    assert hooks.endpoint("/a", fax).ack == "sync"
    assert hooks.endpoint("/b", fax, ack="inbox").ack == "inbox"
    kazoo = providers.Wirecloud(allow_ips=["127.0.0.1"])
    assert hooks.endpoint("/c", kazoo).ack == "inbox"
    assert hooks.endpoint("/d", kazoo, ack="sync").ack == "sync"
    with pytest.raises(ConfigurationError, match="needs Receiver"):
        Receiver().endpoint("/e", kazoo, ack="inbox")
    with pytest.raises(ConfigurationError, match="ack must be"):
        hooks.endpoint("/f", kazoo, ack="later")
    with pytest.raises(ConfigurationError, match="no inbox"):
        InboxWorker(Receiver())


def test_kazoo_form_fields_round_trip_through_the_inbox(sqlite_inbox: SQLiteInbox) -> None:
    hooks = kazoo_receiver(sqlite_inbox)
    seen: list[Any] = []
    hooks.on("wirecloud.channel_destroy")(lambda event, ctx: seen.append((event, ctx)))
    fields = kazoo_fields(**{"custom_channel_vars[owner]": "ops"})
    from urllib.parse import urlencode

    hooks.handle(kazoo_delivery(urlencode(fields).encode()))
    InboxWorker(hooks).run_until_idle()
    ((event, ctx),) = seen
    assert event.call_id == fields["call_id"] and event.custom_channel_vars == {"owner": "ops"}
    assert ctx.headers["x-hook-id"] == "hook-1" and ctx.client == "127.0.0.1"
    assert ctx.attempt == 1 and ctx.delivery_id == sqlite_inbox.list()[0].id


@pytest.mark.parametrize("where", ["path", "query"])
def test_a_signed_url_token_is_never_stored(
    sqlite_inbox: SQLiteInbox, clock: FakeClock, where: str
) -> None:
    from urllib.parse import urlsplit

    from hookreceiver.security import URLSigner

    template = "/hooks/kazoo/{event}/{token}" if where == "path" else "/hooks/kazoo/{event}"
    hooks = Receiver(inbox=sqlite_inbox, worker=False)
    hooks.endpoint(template, providers.Wirecloud(signed_urls=URLSigner("k" * 32)))
    seen: list[tuple[str, Any, dict[str, str]]] = []
    hooks.on("wirecloud.channel_destroy")(
        lambda event, ctx: seen.append((event.call_id, ctx.signed, dict(ctx.params)))
    )
    url = urlsplit(
        hooks.callback_url(
            template, event="channel_destroy", context={"job": 7}, base_url="http://h"
        )
    )
    token = url.path.rsplit("/", 1)[1] if where == "path" else url.query.split("token=")[1]
    assert len(token) > 20 and token in url.geturl()
    delivery = Delivery(
        "POST",
        url.path,
        url.query + "&x=1" if url.query else "x=1",
        headers=Headers(KAZOO_HEADERS),
        peer="203.0.113.5",
        body=kazoo_body(call_id="signed-1"),
    )
    assert hooks.handle(delivery).status == 200

    (entry,) = sqlite_inbox.list()
    record = sqlite_inbox.get(entry.id)
    assert record is not None
    stored = json.dumps(record.encode()[0]) + record.path + record.query + str(record.params)
    assert token not in stored and "***" in stored
    assert record.signed == {"job": 7}
    assert "x=1" in record.query and record.params["event"] == "channel_destroy"

    assert InboxWorker(hooks).run_once()
    assert seen == [("signed-1", {"job": 7}, seen[0][2])]
    assert token not in str(seen[0][2])
