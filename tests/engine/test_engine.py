"""The engine: typed effects and their drivers, one dispatch, the report and its observers."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from hookreceiver import Delivery, DeliveryContext, Headers, Outcome, Receiver, providers
from hookreceiver.engine import (
    INTERNAL_ERROR,
    NOT_FOUND,
    DeliveryReport,
    Effect,
    adispatch,
    dispatch,
    drive_async,
    drive_sync,
    perform,
)
from hookreceiver.stores import Claim, MemoryStore
from support.payloads import faxplus_delivery, faxplus_payload

KAZOO_FORM = (
    "account_id=91eb05e5c68d7ca05e7618b6821d2d16&call_direction=inbound&call_id=call-{n}"
    "&caller_id_number=%2B15556783945&hook_event=channel_destroy&timestamp=63724349409"
    "&hangup_cause=NORMAL_CLEARING&duration_seconds=6"
)


def kazoo_delivery(body: bytes = KAZOO_FORM.format(n=1).encode()) -> Delivery:
    headers = (("content-type", "application/x-www-form-urlencoded"), ("x-hook-id", "hook-1"))
    return Delivery("POST", "/hooks/kazoo", headers=Headers(headers), peer="127.0.0.1", body=body)


def kazoo_receiver(inbox: Any) -> Receiver:
    hooks = Receiver(inbox=inbox, worker=False)
    hooks.endpoint("/hooks/kazoo", providers.Wirecloud(allow_ips=["127.0.0.1"]))
    return hooks


class Double(Effect[int]):
    """An effect whose blocking and async ways differ, to see which one a driver took."""

    __slots__ = ("value", "nonblocking")

    def __init__(self, value: int, inline: bool = False) -> None:
        self.value = value
        self.nonblocking = inline

    def run(self) -> int:
        return self.value * 2

    async def arun(self) -> int:
        return self.value * 3


class Fails(Effect[int]):
    __slots__ = ()

    def run(self) -> int:
        raise KeyError("boom")

    async def arun(self) -> int:
        raise KeyError("boom")


def flow(inline: bool = False) -> Generator[Effect[Any], None, tuple[int, str]]:
    doubled = yield from perform(Double(5, inline))
    try:
        yield from perform(Fails())
    except KeyError as exc:  # the driver throws an effect's exception back into the flow
        return doubled, str(exc)
    return doubled, "no error"


def test_the_sync_driver_runs_effects_and_throws_their_errors_back() -> None:
    assert drive_sync(flow()) == (10, "'boom'")


def test_the_async_driver_awaits_effects_unless_they_do_no_io() -> None:
    assert asyncio.run(drive_async(flow())) == (15, "'boom'")
    assert asyncio.run(drive_async(flow(inline=True))) == (10, "'boom'")


class Recorder:
    def __init__(self) -> None:
        self.reports: list[DeliveryReport] = []

    def on_report(self, report: DeliveryReport) -> None:
        self.reports.append(report)


def faxplus_receiver(**options: Any) -> Receiver:
    hooks = Receiver(**options)
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    return hooks


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_every_delivery_gets_a_report_that_observers_hear_of(flavour: str) -> None:
    hooks = faxplus_receiver()
    seen = hooks.add_observer(Recorder())
    hooks.on("*")(lambda event, ctx: None)

    def send(delivery: Delivery) -> DeliveryReport:
        if flavour == "sync":
            return dispatch(hooks, delivery)
        return asyncio.run(adispatch(hooks, delivery))

    payload = faxplus_payload(hook_id="r1")
    handled = send(faxplus_delivery(payload))
    duplicate = send(faxplus_delivery(payload))
    refused = send(faxplus_delivery(payload, peer="203.0.113.9"))
    missing = send(Delivery("POST", "/nowhere", peer="127.0.0.1"))
    assert seen.reports == [handled, duplicate, refused, missing]
    assert (handled.outcome, handled.response.status, handled.code) == (
        Outcome.HANDLED,
        200,
        "handled",
    )
    assert isinstance(handled.context, DeliveryContext)
    assert handled.context.idempotency_key == "faxplus:fax_received:r1"
    assert (handled.endpoint, handled.provider) == ("/hooks/faxplus", "faxplus")
    assert handled.delivery_id == handled.context.delivery_id
    assert handled.duration >= 0 and handled.started > 0 and handled.source == "http"
    assert duplicate.outcome is Outcome.DUPLICATE
    assert (refused.outcome, refused.response.status) == (Outcome.REJECTED, 403)
    assert refused.code == json.loads(refused.response.body)["error"]
    assert refused.context is None and refused.error is not None
    assert (missing.response, missing.endpoint) == (NOT_FOUND, None)


def test_a_failed_handler_is_in_the_report() -> None:
    hooks = faxplus_receiver()
    boom = RuntimeError("downstream down")

    @hooks.on("*")
    def fail(event: Any, ctx: DeliveryContext) -> None:
        raise boom

    report = dispatch(hooks, faxplus_delivery(faxplus_payload()))
    assert (report.outcome, report.error, report.response.status) == (
        Outcome.HANDLER_FAILED,
        boom,
        500,
    )


class BrokenStore(MemoryStore):
    def claim(self, key: str, lease: float) -> Claim:
        raise ZeroDivisionError("a bug, not an outage")


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_the_last_resort_500_is_a_report_too(
    flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    hooks = faxplus_receiver(store=BrokenStore())
    seen = hooks.add_observer(Recorder())
    delivery = faxplus_delivery(faxplus_payload())
    if flavour == "sync":
        response = hooks.handle(delivery)
    else:
        response = asyncio.run(hooks.ahandle(delivery))
    assert response == INTERNAL_ERROR
    (report,) = seen.reports
    assert report.outcome is Outcome.RECEIVER_ERROR
    assert isinstance(report.error, ZeroDivisionError)
    assert "unexpected error handling POST /hooks/faxplus" in caplog.text


class Raises:
    def on_report(self, report: DeliveryReport) -> None:
        raise RuntimeError("observer bug")


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_an_observer_that_raises_is_logged_and_changes_nothing(
    flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    hooks = faxplus_receiver()
    hooks.add_observer(Raises())
    after = hooks.add_observer(Recorder())
    ran: list[str] = []
    hooks.on("*")(lambda event, ctx: ran.append(ctx.event_name))
    delivery = faxplus_delivery(faxplus_payload())
    if flavour == "sync":
        response = hooks.handle(delivery)
    else:
        response = asyncio.run(hooks.ahandle(delivery))
    assert response.status == 200 and json.loads(response.body) == {"status": "handled"}
    assert ran == ["faxplus.fax_received"]
    assert [r.outcome for r in after.reports] == [Outcome.HANDLED]
    assert "observer" in caplog.text and "observer bug" in caplog.text


def test_the_event_log_is_the_first_observer(caplog: pytest.LogCaptureFixture) -> None:
    hooks = faxplus_receiver()
    assert len(hooks.observers) == 1
    assert faxplus_receiver(log_events=False).observers == []
    with caplog.at_level(logging.INFO, logger="hookreceiver.events"):
        report = dispatch(hooks, faxplus_delivery(faxplus_payload()))
    lines = [json.loads(r.message) for r in caplog.records if r.name == "hookreceiver.events"]
    assert report.context is not None
    assert lines == [
        {
            "event": "faxplus.fax_received",
            "provider": "faxplus",
            "idempotency_key": report.context.idempotency_key,
            "delivery_id": report.delivery_id,
        }
    ]


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_inbox_processing_reports_to_the_observers(tmp_path: Path, flavour: str) -> None:
    from hookreceiver.inbox import InboxWorker, SQLiteInbox

    hooks = kazoo_receiver(SQLiteInbox(tmp_path / "inbox.db"))
    seen = hooks.add_observer(Recorder())
    hooks.on("*")(lambda event, ctx: None)
    accepted = dispatch(hooks, kazoo_delivery())
    assert accepted.outcome is Outcome.ACCEPTED and accepted.source == "http"
    worker = InboxWorker(hooks)
    assert worker.run_once() if flavour == "sync" else asyncio.run(worker.arun_once())
    first, processed = seen.reports
    assert first is accepted
    assert (processed.outcome, processed.source) == (Outcome.HANDLED, "inbox")
    assert processed.context is not None and processed.context.attempt == 1
    assert processed.endpoint == "/hooks/kazoo" and processed.provider == "wirecloud"


def test_inbox_quarantine_is_reported(tmp_path: Path) -> None:
    from hookreceiver.inbox import SQLiteInbox

    hooks = kazoo_receiver(SQLiteInbox(tmp_path / "inbox.db"))
    seen = hooks.add_observer(Recorder())
    report = dispatch(hooks, kazoo_delivery(b"hook_event=channel_destroy&%%%"))
    assert report is seen.reports[0]
    assert (report.outcome, report.code) == (Outcome.QUARANTINED, "quarantined")
    assert report.response.status == 200  # Kazoo: never a 4xx for what is kept


def test_delivery_headers_type_is_unchanged() -> None:
    assert isinstance(faxplus_delivery(faxplus_payload()).headers, Headers)
