"""Models dump what they hold: JSON without serializer warnings, attributes over leftovers."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest

from hookreceiver import DeliveryContext, Receiver, providers
from hookreceiver.providers.documo import FaxOutbound
from hookreceiver.testing import WebhookClient, make, wirecloud

from .test_documo import DOC_OUTBOUND, check_outbound


@pytest.mark.parametrize("event", list(wirecloud.EVENTS))
def test_wirecloud_events_dump_to_json_without_warnings(event: str) -> None:
    # A user's suite runs with filterwarnings=error: a serializer warning fails it.
    hooks = Receiver()
    hooks.endpoint("/hooks/wirecloud", providers.Wirecloud(allow_ips=["127.0.0.1"]))
    seen: list[tuple[Any, DeliveryContext]] = []
    hooks.on("*")(lambda handled, ctx: seen.append((handled, ctx)))
    delivery = make("wirecloud", event)
    assert WebhookClient(hooks).send(delivery, peer="127.0.0.1").status == 200
    ((handled, ctx),) = seen
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dumped = json.loads(handled.model_dump_json())
        handled.model_dump(mode="json")
        if ctx.event.normalized is not None:
            ctx.event.normalized.model_dump_json()
    assert type(handled).model_validate(dumped) == handled  # the JSON form validates again
    if dumped.get("timestamp") is not None:  # Kazoo's own integer, as it was sent
        assert dumped["timestamp"] == int(delivery.payload["timestamp"])


def test_a_documo_dump_by_attribute_name_reports_the_attribute_not_a_leftover_twin() -> None:
    # Legacy outbound bodies send accountId and account_id (different values): the attribute
    # holds accountId's; a dump by name must say so, not let the leftover overwrite it.
    event = FaxOutbound.model_validate(json.loads(DOC_OUTBOUND))
    check_outbound(event)
    for dumped in (event.model_dump(), json.loads(event.model_dump_json())):
        assert dumped["account_id"] == event.account_id
        assert dumped["device_id"] is None and dumped["faxbridge_id"] is None
    by_alias = event.model_dump(by_alias=True)  # the wire names: both kept
    assert by_alias["accountId"] == event.account_id
    assert by_alias["account_id"] == "efaa36f7-d9a0a3aa-0cb1114eea0c"
    check_outbound(event)  # the leftover is still kept in model_extra
    assert FaxOutbound.model_validate(event.model_dump(by_alias=True)) == event
