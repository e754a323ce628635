"""Documo: the conformance suite, plus multipart attachments, basic auth and v1 JSON events."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from hookreceiver import Delivery, DeliveryContext, Headers, Receiver, providers
from hookreceiver.providers import FaxEvent
from hookreceiver.providers.documo import (
    FaxDirection,
    FaxInbound,
    FaxOutbound,
    FaxOutboundExtended,
    FaxStatus,
    FaxV1InboundComplete,
    FaxV1InboundSucceed,
    FaxV1OutboundFailed,
    UserCreate,
)

from .conformance import (
    BOUNDARY,
    Example,
    ProviderConformance,
    Sample,
    detail,
    expect,
    multipart_body,
)

PATH = "/hooks/documo"

# documo.txt, "fax.inbound:" and "fax.outbound:", verbatim.
DOC_INBOUND = (
    b'{"resultInfo":"OK","messageId":"d7afa15d-a79-b013-18ec9c846ef3","channelType":"web","isArch'
    b'ived":false,"isFilePurged":false,"deliveryId":"2210514133330175","watermark":"221051413342'
    b'5960493","messageNumber":"1436823","status":"success","pagesCount":1,"pagesComplete":1,"du'
    b'ration":22000,"faxNumber":"+18332394039","faxCsid":"702432","faxCallerId":"702422","faxECM'
    b'":256,"faxSpeed":14400,"faxDetected":true,"faxProtocol":17,"faxAttempt":1,"direction":"inb'
    b'ound","errorCode":"0","resultCode":"0","country":"US","resolvedDate":"2021-05-14T13:34:00.'
    b'000Z","createdAt":"2021-05-14T13:34:30.000Z","accountId":"efaa36f7-d9a0-43aa-0cb1114eea0c'
    b'","processingStatusName":"success","classificationLabel":"inbound","recipientName":null,"s'
    b'ubject":null,"deviceId":null,"faxbridgeId":null,"deletedAt":null,"account":{"uuid":"efaa3'
    b'6f7-d9a0-493f-a3aa-0cb1114eea0c","accountNumber":"1201734191","accountName":"Documo","acco'
    b'untType":"master"},"cf":{}}'
)
DOC_OUTBOUND = (
    b'{"resultInfo":"OK","messageId":"3bdc40b9-0c0f-b054-8ddbdb94ec1e","deliveryId":"2210516330'
    b'095","watermark":"221051515860254","messageNumber":"143725907","status":"success","pagesCo'
    b'unt":1,"pagesComplete":1,"duration":38000,"faxNumber":"+18582850","faxCsid":"T.Co - Documo'
    b'","faxCallerId":"858250","faxECM":256,"faxSpeed":33600,"faxDetected":true,"faxProtocol":34'
    b',"faxAttempt":1,"direction":"outbound","channelType":"email","recipientName":"18582io","su'
    b'bject":"Test fax","deviceId":null,"faxbridgeId":null,"accountId":"efaa36f7-d9af-a3aa-0cb11'
    b'14eea0c","errorCode":"0","resultCode":"0","isArchived":false,"isFilePurged":false,"country'
    b'":"US","createdAt":"2021-05-14T16:43:59.000Z","resolvedDate":"2021-05-14T16:45:12.000Z","d'
    b'eletedAt":null,"account_id":"efaa36f7-d9a0a3aa-0cb1114eea0c","device_id":null,"faxbridge_i'
    b'd":null,"processingStatusName":"success","classificationLabel":"outbound","account":{"uuid'
    b'":"efaa36f7-d9a0-493f-a3aa-0cb1114eea0c","accountNumber":"1201191","accountName":"Documo",'
    b'"accountType":"master"},"cf":{}}'
)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ATTACHMENT = (("attachment", "fax.pdf", "application/pdf", PDF),)


def inbound(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(DOC_INBOUND)
    payload.update(changes)
    return payload


def outbound(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(DOC_OUTBOUND)
    payload.update(changes)
    return payload


def multipart(payload: dict[str, Any] | None = None, raw: bytes | None = None, **kw: Any) -> Sample:
    return Sample(PATH, payload, transport="multipart", raw=raw, **kw)


def check_inbound(event: FaxInbound) -> None:
    assert event.message_id == "d7afa15d-a79-b013-18ec9c846ef3"
    assert event.status is FaxStatus.SUCCESS and event.direction is FaxDirection.INBOUND
    assert event.fax_ecm == 256 and event.fax_detected is True and event.duration == 22000
    assert event.created_at == datetime(2021, 5, 14, 13, 34, 30, tzinfo=timezone.utc)
    assert event.account is not None and event.account.account_number == "1201734191"
    attachment = event.attachment
    assert attachment is not None and attachment.size == len(PDF)
    assert attachment.closed  # the handlers have finished: the temporary file is gone
    with pytest.raises(ValueError, match="read sha256 inside a handler"):
        attachment.sha256  # noqa: B018 - hashed on first use, which is now too late
    assert event.is_final


def check_inbound_view(view: FaxEvent) -> None:
    assert (view.provider, view.direction, view.status, view.pages) == (
        "documo",
        "inbound",
        "success",
        1,
    )
    assert (view.from_number, view.to_number) == ("702422", "+18332394039")
    assert view.attachment is not None and view.attachment.filename == "fax.pdf"


def check_outbound(event: FaxOutbound) -> None:
    assert event.account_id == "efaa36f7-d9af-a3aa-0cb1114eea0c"
    assert event.model_extra is not None
    assert event.model_extra["account_id"] == "efaa36f7-d9a0a3aa-0cb1114eea0c"
    assert event.attachment is None


class TestDocumo(ProviderConformance):
    provider_class = providers.Documo
    endpoint = PATH
    valid_event = "documo.fax.inbound"

    def valid(self) -> Sample:
        return multipart(inbound(), files=ATTACHMENT)

    def examples(self) -> list[Example]:
        return [
            Example(
                "doc-fax-inbound",
                multipart(raw=DOC_INBOUND, files=ATTACHMENT),
                "documo.fax.inbound",
                FaxInbound,
                check_inbound,
                "fax.received",
                check_inbound_view,
            ),
            Example(
                "doc-fax-outbound",
                multipart(raw=DOC_OUTBOUND),
                "documo.fax.outbound",
                FaxOutbound,
                check_outbound,
                "fax.sent",
            ),
            Example(
                "extended-transmitting",
                multipart(outbound(status="transmitting")),
                "documo.fax.outbound.extended",
                FaxOutboundExtended,
                lambda e: expect(not e.is_final),
                "fax.progress",
            ),
            Example(
                "v1-inbound-succeed",
                Sample(PATH, {"event": "fax.v1.inbound.succeed", "data": inbound()}),
                "documo.fax.v1.inbound.succeed",
                FaxV1InboundSucceed,
                lambda e: expect(e.message_id == "d7afa15d-a79-b013-18ec9c846ef3"),
                "fax.received",
            ),
            Example(
                "v1-outbound-failed-flat",
                Sample(PATH, {**outbound(status="failed"), "eventType": "fax.v1.outbound.failed"}),
                "documo.fax.v1.outbound.failed",
                FaxV1OutboundFailed,
                normalized="fax.sent",
                check_normalized=lambda v: expect(v.status == "failed"),
            ),
            Example(
                "v1-inbound-complete",
                Sample(PATH, {"event": "fax.v1.inbound.complete", "data": inbound()}),
                "documo.fax.v1.inbound.complete",
                FaxV1InboundComplete,
            ),
        ]

    def transports(self) -> list[Example]:
        return [
            Example(
                "multipart-data-and-attachment",
                multipart(inbound(), files=ATTACHMENT),
                self.valid_event,
                FaxInbound,
                lambda e: expect(e.attachment is not None),
            ),
            Example(
                "multipart-attachment-disabled",
                multipart(inbound()),
                self.valid_event,
                FaxInbound,
                lambda e: expect(e.attachment is None),
            ),
            Example("json", Sample(PATH, inbound()), self.valid_event, FaxInbound),
        ]

    def missing_field(self) -> tuple[Sample, str]:
        payload = inbound()
        del payload["messageId"]
        return multipart(payload, files=ATTACHMENT), "messageId"

    def malformed(self) -> Sample:
        return multipart(raw=b'{"messageId": ', files=ATTACHMENT)

    def unknown_event(self) -> tuple[Sample, str]:
        sample = Sample(PATH, {"event": "fax.v2.inbound.init", "data": inbound()})
        return sample, "documo.fax.v2.inbound.init"

    def unknown_status(self) -> tuple[Sample, Any, str]:
        return multipart(outbound(status="rerouted")), lambda e: e.status, "rerouted"


def test_large_attachment_is_spooled_to_disk_and_removed_after_handlers(tmp_path: Path) -> None:
    content = b"%PDF-1.7\n" + bytes(range(256)) * 8192  # 2 MiB: past the in-memory spool
    sample = multipart(inbound(), files=(("attachment", "big.pdf", None, content),))
    recorder = TestDocumo().recorder()
    seen: dict[str, Any] = {}

    @recorder.receiver.on("fax.received")
    def keep(fax: FaxEvent, ctx: DeliveryContext) -> None:
        attachment = fax.attachment
        assert attachment is not None
        seen.update(
            attachment=attachment,
            in_memory=attachment.in_memory,
            type=attachment.content_type,
            saved=attachment.save(tmp_path / "fax.pdf"),
            sha256=attachment.sha256,
        )

    assert recorder.send(sample).status == 200
    attachment = seen["attachment"]
    assert (attachment.filename, attachment.size) == ("big.pdf", len(content))
    assert seen["type"] == "application/pdf"  # sniffed: the part had no content type
    assert seen["sha256"] == hashlib.sha256(content).hexdigest()
    assert seen["in_memory"] is False
    assert seen["saved"].read_bytes() == content
    assert attachment.closed
    assert recorder.calls[0][1].attachments == [attachment]


def test_extended_statuses_are_keyed_by_message_and_status() -> None:
    recorder = TestDocumo().recorder(providers.Documo(extended=True, allow_ips=["127.0.0.1"]))
    for status in ("processing", "transmitting", "success", "transmitting"):
        recorder.send(multipart(outbound(status=status)))
    names = {ctx.event_name for _, ctx in recorder.calls}
    keys = [ctx.idempotency_key for _, ctx in recorder.calls]
    assert names == {"documo.fax.outbound.extended"}
    assert keys == [
        f"documo:fax.outbound.extended:3bdc40b9-0c0f-b054-8ddbdb94ec1e:{s}"
        for s in ("processing", "transmitting", "success")
    ]


def _statuses_handled(
    order: tuple[str, ...], provider: providers.Documo, **receiver_options: Any
) -> tuple[list[str], list[str]]:
    """Send one fax's extended posts in ``order``; the statuses handled, and each answer."""
    recorder = TestDocumo().recorder(provider, **receiver_options)
    answers = []
    for status in order:
        response = recorder.send(multipart(outbound(status=status)))
        assert response.status == 200
        answers.append(json.loads(response.body)["status"])
    return [event.status.value for event, _ in recorder.calls], answers


@pytest.mark.parametrize("final", ["success", "failed", "cancelled"])
def test_a_late_non_final_status_never_downgrades_a_final_one(final: str) -> None:
    provider = providers.Documo(extended=True, allow_ips=["127.0.0.1"])
    handled, answers = _statuses_handled(("processing", final, "transmitting"), provider)
    assert handled == ["processing", final]
    assert answers == ["handled", "handled", "duplicate"]  # 200: Documo stops re-sending it


def test_each_fax_has_its_own_series_with_a_store_that_does_io(tmp_path: Path) -> None:
    from hookreceiver.stores import SQLiteStore

    provider = providers.Documo(extended=True, allow_ips=["127.0.0.1"])
    store = SQLiteStore(tmp_path / "dedup.db")  # a store with I/O: the driver makes the calls
    recorder = TestDocumo().recorder(provider, store=store)
    posts = [
        outbound(status="transmitting"),
        outbound(status="success"),
        outbound(status="transmitting", messageId="another-fax"),  # not this fax's series
        outbound(status="transmitting"),  # late: this fax already succeeded
    ]
    answers = [json.loads(recorder.send(multipart(p)).body)["status"] for p in posts]
    assert answers == ["handled", "handled", "handled", "duplicate"]
    assert [(e.message_id, e.status.value) for e, _ in recorder.calls] == [
        ("3bdc40b9-0c0f-b054-8ddbdb94ec1e", "transmitting"),
        ("3bdc40b9-0c0f-b054-8ddbdb94ec1e", "success"),
        ("another-fax", "transmitting"),
    ]


def test_a_failed_final_handler_does_not_end_the_series() -> None:
    provider = providers.Documo(extended=True, allow_ips=["127.0.0.1"])
    recorder = TestDocumo().recorder(provider)
    failing = {"success"}

    @recorder.receiver.on("documo.fax.outbound.extended")
    def flaky(event: FaxOutboundExtended, ctx: DeliveryContext) -> None:
        if event.status.value in failing:
            raise RuntimeError("database down")

    assert recorder.send(multipart(outbound(status="success"))).status == 500
    late = recorder.send(multipart(outbound(status="transmitting")))
    assert json.loads(late.body)["status"] == "handled"  # no final was handled yet
    failing.clear()
    assert json.loads(recorder.send(multipart(outbound(status="success"))).body) == {
        "status": "handled"
    }
    stale = recorder.send(multipart(outbound(status="processing")))
    assert json.loads(stale.body)["status"] == "duplicate"


def test_never_downgrade_can_be_turned_off() -> None:
    provider = providers.Documo(extended=True, never_downgrade=False, allow_ips=["127.0.0.1"])
    handled, answers = _statuses_handled(("success", "transmitting"), provider)
    assert handled == ["success", "transmitting"]
    assert answers == ["handled", "handled"]


def test_event_from_url_segment_and_account_events() -> None:
    hooks = Receiver()
    hooks.endpoint("/hooks/documo/{event}", providers.Documo(allow_ips=["127.0.0.1"]))
    seen: list[Any] = []
    hooks.on("*")(lambda event, ctx: seen.append((event, ctx.event_name)))
    user = {"userId": "u1", "email": "a@example.com"}
    ok = hooks.handle(Sample("/hooks/documo/user.create", user, transport="multipart").delivery())
    assert ok.status == 200
    extended = Sample("/hooks/documo/fax.outbound.extended", outbound(), transport="multipart")
    assert hooks.handle(extended.delivery()).status == 200
    (user_event, user_name), (_, extended_name) = seen
    assert isinstance(user_event, UserCreate) and user_name == "documo.user.create"
    assert user_event.model_extra == user
    assert extended_name == "documo.fax.outbound.extended"
    bad = hooks.handle(Sample("/hooks/documo/..", user, transport="multipart").delivery())
    assert bad.status == 404


def test_multipart_without_data_field_is_400_naming_data() -> None:
    delivery = Delivery(
        "POST",
        PATH,
        headers=Headers([("content-type", f"multipart/form-data; boundary={BOUNDARY}")]),
        peer="127.0.0.1",
        body=multipart_body(None, ATTACHMENT),
    )
    recorder = TestDocumo().recorder()
    response = recorder.receiver.handle(delivery)
    assert response.status == 400
    assert "'data'" in detail(response)["detail"]
    assert recorder.calls == []


@pytest.mark.parametrize("status", ["success", "failed"])
def test_basic_auth_and_ip_preset_together(status: str) -> None:
    provider = providers.Documo(basic_auth=[("documo", "s3cret")])
    recorder = TestDocumo().recorder(provider)
    auth = (("authorization", "Basic ZG9jdW1vOnMzY3JldA=="),)
    sample = multipart(outbound(status=status))
    assert recorder.send(sample, peer="35.225.187.84", headers=auth).status == 200
    assert recorder.send(sample, peer="35.225.187.84").status == 401
    assert recorder.send(sample, peer="198.51.100.7", headers=auth).status == 403
