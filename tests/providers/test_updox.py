"""Updox: the conformance suite, plus events from the URL or from the payload's shape."""

from __future__ import annotations

from typing import Any

import pytest

from hookreceiver import Outcome, providers
from hookreceiver.providers.updox import (
    AccountStatus,
    InboundDirect,
    InboundFax,
    InboundMdn,
    MdnStatus,
    ModuleStatus,
    OutboundFax,
    OutboundFaxStatus,
)

from .conformance import Example, ProviderConformance, Sample, detail

ENDPOINT = "/hooks/updox/{event}"

#: DESIGN.md: Updox drops 4xx for good, so a failure of ours is never a 4xx.
UPDOX_STATUSES = {
    Outcome.HANDLED: 200,
    Outcome.DUPLICATE: 200,
    Outcome.IN_FLIGHT: 503,
    Outcome.HANDLER_FAILED: 503,
    Outcome.INVALID_PAYLOAD: 400,
    Outcome.STORE_UNAVAILABLE: 503,
    Outcome.RECEIVER_ERROR: 503,
}

# The payloads of updox.txt's event table as NOTES.md states them (the table's own JSON is
# garbled: `{ "faxId": 1, "": "accountId":""}`); ids are longs on current pages.
PAYLOADS: dict[str, dict[str, Any]] = {
    "inbound_fax": {"faxId": 1, "accountId": "1001"},
    "outbound_fax": {"faxId": 2, "accountId": "1001", "status": "success"},
    "inbound_direct": {"accountId": "1001", "userId": "drsmith", "messageId": 3},
    "inbound_mdn": {"messageId": 3, "mdnStatus": "processed"},
    "account_status": {"accountId": 1001, "active": True},
    "module_status": {"practiceId": 7, "moduleId": 12, "active": "false"},
}

MODELS = {
    "inbound_fax": InboundFax,
    "outbound_fax": OutboundFax,
    "inbound_direct": InboundDirect,
    "inbound_mdn": InboundMdn,
    "account_status": AccountStatus,
    "module_status": ModuleStatus,
}

NORMALIZED = {
    "inbound_fax": "fax.received",
    "outbound_fax": "fax.sent",
    "inbound_direct": "message.received",
    "inbound_mdn": "message.status",
    "account_status": None,
    "module_status": None,
}


def path(event: str) -> str:
    return f"/hooks/updox/{event}"


def check(event: str) -> Any:
    def verify(model: Any) -> None:
        if event in ("inbound_fax", "outbound_fax"):
            assert model.fax_id in ("1", "2")
        if event == "outbound_fax":
            assert model.status is OutboundFaxStatus.SUCCESS
        if event == "inbound_mdn":
            assert model.message_id == "3" and model.mdn_status is MdnStatus.PROCESSED
        if event == "account_status":
            assert model.account_id == "1001" and model.active is True
        if event == "module_status":
            assert (model.practice_id, model.module_id, model.active) == ("7", "12", False)

    return verify


class TestUpdox(ProviderConformance):
    provider_class = providers.Updox
    endpoint = ENDPOINT
    statuses = UPDOX_STATUSES
    valid_event = "updox.outbound_fax"

    def valid(self) -> Sample:
        return Sample(path("outbound_fax"), PAYLOADS["outbound_fax"])

    def examples(self) -> list[Example]:
        return [
            Example(
                event,
                Sample(path(event), payload),
                f"updox.{event}",
                MODELS[event],
                check(event),
                NORMALIZED[event],
            )
            for event, payload in PAYLOADS.items()
        ]

    def transports(self) -> list[Example]:
        strings = {"faxId": "2", "accountId": "1001", "status": "success"}
        return [
            Example("json-per-event-url", self.valid(), self.valid_event, OutboundFax),
            Example(
                "json-string-ids",
                Sample(path("outbound_fax"), strings),
                self.valid_event,
                OutboundFax,
            ),
        ]

    def missing_field(self) -> tuple[Sample, str]:
        return Sample(path("outbound_fax"), {"faxId": 2, "accountId": "1001"}), "status"

    def unknown_event(self) -> tuple[Sample, str]:
        return Sample(path("outbound_sms"), {"smsId": 5}), "updox.outbound_sms"

    def unknown_status(self) -> tuple[Sample, Any, str]:
        payload = {"faxId": 2, "accountId": "1001", "status": "no_answer"}
        return Sample(path("outbound_fax"), payload), lambda e: e.status, "no_answer"


class TestUpdoxOneUrl(TestUpdox):
    """One callback URL for every event: the event comes from the payload's shape."""

    endpoint = "/hooks/updox"

    def valid(self) -> Sample:
        return Sample(self.endpoint, PAYLOADS["outbound_fax"])

    def examples(self) -> list[Example]:
        return [
            Example(
                f"shape-{event}",
                Sample(self.endpoint, payload),
                f"updox.{event}",
                MODELS[event],
                check(event),
                NORMALIZED[event],
            )
            for event, payload in PAYLOADS.items()
        ]

    def transports(self) -> list[Example]:
        return [Example("json-one-url", self.valid(), self.valid_event, OutboundFax)]

    def missing_field(self) -> tuple[Sample, str]:
        # With one URL, a fax payload without status is an inbound fax; an MDN without its
        # message id still names the field.
        return Sample(self.endpoint, {"mdnStatus": "failed"}), "messageId"

    def unknown_event(self) -> tuple[Sample, str]:
        return Sample(self.endpoint, {"smsId": 5}), "updox.unknown"

    def unknown_status(self) -> tuple[Sample, Any, str]:
        payload = {"messageId": 3, "mdnStatus": "quarantined"}
        return Sample(self.endpoint, payload), lambda e: e.mdn_status, "quarantined"


@pytest.mark.parametrize(
    ("status", "normalized", "name"),
    [
        ("success", "success", "fax.sent"),
        ("failure", "failed", "fax.sent"),
        ("busy", "failed", "fax.sent"),
        ("cancelled", "cancelled", "fax.sent"),
        ("received", "in_progress", "fax.progress"),
        ("carrier_rejected", "unknown", "fax.sent"),
    ],
)
def test_outbound_fax_normalized_status(status: str, normalized: str, name: str) -> None:
    payload = {"faxId": 2, "status": status}
    _, ctx = TestUpdox().parse_one(Sample(path("outbound_fax"), payload))
    view = ctx.event.normalized
    assert view is not None and ctx.event.normalized_name == name
    assert (view.status, view.provider_status) == (normalized, status)  # type: ignore[attr-defined]


def test_keys_follow_notes() -> None:
    recorder = TestUpdox().recorder()
    for event, payload in PAYLOADS.items():
        assert recorder.send(Sample(path(event), payload)).status == 200
    keys = [ctx.idempotency_key for _, ctx in recorder.calls]
    assert keys == [
        "updox:inbound_fax:1",
        "updox:outbound_fax:2:success",
        "updox:inbound_direct:3",
        "updox:inbound_mdn:3:processed",
        "updox:account_status:1001:True",
        "updox:module_status:7:12:False",
    ]


def test_outbound_status_change_is_a_new_event() -> None:
    recorder = TestUpdox().recorder()
    for status in ("received", "success", "success"):
        recorder.send(Sample(path("outbound_fax"), {"faxId": 9, "status": status}))
    assert [event.status for event, _ in recorder.calls] == ["received", "success"]


def test_url_event_wins_over_shape_and_missing_field_is_400_not_misread() -> None:
    response = TestUpdox().recorder().send(Sample(path("inbound_mdn"), {"messageId": 3}))
    assert response.status == 400
    assert "mdnStatus" in detail(response)["detail"]
