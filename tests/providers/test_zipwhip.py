"""Zipwhip: the conformance suite, plus the event from the URL and exact 64-bit ids."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest

from hookreceiver import ConfigurationError, Receiver, providers
from hookreceiver.providers import MessageEvent
from hookreceiver.providers.zipwhip import (
    MessageDelete,
    MessageProgress,
    MessageRead,
    MessageReceive,
    MessageSend,
    MessageType,
    OptOutChange,
    StatusCode,
)

from .conformance import RETRYING_SENDER, Example, ProviderConformance, Sample, detail, expect

ENDPOINT = "/hooks/zipwhip/{event}"

# zipwhip.md, "Example Payload", verbatim (its line breaks and indentation included).
DOC_EXAMPLE = b"""{  
  "body":"Thanks for texting, this is an auto reply!",
  "bodySize":42,
  "visible":true,
  "hasAttachment":false,
  "dateRead":null,
  "bcc":null,
  "finalDestination":"4257772300",
  "messageType":"MO",
  "deleted":false,
  "statusCode":4,
  "id":634151298329219072,
  "scheduledDate":null,
  "fingerprint":"132131532",
  "messageTransport":9,
  "contactId":3382213402,
  "address":"ptn:/4257772222",
  "read":false,
  "dateCreated":"2015-08-19T16:53:45-07:00",
  "dateDeleted":null,
  "dateDelivered":null,
  "cc":null,
  "finalSource":"4257772222",
  "deviceId":299538202
}"""

#: NOTES.md: ids above 2**53 (a float would round this one).
BIG_ID = 1327295480212647936


def message(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(DOC_EXAMPLE)
    body.update(changes)
    return body


def path(event: str) -> str:
    return f"/hooks/zipwhip/{event}"


def check_doc_example(event: MessageReceive) -> None:
    assert event.id == 634151298329219072 and isinstance(event.id, int)
    assert event.contact_id == 3382213402 and event.device_id == 299538202
    assert event.message_type is MessageType.MO
    assert event.status_code is StatusCode.DELIVERED_CONFIRMED
    assert event.date_created == datetime(2015, 8, 19, 23, 53, 45, tzinfo=timezone.utc)
    assert event.date_read is None and event.body_size == 42 and event.visible is True
    assert event.final_source == "4257772222" and event.final_destination == "4257772300"


def check_received_view(view: MessageEvent) -> None:
    assert (view.provider, view.direction, view.status) == ("zipwhip", "inbound", "received")
    assert view.message_id == "634151298329219072"
    assert (view.from_address, view.to_address) == ("4257772222", "4257772300")
    assert view.body == "Thanks for texting, this is an auto reply!"


def check_big_id(event: MessageReceive) -> None:
    assert event.id == BIG_ID


class TestZipwhip(ProviderConformance):
    provider_class = providers.Zipwhip
    endpoint = ENDPOINT
    statuses = RETRYING_SENDER
    valid_event = "zipwhip.message.receive"

    def valid(self) -> Sample:
        return Sample(path("receive"), message(id=BIG_ID))

    def examples(self) -> list[Example]:
        send = message(messageType="MT", statusCode=1, messageStatus=1003)
        return [
            Example(
                "doc-receive",
                Sample(path("receive"), raw=DOC_EXAMPLE),
                "zipwhip.message.receive",
                MessageReceive,
                check_doc_example,
                "message.received",
                check_received_view,
            ),
            Example(
                "send",
                Sample(path("send"), send),
                "zipwhip.message.send",
                MessageSend,
                lambda e: expect(e.message_status == 1003),
                "message.sent",
                lambda v: expect((v.direction, v.status) == ("outbound", "pending")),
            ),
            Example(
                "progress",
                Sample(path("progress"), message(messageType="MT", statusCode=7)),
                "zipwhip.message.progress",
                MessageProgress,
                normalized="message.status",
                check_normalized=lambda v: expect(v.status == "failed"),
            ),
            Example(
                "read",
                Sample(path("read"), message()),
                "zipwhip.message.read",
                MessageRead,
                normalized="message.read",
            ),
            Example(
                "delete",
                Sample(path("delete"), message()),
                "zipwhip.message.delete",
                MessageDelete,
                normalized="message.deleted",
            ),
            Example(
                "optout-change",
                Sample(path("optout"), {"address": "ptn:/4257772222", "optOut": True}),
                "zipwhip.optout.change",
                OptOutChange,
                lambda e: expect(e.model_extra["optOut"] is True),
            ),
        ]

    def transports(self) -> list[Example]:
        body = message(id=BIG_ID)
        return [
            Example(
                "post-json-charset",
                Sample(path("receive"), body, content_type="application/json;charset=UTF-8"),
                self.valid_event,
                MessageReceive,
                check_big_id,
            ),
            Example(
                "put-json",
                Sample(path("receive"), body, method="PUT"),
                self.valid_event,
                MessageReceive,
                check_big_id,
            ),
            Example(
                "get-json-body",
                Sample(path("receive"), body, method="GET"),
                self.valid_event,
                MessageReceive,
                check_big_id,
            ),
            Example(
                "get-query-string",
                Sample(path("receive"), body, transport="query", method="GET"),
                self.valid_event,
                MessageReceive,
                check_big_id,
            ),
        ]

    def missing_field(self) -> tuple[Sample, str]:
        body = message()
        del body["id"]
        return Sample(path("receive"), body), "id"

    def unknown_event(self) -> tuple[Sample, str]:
        return Sample(path("reaction"), message()), "zipwhip.reaction"

    def unknown_status(self) -> tuple[Sample, Any, int]:
        sample = Sample(path("progress"), message(statusCode=-999))
        return sample, lambda event: event.status_code, -999


def test_float_id_is_refused_rather_than_rounded() -> None:
    raw = DOC_EXAMPLE.replace(b"634151298329219072", b"1.327295480212648e18")
    response = TestZipwhip().recorder().send(Sample(path("receive"), raw=raw))
    assert response.status == 400
    assert "id" in detail(response)["detail"]


def test_progress_key_includes_status_code() -> None:
    suite = TestZipwhip()
    recorder = suite.recorder()
    for code in (1, 4, 4):
        recorder.send(Sample(path("progress"), message(statusCode=code)))
    keys = [ctx.idempotency_key for _, ctx in recorder.calls]
    assert keys == [
        "zipwhip:message.progress:634151298329219072:1",
        "zipwhip:message.progress:634151298329219072:4",
    ]


@pytest.mark.parametrize("segment", ["..", ".", "a" * 80, "rec%eive", "<script>"])
def test_tricky_url_segment_is_404_not_a_crash(segment: str) -> None:
    recorder = TestZipwhip().recorder()
    response = recorder.send(Sample(path(segment), message()))
    assert response.status == 404
    assert detail(response)["error"] == "unknown_event_path"
    assert recorder.calls == []


@pytest.mark.parametrize("segment", ["optout change", "optout_change", "OptOut-Change"])
def test_optout_segment_spellings(segment: str) -> None:
    _, ctx = TestZipwhip().parse_one(Sample(path(segment), {"address": "ptn:/1"}))
    assert ctx.event_name == "zipwhip.optout.change"


def test_fixed_event_endpoint_and_path_without_event_refused() -> None:
    hooks = Receiver()
    with pytest.raises(ConfigurationError, match="event"):
        hooks.endpoint("/hooks/zipwhip", providers.Zipwhip())
    with pytest.raises(ConfigurationError, match="no event"):
        providers.Zipwhip(event="teleport")
    hooks.endpoint("/hooks/zw-receive", providers.Zipwhip(event="receive", allow_ips=["127.0.0.1"]))
    seen: list[str] = []
    hooks.on("zipwhip.message.receive")(lambda event, ctx: seen.append(ctx.event_name))
    assert hooks.handle(Sample("/hooks/zw-receive", message()).delivery()).status == 200
    assert seen == ["zipwhip.message.receive"]


def test_get_without_body_or_query_is_400() -> None:
    sample = replace(Sample(path("receive"), transport="query", method="GET"), raw=b"")
    response = TestZipwhip().recorder().send(sample)
    assert response.status == 400
