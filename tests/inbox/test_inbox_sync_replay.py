"""Sync deliveries recorded in the inbox replay the payload that was received, or not at all:
the method and query string are kept (a Kazoo GET carries its event in the query), and a
multipart fax whose file bytes were not kept is refused by every replay. Both backends."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner
from inbox_support import kazoo_fields

from hookreceiver import Delivery, Headers, Receiver, providers
from hookreceiver.cli import main
from hookreceiver.inbox import Inbox, InboxRecord, InboxState, SQLiteInbox
from hookreceiver.inbox.feed import record_from_json, record_to_json
from hookreceiver.inbox.recorder import SyncRecorder
from hookreceiver.inbox.replay import areplay, replay, replay_many
from hookreceiver.testing.forward import Forwarder, InboxSource

BOUNDARY = "----syncRecorderBoundary0123"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
HOOK = (("x-hook-id", "hook-1"), ("x-account-id", "acct-1"))
DOCUMO = {
    "messageId": "d7afa15d-a79-b013-18ec9c846ef3",
    "deliveryId": "2210514133330175",
    "messageNumber": "1436823",
    "status": "success",
    "pagesCount": 1,
    "faxNumber": "+18332394039",
    "faxCallerId": "702422",
    "direction": "inbound",
    "resultCode": "0",
    "createdAt": "2021-05-14T13:34:30.000Z",
    "accountId": "efaa36f7-d9a0-43aa-0cb1114eea0c",
}


def documo_multipart() -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="data"\r\n\r\n'.encode()
        + json.dumps(DOCUMO).encode()
        + f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="attachment"; '
        'filename="fax.pdf"\r\nContent-Type: application/pdf\r\n\r\n'.encode()
        + PDF
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


class Sync:
    """A receiver answering in sync mode with an inbox; what its handlers were given."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.hooks = Receiver(inbox=inbox, worker=False)
        self.hooks.endpoint(
            "/hooks/kazoo", providers.Wirecloud(allow_ips=["127.0.0.1"]), ack="sync"
        )
        self.hooks.endpoint("/hooks/documo", providers.Documo(allow_ips=["127.0.0.1"]), ack="sync")
        self.seen: list[tuple[str, Any, list[bytes]]] = []

        @self.hooks.on("*")
        def handle(event: Any, ctx: Any) -> None:
            files = [a.read() for a in ctx.attachments]
            self.seen.append((ctx.event_name, event.model_dump(mode="json"), files))

        self.recorder = next(o for o in self.hooks.observers if isinstance(o, SyncRecorder))

    def send(self, delivery: Delivery) -> InboxRecord:
        """Deliver live, write the recorder's queue, return the record."""
        assert self.hooks.handle(delivery).status == 200
        assert self.recorder.flush() == 1
        entries = self.inbox.search().entries
        kept = self.inbox.get(entries[0].id)
        assert kept is not None and kept.state is InboxState.DONE
        return kept


def test_a_sync_multipart_fax_without_its_bytes_is_never_replayed(inbox: Inbox) -> None:
    sync = Sync(inbox)
    delivery = Delivery(
        "POST",
        "/hooks/documo",
        headers=Headers([("content-type", f"multipart/form-data; boundary={BOUNDARY}")]),
        peer="127.0.0.1",
        body=documo_multipart(),
    )
    record = sync.send(delivery)
    assert len(sync.seen) == 1 and sync.seen[0][2] == [PDF]
    assert record.not_replayable and "not kept" in record.not_replayable
    assert record.fields == {"data": json.dumps(DOCUMO)}  # the form fields were at hand

    refused = replay(sync.hooks, record.id, force=True)
    assert refused.state is None and refused.detail == record.not_replayable
    refused = asyncio.run(areplay(sync.hooks, record.id, force=True))
    assert refused.state is None and refused.detail == record.not_replayable
    many = replay_many(sync.hooks, states=(InboxState.DONE,), force=True)
    assert [(r.id, r.state) for r in many] == [(record.id, None)]
    assert len(sync.seen) == 1  # the handler never saw an empty PDF
    after = inbox.get(record.id)
    assert after is not None and after.state is InboxState.DONE

    # Requeued anyway (the console's bulk replay, ``inbox requeue``): the worker refuses too.
    assert inbox.requeue([record.id]) == 1
    from hookreceiver.inbox.process import new_token, process_sync

    taken = inbox.take_id(new_token(), record.id)
    assert taken is not None
    assert process_sync(sync.hooks, taken, taken.lock_token or "") is InboxState.DONE
    assert len(sync.seen) == 1
    done = inbox.get(record.id)
    assert done is not None and done.state is InboxState.DONE
    assert done.last_error is not None and "not replayed" in done.last_error


def test_a_sync_get_with_its_event_in_the_query_replays_the_same_event(inbox: Inbox) -> None:
    sync = Sync(inbox)
    fields = kazoo_fields(call_id="call-in-query", token="s3cr3t")
    delivery = Delivery(
        "GET", "/hooks/kazoo", urlencode(fields), headers=Headers(HOOK), peer="127.0.0.1"
    )
    record = sync.send(delivery)
    assert record.method == "GET" and "call_id=call-in-query" in record.query
    assert record.not_replayable is None

    result = replay(sync.hooks, record.id, force=True)
    assert result.state is InboxState.DONE, result
    assert len(sync.seen) == 2 and sync.seen[1] == sync.seen[0]
    assert sync.seen[1][1]["call_id"] == "call-in-query"


def test_a_sync_json_delivery_replays(inbox: Inbox) -> None:
    sync = Sync(inbox)
    body = json.dumps(kazoo_fields(call_id="call-json")).encode()
    delivery = Delivery(
        "POST",
        "/hooks/kazoo",
        headers=Headers([("content-type", "application/json"), *HOOK]),
        peer="127.0.0.1",
        body=body,
    )
    record = sync.send(delivery)
    assert record.body == body and record.not_replayable is None
    assert replay(sync.hooks, record.id).state is InboxState.DONE  # a duplicate: not again
    assert len(sync.seen) == 1
    assert replay(sync.hooks, record.id, force=True).state is InboxState.DONE
    assert len(sync.seen) == 2 and sync.seen[1] == sync.seen[0]


def test_the_flag_survives_the_storage_encoding() -> None:
    record = InboxRecord(
        id="x",
        state=InboxState.DONE,
        endpoint="/e",
        provider="documo",
        event_name=None,
        key=None,
        received_at=0.0,
        updated_at=0.0,
        attempts=1,
        next_attempt_at=0.0,
        last_error=None,
        size=0,
        not_replayable="its files were not kept",
    )
    meta, payload = record.encode()
    assert json.loads(meta)["not_replayable"] == "its files were not kept"
    assert InboxRecord.decode(record.entry(), meta, payload).not_replayable == record.not_replayable
    record.not_replayable = None
    assert "not_replayable" not in json.loads(record.encode()[0])


def test_forward_feed_and_export_never_send_a_fax_without_its_bytes(
    sqlite_inbox: SQLiteInbox, tmp_path: Path
) -> None:
    sync = Sync(sqlite_inbox)
    delivery = Delivery(
        "POST",
        "/hooks/documo",
        headers=Headers([("content-type", f"multipart/form-data; boundary={BOUNDARY}")]),
        peer="127.0.0.1",
        body=documo_multipart(),
    )
    record = sync.send(delivery)
    assert record.not_replayable is not None
    through_feed = record_from_json(json.loads(json.dumps(record_to_json(record))))
    assert through_feed.not_replayable == record.not_replayable
    with socket.socket() as listener:  # a local app that would see a connection
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        sent = Forwarder(InboxSource(sqlite_inbox), f"http://127.0.0.1:{port}").forward(
            through_feed
        )
        assert sent.status is None and sent.error is not None
        assert sent.error.startswith("not forwarded") and "not kept" in sent.error
        with pytest.raises(TimeoutError):
            listener.accept()
    exported = CliRunner().invoke(
        main,
        ["inbox", "--inbox", f"sqlite:///{tmp_path / 'inbox.db'}", "export", record.id]
        + ["--as-test", "-o", "-"],
    )
    assert exported.exit_code != 0 and "cannot be replayed" in exported.output
