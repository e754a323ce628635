"""What inbox entries say: a quarantined row keeps a known event name; a dead letter is final."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from inbox_support import FakeClock, kazoo_body, kazoo_delivery, kazoo_receiver

from hookreceiver import DeliveryContext, Receiver, providers
from hookreceiver.inbox import InboxEntry, InboxState, InboxWorker, Retry, SQLiteInbox, replay
from hookreceiver.inbox.cli import inbox as inbox_command
from hookreceiver.testing import WebhookClient, make

# Per provider: an event whose payload names it (or whose URL does), sent with one field its
# model refuses. The provider found the name before validation failed: the row keeps it.
INVALID = [
    ("documo", "fax.inbound", {"pagesCount": "many"}, "documo.fax.inbound"),
    ("faxplus", "fax_sent", {"pages": "many"}, "faxplus.fax_sent"),
    ("updox", "inbound_fax", {"faxId": {"not": "an id"}}, "updox.inbound_fax"),
    ("wirecloud", "channel_create", {"timestamp": "soon"}, "wirecloud.channel_create"),
    ("zipwhip", "receive", {"id": "abc"}, "zipwhip.message.receive"),
]


def _nested(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        *parents, leaf = key.split(".")
        node = out
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return out


@pytest.fixture
def five(sqlite_inbox: SQLiteInbox) -> Receiver:
    hooks = Receiver(inbox=sqlite_inbox, worker=False)
    allow = {"allow_ips": ["127.0.0.1"]}
    hooks.endpoint("/hooks/documo/{event}", providers.Documo(**allow))
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(**allow))
    hooks.endpoint("/hooks/updox/{event}", providers.Updox(**allow))
    hooks.endpoint("/hooks/wirecloud", providers.Wirecloud(**allow))
    hooks.endpoint("/hooks/zipwhip/{event}", providers.Zipwhip(**allow))
    return hooks


@pytest.mark.parametrize(("provider", "event", "fields", "name"), INVALID)
def test_a_quarantined_invalid_payload_keeps_its_event_name(
    five: Receiver,
    sqlite_inbox: SQLiteInbox,
    provider: str,
    event: str,
    fields: dict[str, Any],
    name: str,
) -> None:
    delivery = make(provider, event, **_nested(fields))
    result = WebhookClient(five).send(delivery, peer="127.0.0.1")
    assert result.status in (200, 400), result.body  # Kazoo's answer is its own policy
    (entry,) = sqlite_inbox.list()
    assert entry.state is InboxState.QUARANTINED
    assert entry.last_error is not None and "invalid_payload" in entry.last_error
    assert entry.event_name == name
    assert [e.id for e in sqlite_inbox.list(event=name)] == [entry.id]
    assert [e.id for e in sqlite_inbox.list(event=f"{provider}.*")] == [entry.id]
    # Replayed and still refused: it keeps its name.
    assert replay(five, entry.id).state is InboxState.QUARANTINED
    assert sqlite_inbox.list(event=name)[0].event_name == name


def test_unknown_events_keep_their_name_and_undecodable_bodies_have_none(
    sqlite_inbox: SQLiteInbox,
) -> None:
    hooks = Receiver(inbox=sqlite_inbox, worker=False)
    hooks.endpoint("/hooks/kazoo", providers.Wirecloud(allow_ips=["127.0.0.1"], strict=True))
    hooks.handle(kazoo_delivery(kazoo_body("channel_transfer")))
    hooks.handle(kazoo_delivery(b"%zz=&&="))  # not a form Kazoo sends: no name to keep
    hooks.handle(kazoo_delivery(b'{"hook_event": "channel_create"'))
    names = [(e.state, e.event_name) for e in sqlite_inbox.list()]
    assert names[0] == (InboxState.QUARANTINED, "wirecloud.channel_transfer")
    assert all(state is InboxState.QUARANTINED for state, _ in names)


def test_inbox_list_event_selects_quarantined_rows(
    sqlite_inbox: SQLiteInbox, tmp_path: Path
) -> None:
    hooks = kazoo_receiver(sqlite_inbox)
    hooks.handle(kazoo_delivery(kazoo_body(ringing_seconds="soon")))
    hooks.handle(kazoo_delivery(kazoo_body("channel_create")))
    url = f"sqlite:///{tmp_path / 'inbox.db'}"
    args = ["--inbox", url, "list", "--event", "wirecloud.channel_destroy", "--json"]
    result = CliRunner().invoke(inbox_command, args)
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    listed = json.loads(line)
    assert (listed["state"], listed["event"]) == ("quarantined", "wirecloud.channel_destroy")


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_on_dead_letter_sees_the_final_entry(tmp_path: Path, flavour: str) -> None:
    clock = FakeClock()
    box = SQLiteInbox(tmp_path / "inbox.db", clock=clock, retry=Retry(max_attempts=2), lease=60)
    hooks = kazoo_receiver(box)
    letters: list[InboxEntry] = []
    hooks.on_dead_letter(letters.append)

    @hooks.on("wirecloud.channel_destroy")
    def slow_and_failing(event: Any, ctx: DeliveryContext) -> None:
        clock.advance(7)  # the attempt takes a while: its end is not its start
        raise RuntimeError(f"downstream down ({ctx.attempt})")

    hooks.handle(kazoo_delivery())
    worker = InboxWorker(hooks)

    def attempt() -> bool:
        return worker.run_once() if flavour == "sync" else asyncio.run(worker.arun_once())

    assert attempt()
    clock.advance(3600)
    assert attempt()
    (stored,) = box.list()
    assert stored.state is InboxState.FAILED and stored.attempts == 2
    (letter,) = letters
    assert letter.summary() == stored.summary()
    assert letter.updated_at == clock.now  # when the last attempt ended
    box.close()
