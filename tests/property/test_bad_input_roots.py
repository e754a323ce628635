"""Regression tests of the three roots the outside fuzzing run found (110 answers of 500), of
the field-size caps, and of a receiver bug told apart from a failed handler.

Each delivery goes through both adapters in process: the answer is a 4xx (or the provider's
keep-it status), never a 500, and nothing is logged with a traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bad_input_support import (
    Answer,
    Request,
    bug_log,
    call_asgi,
    call_wsgi,
    every_provider,
)

from hookreceiver import Receiver
from hookreceiver.inbox import InboxState, SQLiteInbox
from hookreceiver.testing.factories import SimulatedDelivery, documo, faxplus, updox, wirecloud
from hookreceiver.testing.factories import zipwhip as zipwhip_factory

HUGE = "9" * 5000  # over Python's 4,300-digit int/str conversion limit
LONG = "9" * 4000  # under it: json.loads accepts it, the models must not
ADAPTERS = {"asgi": lambda r: r.asgi_app, "wsgi": lambda r: r.wsgi_app}
CALL = {"asgi": call_asgi, "wsgi": call_wsgi}


@pytest.fixture(params=sorted(ADAPTERS))
def send(request: pytest.FixtureRequest) -> Callable[[SimulatedDelivery], Answer]:
    """Send a simulated delivery through one adapter of a fresh every-provider receiver."""
    kind: str = request.param
    app = ADAPTERS[kind](every_provider())
    call = CALL[kind]

    def deliver(sim: SimulatedDelivery) -> Answer:
        headers = tuple(
            (n, str(len(sim.body)) if n.lower() == "content-length" else v) for n, v in sim.headers
        )
        return call(app, Request(sim.method, sim.path, sim.query, headers, sim.body))

    return deliver


def with_body(sim: SimulatedDelivery, body: bytes) -> SimulatedDelivery:
    return sim.replace(body=body, path=sim.path)


def json_with(payload: Any, where: list[str], literal: str) -> bytes:
    """``payload`` as JSON with the value at ``where`` replaced by a raw JSON ``literal``."""
    marker = "__literal_here__"
    node = payload
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = marker
    return json.dumps(payload).replace(f'"{marker}"', literal).encode()


def refused(answer: Answer, error: str) -> None:
    assert answer.status == 400, (answer.status, answer.body)
    assert answer.json()["error"] == error, answer.body


# 1. A JSON integer over 4,300 digits ---------------------------------------------------------

JSON_DELIVERIES: dict[str, tuple[Callable[[], SimulatedDelivery], list[str]]] = {
    "faxplus": (faxplus.fax_sent, ["data", "pages"]),
    "faxplus-extra": (faxplus.fax_received, ["data", "anything"]),
    "updox": (updox.inbound_fax, ["faxId"]),
    "zipwhip": (zipwhip_factory.receive, ["id"]),
    "documo-json": (lambda: documo.EVENTS["fax.v1.inbound.page"](), ["data", "pagesComplete"]),
    "wirecloud-json": (lambda: wirecloud.channel_destroy(format="json"), ["timestamp"]),
}


@pytest.mark.parametrize("name", sorted(JSON_DELIVERIES))
def test_a_json_integer_over_the_conversion_limit_is_a_400(
    send: Callable[[SimulatedDelivery], Answer], name: str
) -> None:
    factory, where = JSON_DELIVERIES[name]
    sim = factory()
    payload = json.loads(sim.body)
    with bug_log() as bugs:
        answer = send(with_body(sim, json_with(payload, where, HUGE)))
    refused(answer, "malformed_body")
    assert "too many digits" in answer.json()["detail"]
    assert bugs.records == []


def test_a_huge_integer_in_documo_multipart_data_is_a_400(
    send: Callable[[SimulatedDelivery], Answer],
) -> None:
    sim = documo.fax_inbound()
    boundary = sim.header("content-type").split("boundary=", 1)[1]  # type: ignore[union-attr]
    start = sim.body.index(b'"pagesCount":') + len(b'"pagesCount":')
    end = start + sim.body[start:].index(b",")
    body = sim.body[:start] + HUGE.encode() + sim.body[end:]
    assert boundary.encode() in body
    with bug_log() as bugs:
        answer = send(with_body(sim, body))
    refused(answer, "malformed_body")
    assert bugs.records == []


# 2. A time whose UTC conversion leaves years 1-9999 ------------------------------------------

OUT_OF_RANGE = ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00")


@pytest.mark.parametrize("moment", OUT_OF_RANGE)
@pytest.mark.parametrize(
    ("factory", "where"),
    [
        (faxplus.fax_sent, ["hook", "event_time"]),
        (faxplus.fax_received, ["data", "start_time"]),
        (zipwhip_factory.receive, ["dateCreated"]),
        (lambda: documo.EVENTS["fax.v1.outbound.succeed"](), ["data", "createdAt"]),
    ],
    ids=["faxplus-hook", "faxplus-data", "zipwhip", "documo-json"],
)
def test_a_time_out_of_range_in_utc_is_a_400(
    send: Callable[[SimulatedDelivery], Answer],
    factory: Callable[[], SimulatedDelivery],
    where: list[str],
    moment: str,
) -> None:
    sim = factory()
    payload = json.loads(sim.body)
    with bug_log() as bugs:
        answer = send(with_body(sim, json_with(payload, where, json.dumps(moment))))
    refused(answer, "invalid_payload")
    assert "out of range" in answer.json()["detail"]
    assert bugs.records == []


@pytest.mark.parametrize("moment", OUT_OF_RANGE)
def test_a_time_out_of_range_in_a_zipwhip_get_query_is_a_400(
    send: Callable[[SimulatedDelivery], Answer], moment: str
) -> None:
    sim = zipwhip_factory.receive(method="GET", dateCreated=moment)
    assert sim.body == b"" and "dateCreated=" in sim.query
    with bug_log() as bugs:
        answer = send(sim)
    refused(answer, "invalid_payload")
    assert "dateCreated" in answer.json()["detail"]
    assert bugs.records == []


def test_a_time_out_of_range_in_a_documo_multipart_event_is_a_400(
    send: Callable[[SimulatedDelivery], Answer],
) -> None:
    sim = documo.fax_inbound(createdAt=OUT_OF_RANGE[0])
    with bug_log() as bugs:
        answer = send(sim)
    refused(answer, "invalid_payload")
    assert bugs.records == []


# 3. Field sizes are capped before they reach a key ---------------------------------------------


def documo_v1_page(**fields: Any) -> SimulatedDelivery:
    """A ``fax.v1.inbound.page`` event whose fax object (``data``) has ``fields``."""
    sim = documo.EVENTS["fax.v1.inbound.page"]()
    payload = json.loads(sim.body)
    payload["data"].update(fields)
    return with_body(sim, json.dumps(payload).encode())


@pytest.mark.parametrize(
    ("factory", "fields", "where"),
    [
        (updox.inbound_fax, {"faxId": "x" * 70_000}, "faxId"),
        (updox.inbound_fax, {"faxId": int(LONG)}, "faxId"),
        (updox.outbound_fax, {"status": "s" * 70_000}, "status"),
        (zipwhip_factory.progress, {"statusCode": int(LONG)}, "statusCode"),
        (zipwhip_factory.receive, {"id": int(LONG)}, "id"),
        (zipwhip_factory.receive, {"bodySize": int(LONG)}, "bodySize"),
        (documo_v1_page, {"pagesComplete": int(LONG)}, "pagesComplete"),
        (faxplus.fax_sent, {}, "hook.id"),
    ],
    ids=[
        "updox-70kb-id",
        "updox-4000-digit-id",
        "updox-70kb-status",
        "zipwhip-4000-digit-status",
        "zipwhip-4000-digit-id",
        "zipwhip-4000-digit-count",
        "documo-4000-digit-page",
        "faxplus-70kb-id",
    ],
)
def test_oversized_ids_and_numbers_are_refused_as_invalid(
    send: Callable[[SimulatedDelivery], Answer],
    factory: Callable[..., SimulatedDelivery],
    fields: dict[str, Any],
    where: str,
) -> None:
    sim = factory(**fields)
    if where == "hook.id":
        payload = json.loads(sim.body)
        payload["hook"]["id"] = "h" * 70_000
        sim = with_body(sim, json.dumps(payload).encode())
    with bug_log() as bugs:
        answer = send(sim)
    refused(answer, "invalid_payload")
    assert where in answer.json()["detail"]
    assert bugs.records == []


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"call_id": "c" * 70_000}, "call_id"),
        ({"duration_seconds": LONG}, "duration_seconds"),
        ({"timestamp": HUGE}, "timestamp"),
        ({"timestamp": LONG}, "timestamp"),
    ],
    ids=["70kb-call-id", "4000-digit-duration", "5000-digit-timestamp", "4000-digit-timestamp"],
)
def test_kazoo_bracket_forms_and_queries_with_huge_values_are_refused(
    send: Callable[[SimulatedDelivery], Answer],
    fields: dict[str, Any],
    where: str,
    method: str,
) -> None:
    sim = wirecloud.channel_destroy(method=method, **fields)
    with bug_log() as bugs:
        answer = send(sim)
    refused(answer, "invalid_payload")
    assert where in answer.json()["detail"]
    assert bugs.records == []


def test_a_70kb_kazoo_hook_id_never_reaches_the_key(
    send: Callable[[SimulatedDelivery], Answer],
) -> None:
    with bug_log() as bugs:
        answer = send(wirecloud.channel_create(hook_id="h" * 70_000))
    refused(answer, "invalid_payload")
    assert "X-Hook-ID" in answer.json()["detail"]
    assert bugs.records == []


def test_ids_within_the_caps_still_pass(send: Callable[[SimulatedDelivery], Answer]) -> None:
    assert send(updox.inbound_fax(faxId="x" * 1024)).status == 200
    assert send(updox.inbound_fax(faxId=10**19)).status == 200
    assert send(zipwhip_factory.receive(id=2**64 - 1)).status == 200
    assert send(wirecloud.channel_destroy(call_id="c" * 1024, duration_seconds=2**63)).status == 200


# 4. A bug inside the receiver is told apart from a failed handler ----------------------------


def broken_parse(hooks: Receiver, provider: str) -> None:
    """Make ``provider``'s parse fail the way a bug of ours would."""
    endpoint = next(e for e in hooks.router.endpoints if e.provider.name == provider)

    def parse(*args: Any) -> Any:
        raise RuntimeError("boom in the parser")

    endpoint.provider.parse = parse  # type: ignore[method-assign]


@pytest.mark.parametrize(
    ("provider", "factory", "status"),
    [
        ("wirecloud", wirecloud.channel_create, 200),  # Kazoo never retries, disables hooks
        ("updox", updox.inbound_fax, 503),  # Updox drops 4xx, retries 5xx
        ("faxplus", faxplus.fax_sent, 500),  # the others retry 5xx
    ],
)
@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
def test_a_parser_bug_is_logged_as_ours_and_answered_by_the_providers_policy(
    caplog: pytest.LogCaptureFixture,
    adapter: str,
    provider: str,
    factory: Callable[[], SimulatedDelivery],
    status: int,
) -> None:
    hooks = every_provider()
    broken_parse(hooks, provider)
    sim = factory()
    request = Request(sim.method, sim.path, sim.query, sim.headers, sim.body)
    with caplog.at_level(logging.ERROR, logger="hookreceiver"):
        answer = CALL[adapter](ADAPTERS[adapter](hooks), request)
    assert answer.status == status, answer.body
    assert answer.json()["error"] == "internal_error"
    assert (("retry-after", "5") in answer.headers) is (status == 503)
    bug = [r for r in caplog.records if r.getMessage().startswith("receiver bug while parsing")]
    assert len(bug) == 1 and bug[0].exc_info is not None
    assert isinstance(bug[0].exc_info[1], RuntimeError)
    assert not any("unexpected error" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("provider", "factory", "status"),
    [
        ("wirecloud", wirecloud.channel_create, 200),
        ("updox", updox.inbound_fax, 503),
        ("documo", documo.fax_inbound, 500),
    ],
)
def test_in_inbox_mode_a_parser_bug_keeps_the_raw_delivery_quarantined(
    tmp_path: Path,
    provider: str,
    factory: Callable[[], SimulatedDelivery],
    status: int,
) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    try:
        hooks = every_provider(inbox)
        broken_parse(hooks, provider)
        sim = factory()
        with bug_log() as bugs:
            answer = call_wsgi(
                hooks.wsgi_app, Request(sim.method, sim.path, sim.query, sim.headers, sim.body)
            )
        assert answer.status == status, answer.body
        assert len(bugs.records) == 1
        (entry,) = inbox.list()
        assert entry.state is InboxState.QUARANTINED
        assert entry.last_error is not None
        assert entry.last_error.startswith("internal_error: the receiver failed while parsing")
        assert "RuntimeError: boom in the parser" in entry.last_error
        record = inbox.get(entry.id)
        assert record is not None
        assert (record.body or b"".join(f.data for f in record.files)) != b""
    finally:
        inbox.close()
