"""Wirecloud (Kazoo): the conformance suite, plus forms, query strings and exactly-200."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl

import pytest

from hookreceiver import Outcome, providers
from hookreceiver.providers import CallEvent
from hookreceiver.providers.wirecloud import (
    CallDirection,
    ChannelAnswer,
    ChannelBridge,
    ChannelCreate,
    ChannelDestroy,
    Notification,
    ObjectAction,
    ObjectEvent,
    Parking,
    ParkingEventName,
)

from .conformance import Example, ProviderConformance, Sample, expect

PATH = "/hooks/wirecloud"
HOOK = (("x-hook-id", "a1b2c3d4e5f6"), ("x-account-id", "91eb05e5c68d7ca05e7618b6821d2d16"))

#: DESIGN.md: Kazoo never retries an answer and disables a hook after 6 failures a minute.
KAZOO_STATUSES = {
    Outcome.HANDLED: 200,
    Outcome.DUPLICATE: 200,
    Outcome.IN_FLIGHT: 200,
    Outcome.HANDLER_FAILED: 200,
    Outcome.INVALID_PAYLOAD: 400,
    Outcome.STORE_UNAVAILABLE: 200,
    Outcome.QUARANTINED: 200,
    Outcome.RECEIVER_ERROR: 200,
}

# shared/providers/NOTES.md, "Example form body (channel_destroy) [S]", verbatim.
DOC_DESTROY = (
    b"account_id=91eb05e5c68d7ca05e7618b6821d2d16&call_direction=inbound&call_forwarded=false&"
    b"call_id=NDlkNGI3OTZlMDgzNWQxNGYxNTA3NjQ4NDZjNDFkOTc&callee_id_number=%2B15556783945&"
    b"caller_id_name=Test+Man&caller_id_number=%2B15556783945&from=%2B15556783945%40matrix.test"
    b".com&hangup_cause=NORMAL_CLEARING&hangup_code=sip%3A200&duration_seconds=6&billing_second"
    b"s=6&ringing_seconds=0&hook_event=channel_destroy&request=%2B15552345678%40matrix.test.com&"
    b"timestamp=63724349409&to=%2B15552345678%40matrix.test.com"
)

# wirecloud.txt: the event a webhook with custom_data {"account_id": "my_crm_account_id",
# "screen_pop": true} sends (shown there as "name: value" lines).
DOC_CUSTOM_DATA = {
    "call_direction": "inbound",
    "timestamp": "63557035175",
    "account_id": "my_crm_account_id",
    "request": "*97@www.wirecloud.de",
    "to": "*97@www.wirecloud.de",
    "from": "user_37ccch@www.wirecloud.de",
    "call_id": "4922199999936@88.99.77.55",
    "hook_event": "channel_create",
    "screen_pop": "true",
}


def destroy_payload() -> dict[str, Any]:
    return dict(parse_qsl(DOC_DESTROY.decode()))


def channel(hook_event: str, **extra: Any) -> dict[str, Any]:
    payload = {**destroy_payload(), "hook_event": hook_event}
    for field in ("hangup_cause", "hangup_code", "duration_seconds", "billing_seconds"):
        payload.pop(field)
    payload.pop("ringing_seconds")
    return {**payload, **extra}


def form(payload: dict[str, Any], **options: Any) -> Sample:
    return Sample(PATH, payload, transport="form", headers=HOOK, **options)


def check_destroy(event: ChannelDestroy) -> None:
    assert event.call_id == "NDlkNGI3OTZlMDgzNWQxNGYxNTA3NjQ4NDZjNDFkOTc"
    assert event.timestamp == datetime(2019, 5, 6, 8, 10, 9, tzinfo=timezone.utc)
    assert event.call_direction is CallDirection.INBOUND and event.call_forwarded is False
    assert event.caller_id_name == "Test Man" and event.from_ == "+15556783945@matrix.test.com"
    assert (event.duration_seconds, event.billing_seconds, event.ringing_seconds) == (6, 6, 0)
    assert event.hangup_cause == "NORMAL_CLEARING" and event.hangup_code == "sip:200"


def check_ended(view: CallEvent) -> None:
    assert (view.provider, view.phase, view.direction) == ("wirecloud", "ended", "inbound")
    assert view.from_number == "+15556783945" and view.duration_seconds == 6
    assert view.timestamp is not None and view.timestamp.year == 2019


def check_custom_data(event: ChannelCreate) -> None:
    assert event.account_id == "my_crm_account_id"
    assert event.model_extra is not None and event.model_extra["screen_pop"] == "true"
    assert event.timestamp == datetime(2014, 1, 15, 19, 59, 35, tzinfo=timezone.utc)


class TestWirecloud(ProviderConformance):
    provider_class = providers.Wirecloud
    endpoint = PATH
    statuses = KAZOO_STATUSES
    valid_event = "wirecloud.channel_destroy"

    def valid(self) -> Sample:
        return form(destroy_payload())

    def examples(self) -> list[Example]:
        parking = {
            "account_id": "acc",
            "call_id": "c1",
            "caller_id_Number": "+15550001",
            "event_name": "PARK_PARKED",
            "parking_slot": "101",
        }
        obj = {"id": "doc1", "account_id": "acc", "action": "doc_edited", "type": "user"}
        notification = {"event_name": "voicemail_new", "app_name": "teletype", "msg_id": "m1"}
        return [
            Example(
                "notes-destroy-form",
                replace(form({}), payload=None, raw=DOC_DESTROY),
                "wirecloud.channel_destroy",
                ChannelDestroy,
                check_destroy,
                "call.ended",
                check_ended,
            ),
            Example(
                "doc-custom-data",
                form(DOC_CUSTOM_DATA),
                "wirecloud.channel_create",
                ChannelCreate,
                check_custom_data,
                "call.started",
            ),
            Example(
                "answer",
                form(channel("channel_answer")),
                "wirecloud.channel_answer",
                ChannelAnswer,
                normalized="call.answered",
            ),
            Example(
                "bridge",
                form(channel("channel_bridge", other_leg_destination_number="+15550002")),
                "wirecloud.channel_bridge",
                ChannelBridge,
                lambda e: expect(e.other_leg_destination_number == "+15550002"),
                "call.bridged",
            ),
            Example(
                "parking-by-shape",
                form(parking),
                "wirecloud.parking",
                Parking,
                lambda e: expect(
                    e.caller_id_number == "+15550001"
                    and e.event_name is ParkingEventName.PARK_PARKED
                ),
            ),
            Example(
                "object-by-shape",
                form(obj),
                "wirecloud.object",
                ObjectEvent,
                lambda e: expect(e.action is ObjectAction.DOC_EDITED),
            ),
            Example(
                "notification-by-shape", form(notification), "wirecloud.notifications", Notification
            ),
        ]

    def transports(self) -> list[Example]:
        payload = destroy_payload()
        json_payload = {**payload, "timestamp": 63724349409, "call_forwarded": False}
        for field in ("duration_seconds", "billing_seconds", "ringing_seconds"):
            json_payload[field] = int(payload[field])
        return [
            Example("post-form", form(payload), self.valid_event, ChannelDestroy, check_destroy),
            Example(
                "put-form",
                form(payload, method="PUT"),
                self.valid_event,
                ChannelDestroy,
                check_destroy,
            ),
            Example(
                "get-query-no-content-type",
                Sample(PATH, payload, transport="query", method="GET", headers=HOOK),
                self.valid_event,
                ChannelDestroy,
                check_destroy,
            ),
            Example(
                "post-json-4.3",
                Sample(PATH, json_payload, headers=HOOK),
                self.valid_event,
                ChannelDestroy,
                check_destroy,
            ),
            Example(
                "put-json-4.3",
                Sample(PATH, json_payload, method="PUT", headers=HOOK),
                self.valid_event,
                ChannelDestroy,
                check_destroy,
            ),
        ]

    def missing_field(self) -> tuple[Sample, str]:
        payload = destroy_payload()
        del payload["call_id"]
        return form(payload), "call_id"

    def unknown_event(self) -> tuple[Sample, str]:
        return form(channel("channel_hold")), "wirecloud.channel_hold"

    def malformed(self) -> Sample:
        return replace(self.valid(), payload=None, raw=b"call_id=\xff\xfe")

    def unknown_status(self) -> tuple[Sample, Any, str]:
        return (
            form(channel("channel_create", call_direction="sideways")),
            lambda e: e.call_direction,
            "sideways",
        )


def test_bracket_nesting_arrays_booleans_and_empty_segments() -> None:
    body = (
        DOC_DESTROY.replace(b"hook_event=channel_destroy", b"hook_event=channel_create")
        + b"&custom_channel_vars[owner_id]=u1&custom_channel_vars[bridge][leg][id]=b+2"
        + b"&&custom_application_vars[tags][]=vip&custom_application_vars[tags][]=new"
        + b"&emergency_resource_used=true&&"
    )
    sample = Sample(PATH, raw=body, transport="form", headers=HOOK)
    event, _ = TestWirecloud().parse_one(sample)
    assert isinstance(event, ChannelCreate)
    assert event.custom_channel_vars == {"owner_id": "u1", "bridge": {"leg": {"id": "b 2"}}}
    assert event.custom_application_vars == {"tags": ["vip", "new"]}
    assert event.emergency_resource_used is True


def test_blank_values_count_as_absent_but_unknown_blanks_are_kept() -> None:
    payload = {**destroy_payload(), "ringing_seconds": "", "custom_channel_vars": "", "zz": ""}
    event, _ = TestWirecloud().parse_one(form(payload))
    assert event.ringing_seconds is None and event.custom_channel_vars == {}
    assert event.model_extra["zz"] == ""


def test_key_is_hook_id_event_call_id_and_timestamp() -> None:
    _, ctx = TestWirecloud().parse_one(TestWirecloud().valid())
    assert ctx.idempotency_key == (
        "wirecloud:channel_destroy:a1b2c3d4e5f6:NDlkNGI3OTZlMDgzNWQxNGYxNTA3NjQ4NDZjNDFkOTc:"
        "63724349409"
    )


def test_two_hooks_for_one_call_are_two_events() -> None:
    recorder = TestWirecloud().recorder()
    other = (("x-hook-id", "ffff0000"),)
    assert recorder.send(form(destroy_payload())).status == 200
    assert recorder.send(replace(form(destroy_payload()), headers=other)).status == 200
    assert len(recorder.calls) == 2


def test_handler_failure_is_exactly_200_and_logged() -> None:
    recorder = TestWirecloud().recorder()
    recorder.fail = 1
    response = recorder.send(TestWirecloud().valid())
    assert response.status == 200
    assert response.body == b'{"status":"handler_failed"}'


@pytest.mark.parametrize("segment", ["parking", "object", "notifications"])
def test_event_from_url_segment(segment: str) -> None:
    suite = TestWirecloud()
    recorder = suite.recorder(providers.Kazoo(allow_ips=["127.0.0.1"]))
    recorder.receiver.endpoint("/hooks/kazoo/{event}", providers.Kazoo(allow_ips=["127.0.0.1"]))
    sample = Sample(
        f"/hooks/kazoo/{segment}",
        {"account_id": "a", "event_name": "X", "id": "1", "action": "doc_created"},
        transport="form",
    )
    assert recorder.send(sample).status == 200
    assert recorder.calls[0][1].event_name == f"wirecloud.{segment}"


def test_get_without_query_is_400() -> None:
    sample = Sample(PATH, raw=b"", transport="query", method="GET", headers=HOOK)
    assert TestWirecloud().recorder().send(sample).status == 400


# Never a 4xx for what we keep (Kazoo disables a hook after more than 6 non-200 in 60 s) ----------


def _kept_app(tmp_path: Any) -> tuple[Any, Any]:
    from hookreceiver import Receiver
    from hookreceiver.inbox import SQLiteInbox

    inbox = SQLiteInbox(tmp_path / "inbox.db", synchronous="NORMAL")
    hooks = Receiver(inbox=inbox, worker=False)
    local = ["127.0.0.1"]
    hooks.endpoint(PATH, providers.Wirecloud(allow_ips=local, strict=True, max_body=4096))
    hooks.endpoint("/hooks/kazoo-elsewhere", providers.Wirecloud(allow_ips=["198.51.100.7"]))
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=local, strict=True))
    hooks.endpoint("/hooks/updox/{event}", providers.Updox(allow_ips=local))
    return hooks, inbox


@pytest.mark.slow
@pytest.mark.parametrize("server", ["uvicorn", "wsgiref"])
def test_over_http_kept_payloads_are_200_on_kazoo_and_refused_elsewhere(
    tmp_path: Any, server: str
) -> None:
    import httpx

    from hookreceiver.inbox import InboxState
    from support.servers import serve_asgi, serve_wsgi

    hooks, inbox = _kept_app(tmp_path)
    seen: list[str] = []
    hooks.on("*")(lambda event, ctx: seen.append(ctx.event_name))
    form_headers = {"content-type": "application/x-www-form-urlencoded", **dict(HOOK)}
    json_headers = {"content-type": "application/json"}
    serve = serve_asgi(hooks.asgi_app) if server == "uvicorn" else serve_wsgi(hooks.wsgi_app)
    with serve as base, httpx.Client(base_url=base, timeout=10) as client:
        undocumented = client.post(
            PATH,
            content=DOC_DESTROY.replace(b"channel_destroy", b"channel_hold"),
            headers=form_headers,
        )
        invalid = client.post(
            PATH,
            content=DOC_DESTROY.replace(b"ringing_seconds=0", b"ringing_seconds=soon"),
            headers=form_headers,
        )
        torn_json = {**form_headers, "content-type": "application/json"}
        malformed = client.post(PATH, content=b'{"hook_event": "channel_cr', headers=torn_json)
        for response in (undocumented, invalid, malformed):
            assert (response.status_code, response.json()) == (200, {"status": "quarantined"})
        quarantined = inbox.list(states=["quarantined"])
        assert len(quarantined) == 3 and all(e.provider == "wirecloud" for e in quarantined)
        errors = sorted((e.last_error or "").split(":")[0] for e in quarantined)
        assert errors == ["invalid_payload", "malformed_body", "unknown_event"]

        # Not kept, so refused as before: an unverified sender, too large, wrong type.
        assert (
            client.post(
                "/hooks/kazoo-elsewhere", content=DOC_DESTROY, headers=form_headers
            ).status_code
            == 403
        )
        assert client.post(PATH, content=DOC_DESTROY * 20, headers=form_headers).status_code == 413
        wrong_type = {**form_headers, "content-type": "text/plain"}
        assert client.post(PATH, content=DOC_DESTROY, headers=wrong_type).status_code == 415

        # Other providers keep their 4xx: their senders' rules want it (Updox: kept, 400).
        fax = b'{"hook": {"id": "1", "event": "fax_sent", "event_time": "x"}, "data": {}}'
        unknown = fax.replace(b"fax_sent", b"fax_teleported")
        assert client.post("/hooks/faxplus", content=fax, headers=json_headers).status_code == 400
        assert (
            client.post("/hooks/faxplus", content=unknown, headers=json_headers).status_code == 422
        )
        updox = client.post("/hooks/updox/inbound_fax", content=b"{}", headers=json_headers)
        assert updox.status_code == 400 and updox.json()["error"] == "invalid_payload"
    assert len(inbox.list(states=["quarantined"])) == 6
    assert {e.provider for e in inbox.list()} == {"wirecloud", "faxplus", "updox"}
    assert [e.state for e in inbox.list()] == [InboxState.QUARANTINED] * 6
    assert seen == []


def test_without_an_inbox_or_journal_nothing_is_kept_so_the_refusal_stands() -> None:
    recorder = TestWirecloud().recorder(TestWirecloud().make_provider(strict=True))
    assert recorder.send(form(channel("channel_hold"))).status == 422
    sample, _ = TestWirecloud().missing_field()
    assert recorder.send(sample).status == 400
