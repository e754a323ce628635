"""Normalized views: one handler serves several providers; field types hold real values."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum, IntEnum
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ValidationError

from hookreceiver import DeliveryContext, Receiver, providers
from hookreceiver.providers import CallEvent, FaxEvent, MessageEvent
from hookreceiver.providers.normalized import NORMALIZED_NAMES
from hookreceiver.providers.types import (
    ExactInt,
    FlexibleId,
    GregorianSeconds,
    OpenEnum,
    UTCDateTime,
)

from . import test_documo, test_faxplus, test_updox, test_wirecloud, test_zipwhip
from .conformance import DOCS, Sample

ALLOW = {"allow_ips": ["127.0.0.1"]}


def all_providers() -> Receiver:
    hooks = Receiver()
    hooks.endpoint("/hooks/documo", providers.Documo(**ALLOW))
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(**ALLOW))
    hooks.endpoint("/hooks/updox/{event}", providers.Updox(**ALLOW))
    hooks.endpoint("/hooks/zipwhip/{event}", providers.Zipwhip(**ALLOW))
    hooks.endpoint("/hooks/wirecloud", providers.Wirecloud(**ALLOW))
    return hooks


def send_one_of_each(hooks: Receiver) -> None:
    samples = [
        test_documo.TestDocumo().valid(),
        test_faxplus.TestFaxPlus().valid(),
        Sample("/hooks/updox/inbound_fax", {"faxId": 77, "accountId": 1}),
        test_updox.TestUpdox().valid(),
        test_zipwhip.TestZipwhip().valid(),
        Sample("/hooks/updox/inbound_direct", {"messageId": 5, "userId": "u"}),
        test_wirecloud.TestWirecloud().valid(),
    ]
    for sample in samples:
        assert hooks.handle(sample.delivery()).status == 200


def test_one_handler_for_a_fax_received_from_any_provider() -> None:
    hooks = all_providers()
    received: list[FaxEvent] = []

    @hooks.on("fax.received")
    def fax_in(fax: FaxEvent, ctx: DeliveryContext) -> None:
        assert ctx.event.normalized is fax
        received.append(fax)

    send_one_of_each(hooks)
    assert [(f.provider, f.event, f.fax_id) for f in received] == [
        ("documo", "documo.fax.inbound", "d7afa15d-a79-b013-18ec9c846ef3"),
        ("faxplus", "faxplus.fax_received", "66df09cf1d6d0b295c363956"),
        ("updox", "updox.inbound_fax", "77"),
    ]
    assert all(f.direction == "inbound" and f.ok for f in received)
    assert type(received[0].source).__name__ == "FaxInbound"


def test_handlers_by_view_class_get_every_event_of_that_kind() -> None:
    hooks = all_providers()
    seen: dict[type, list[str]] = {FaxEvent: [], MessageEvent: [], CallEvent: []}
    for kind in seen:
        hooks.on(kind)(lambda view, ctx, kind=kind: seen[kind].append(ctx.event_name))
    send_one_of_each(hooks)
    assert seen[FaxEvent] == [
        "documo.fax.inbound",
        "faxplus.fax_received",
        "updox.inbound_fax",
        "updox.outbound_fax",
    ]
    assert seen[MessageEvent] == ["zipwhip.message.receive", "updox.inbound_direct"]
    assert seen[CallEvent] == ["wirecloud.channel_destroy"]


def test_views_serialize_with_their_source_and_without_the_attachment() -> None:
    hooks = all_providers()
    dumped: list[dict[str, Any]] = []
    hooks.on(FaxEvent)(lambda view, ctx: dumped.append(view.model_dump(mode="json")))
    assert hooks.handle(test_documo.TestDocumo().valid().delivery()).status == 200
    (view,) = dumped
    assert "attachment" not in view
    assert view["source"]["message_id"] == "d7afa15d-a79-b013-18ec9c846ef3"


def test_normalized_names_are_documented() -> None:
    text = DOCS.read_text()
    for name in NORMALIZED_NAMES:
        assert f"`{name}`" in text


# Field types ---------------------------------------------------------------------------------


class Color(str, Enum):
    RED = "red"


class Code(IntEnum):
    OK = 4


class Typed(BaseModel):
    at: UTCDateTime | None = None
    greg: GregorianSeconds | None = None
    ident: FlexibleId | None = None
    big: ExactInt | None = None
    color: Annotated[Color | str, OpenEnum(Color)] | None = None
    code: Annotated[Code | int, OpenEnum(Code)] | None = None


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("at", "2024-09-09 10:44:39", datetime(2024, 9, 9, 10, 44, 39, tzinfo=timezone.utc)),
        ("at", "2015-08-19T16:53:45-07:00", datetime(2015, 8, 19, 23, 53, 45, tzinfo=timezone.utc)),
        ("greg", 63724349409, datetime(2019, 5, 6, 8, 10, 9, tzinfo=timezone.utc)),
        ("greg", "63724349409", datetime(2019, 5, 6, 8, 10, 9, tzinfo=timezone.utc)),
        ("greg", 62167219200, datetime(1970, 1, 1, tzinfo=timezone.utc)),
        ("ident", 12345678901234567890, "12345678901234567890"),
        ("ident", "abc", "abc"),
        ("big", 1327295480212647936, 1327295480212647936),
        ("big", "1327295480212647936", 1327295480212647936),
        ("color", "red", Color.RED),
        ("color", "violet", "violet"),
        ("code", 4, Code.OK),
        ("code", "4", Code.OK),
        ("code", 1003, 1003),
    ],
)
def test_field_types_keep_real_values(field: str, value: object, expected: object) -> None:
    parsed = getattr(Typed.model_validate({field: value}), field)
    assert parsed == expected
    assert type(parsed) is type(expected)
    if isinstance(parsed, datetime):
        assert parsed.tzinfo is timezone.utc  # the stdlib's UTC itself, not an equal offset


@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        (b'{"at": "2024-09-09 10:44:39.250000"}', "at", datetime(2024, 9, 9, 10, 44, 39, 250000)),
        (b'{"at": "2024-09-09T10:44:39Z"}', "at", datetime(2024, 9, 9, 10, 44, 39)),
        (b'{"at": "2024-09-09T12:44:39+02:00"}', "at", datetime(2024, 9, 9, 10, 44, 39)),
        (b'{"color": "red"}', "color", Color.RED),
        (b'{"color": "violet"}', "color", "violet"),
        (b'{"code": 4}', "code", Code.OK),
        (b'{"code": 1003}', "code", 1003),
        (b'{"ident": 12345678901234567890}', "ident", "12345678901234567890"),
    ],
)
def test_field_types_from_json_bytes(body: bytes, field: str, expected: object) -> None:
    parsed = getattr(Typed.model_validate_json(body), field)
    if isinstance(expected, datetime):
        assert parsed == expected.replace(tzinfo=timezone.utc)
        assert parsed.tzinfo is timezone.utc
    else:
        assert parsed == expected
        assert type(parsed) is type(expected)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("big", 1.327295480212648e18),
        ("big", True),
        ("big", "12a"),
        ("greg", "yesterday"),
        ("greg", 10**30),
        ("greg", True),
        ("color", 3),
        ("code", "four"),
        ("code", True),
        ("code", 4.0),
        ("ident", 1.5),
    ],
)
def test_field_types_refuse_values_that_would_lie(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Typed.model_validate({field: value})
    assert caught.value.errors()[0]["loc"] == (field,)


def test_open_enum_json_schema_lists_known_values_and_allows_more() -> None:
    schema = Typed.model_json_schema()["properties"]["color"]
    assert {"enum": ["red"]} in schema["anyOf"]
    assert {"type": "string"} in schema["anyOf"]
