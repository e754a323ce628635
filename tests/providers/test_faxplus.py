"""Fax.Plus: the conformance suite, plus its own quirks."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from hookreceiver import providers
from hookreceiver.providers import FaxEvent
from hookreceiver.providers.faxplus import FaxPageReceived, FaxReceived, FaxSent, FaxStatus

from .conformance import RETRYING_SENDER, Example, ProviderConformance, Sample, expect

PATH = "/hooks/faxplus"

# shared/providers/NOTES.md, Fax.Plus "Example [S]", verbatim.
DOC_EXAMPLE = (
    b'{"hook":{"id":"66df09cf1d6d0b295c363956","event":"fax_sent","event_time":"2024-09-09 '
    b'10:44:39","target":"https://webhook.com"},"data":{"id":"66df09cf1d6d0b295c363956","uid":'
    b'"490ae330dbc749f0b6561dafa300f2fb","pages":1,"from":"+1 334-304-xxxx","to":"+1 334-304-x'
    b'xxx","start_time":"2024-09-09 10:44:39","file":"1d0b618e4fb54957878eed0ecc64ae5e.tiff","f'
    b'ile_name":"fax-to-1334304xxxx","status":"success","cost":1}}'
)


def payload(event: str = "fax_received", **data: Any) -> dict[str, Any]:
    body = json.loads(DOC_EXAMPLE)
    body["hook"]["event"] = event
    body["data"].update(data)
    return body


def check_doc_example(event: FaxSent) -> None:
    assert event.hook.id == "66df09cf1d6d0b295c363956"
    assert event.hook.event_time == datetime(2024, 9, 9, 10, 44, 39, tzinfo=timezone.utc)
    assert event.data.start_time is not None and event.data.start_time.tzinfo is timezone.utc
    assert event.data.status is FaxStatus.SUCCESS
    assert event.data.from_number == "+1 334-304-xxxx"
    assert event.data.to_number == "+1 334-304-xxxx"
    assert event.data.pages == 1 and event.data.cost == 1
    assert not event.is_retry


def check_sent_view(view: FaxEvent) -> None:
    assert (view.provider, view.direction, view.status) == ("faxplus", "outbound", "success")
    assert view.fax_id == "66df09cf1d6d0b295c363956" and view.pages == 1
    assert view.ok and view.is_final


class TestFaxPlus(ProviderConformance):
    provider_class = providers.FaxPlus
    endpoint = PATH
    statuses = RETRYING_SENDER
    valid_event = "faxplus.fax_received"

    def valid(self) -> Sample:
        return Sample(PATH, payload())

    def examples(self) -> list[Example]:
        return [
            Example(
                "notes-fax-sent",
                Sample(PATH, raw=DOC_EXAMPLE),
                "faxplus.fax_sent",
                FaxSent,
                check_doc_example,
                "fax.sent",
                check_sent_view,
            ),
            Example(
                "fax-received",
                Sample(PATH, payload()),
                "faxplus.fax_received",
                FaxReceived,
                normalized="fax.received",
                check_normalized=lambda view: expect(view.direction == "inbound"),
            ),
            Example(
                "fax-page-received",
                Sample(PATH, payload("fax_page_received")),
                "faxplus.fax_page_received",
                FaxPageReceived,
                normalized="fax.progress",
            ),
        ]

    def transports(self) -> list[Example]:
        sdk = payload()
        sdk["data"]["from_number"] = sdk["data"].pop("from")
        sdk["data"]["to_number"] = sdk["data"].pop("to")

        def numbers(event: FaxReceived) -> None:
            assert event.data.from_number == event.data.to_number == "+1 334-304-xxxx"

        return [
            Example("json-docs-from-to", Sample(PATH, payload()), self.valid_event, FaxReceived),
            Example(
                "json-sdk-from_number", Sample(PATH, sdk), self.valid_event, FaxReceived, numbers
            ),
            Example(
                "json-charset",
                Sample(PATH, payload(), content_type="application/json; charset=utf-8"),
                self.valid_event,
                FaxReceived,
            ),
        ]

    def missing_field(self) -> tuple[Sample, str]:
        body = payload()
        del body["data"]["status"]
        return Sample(PATH, body), "status"

    def unknown_event(self) -> tuple[Sample, str]:
        return Sample(PATH, payload("fax_deleted")), "faxplus.fax_deleted"

    def unknown_status(self) -> tuple[Sample, Any, str]:
        sample = Sample(PATH, payload(status="failed_quantum_interference"))
        return sample, lambda event: event.data.status, "failed_quantum_interference"


def test_unknown_failure_status_is_normalized_as_failed() -> None:
    suite = TestFaxPlus()
    _, ctx = suite.parse_one(Sample(PATH, payload("fax_sent", status="failed_new_reason")))
    assert ctx.event.normalized is not None
    assert ctx.event.normalized.status == "failed"  # type: ignore[attr-defined]


def test_retried_fax_has_its_own_key_and_says_so() -> None:
    suite = TestFaxPlus()
    first = payload("fax_sent")
    retry = payload("fax_sent")
    retry["hook"]["id"] = "77aa00cf1d6d0b295c000001"
    recorder = suite.recorder()
    assert recorder.send(Sample(PATH, first)).status == 200
    assert recorder.send(Sample(PATH, retry)).status == 200
    (_, ctx1), (event2, ctx2) = recorder.calls
    assert ctx1.idempotency_key != ctx2.idempotency_key
    assert event2.is_retry


def test_missing_hook_names_hook() -> None:
    response = TestFaxPlus().recorder().send(Sample(PATH, {"data": {}}))
    assert response.status == 400
    assert "hook" in json.loads(response.body)["detail"]


def test_only_post() -> None:
    sample = replace(Sample(PATH, payload()), method="PUT")
    response = TestFaxPlus().recorder().send(sample)
    assert response.status == 405
    assert dict(response.headers)["allow"] == "POST"
