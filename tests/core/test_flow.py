"""The flow of one delivery: statuses, dedup, handler failures, limits, bad input."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import pytest

from hookreceiver import (
    ConfigurationError,
    Delivery,
    DeliveryContext,
    GenericEvent,
    Headers,
    Receiver,
    StoreUnavailable,
    providers,
)
from hookreceiver.providers.faxplus import FaxReceived, FaxSent
from hookreceiver.stores import Claim, MemoryStore, Store
from support.payloads import faxplus_delivery, faxplus_payload


def body_of(response: Any) -> dict[str, Any]:
    return json.loads(response.body)


def test_handled_event_reaches_typed_handler_with_context(receiver: Receiver) -> None:
    seen: list[tuple[FaxReceived, DeliveryContext]] = []

    @receiver.on("faxplus.fax_received")
    def handle(event: FaxReceived, ctx: DeliveryContext) -> None:
        seen.append((event, ctx))

    payload = faxplus_payload(hook_id="abc123")
    response = receiver.handle(faxplus_delivery(payload))
    assert response.status == 200
    assert body_of(response) == {"status": "handled"}
    ((event, ctx),) = seen
    assert isinstance(event, FaxReceived)
    assert event.data.from_number == "+1 334-304-0000"
    assert event.hook.event_time.tzinfo is not None
    assert ctx.event_name == "faxplus.fax_received"
    assert ctx.provider == "faxplus"
    assert ctx.idempotency_key == "faxplus:fax_received:abc123"
    assert ctx.client == "127.0.0.1"
    assert json.loads(ctx.raw_body) == payload
    assert ctx.headers["Content-Type"] == "application/json"
    assert len(ctx.delivery_id) == 16


def test_duplicate_of_handled_event_runs_nothing(receiver: Receiver) -> None:
    count = []
    receiver.on("*")(lambda event, ctx: count.append(1))
    payload = faxplus_payload()
    assert receiver.handle(faxplus_delivery(payload)).status == 200
    second = receiver.handle(faxplus_delivery(payload))
    assert second.status == 200
    assert body_of(second) == {"status": "duplicate"}
    assert count == [1]


def test_failed_handler_releases_claim_so_retry_is_handled(receiver: Receiver) -> None:
    attempts: list[int] = []
    errors: list[tuple[BaseException, str]] = []

    @receiver.on("faxplus.fax_received")
    def flaky(event: Any, ctx: DeliveryContext) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("database is down")

    @receiver.on_error
    def report(exc: BaseException, ctx: DeliveryContext) -> None:
        errors.append((exc, ctx.delivery_id))

    payload = faxplus_payload()
    first = receiver.handle(faxplus_delivery(payload))
    assert first.status == 500
    assert b"database is down" not in first.body
    assert str(errors[0][0]) == "database is down"
    second = receiver.handle(faxplus_delivery(payload))
    assert second.status == 200
    assert len(attempts) == 2


def test_first_failure_stops_the_remaining_handlers(receiver: Receiver) -> None:
    ran: list[str] = []

    @receiver.on("faxplus.fax_received")
    def first(event: Any, ctx: Any) -> None:
        ran.append("first")
        raise ValueError("no")

    @receiver.on("faxplus.*")
    def second(event: Any, ctx: Any) -> None:
        ran.append("second")

    assert receiver.handle(faxplus_delivery()).status == 500
    assert ran == ["first"]


def test_failing_error_handler_is_logged_not_raised(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.on("*")(lambda e, c: 1 / 0)
    receiver.on_error(lambda exc, ctx: [][1])
    assert receiver.handle(faxplus_delivery()).status == 500
    assert "error handler" in caplog.text


class _HeldStore(MemoryStore):
    """Reports every key as in flight (another worker holds it)."""

    def claim(self, key: str, lease: float) -> Claim:
        super().claim(key, lease)
        return super().claim(key, lease)


def test_in_flight_duplicate_gets_retry_status() -> None:
    hooks = Receiver(store=_HeldStore())
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    ran = []
    hooks.on("*")(lambda e, c: ran.append(1))
    response = hooks.handle(faxplus_delivery())
    assert response.status == 503
    assert ("retry-after", "5") in response.headers
    assert ran == []


class _DownStore(Store):
    def claim(self, key: str, lease: float) -> Claim:
        raise StoreUnavailable("connection refused")


def test_store_outage_answers_503_and_runs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    hooks = Receiver(store=_DownStore())
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    ran = []
    hooks.on("*")(lambda e, c: ran.append(1))
    assert hooks.handle(faxplus_delivery()).status == 503
    assert asyncio.run(hooks.ahandle(faxplus_delivery())).status == 503
    assert ran == []
    assert "store unavailable" in caplog.text


def test_routing_order_and_class_registration(receiver: Receiver) -> None:
    order: list[str] = []
    receiver.on("*")(lambda e, c: order.append("catch-all"))
    receiver.on("faxplus.*")(lambda e, c: order.append("wildcard"))
    receiver.on(FaxReceived)(lambda e, c: order.append("class"))
    receiver.on(FaxSent)(lambda e, c: order.append("other class"))
    receiver.on("faxplus.fax_received")(lambda e, c: order.append("exact"))
    receiver.on("faxplus.fax_received")(lambda e, c: order.append("exact 2"))
    assert receiver.handle(faxplus_delivery()).status == 200
    assert order == ["exact", "exact 2", "class", "wildcard", "catch-all"]


def test_unknown_event_goes_to_catch_all_as_generic(receiver: Receiver) -> None:
    seen: list[Any] = []
    receiver.on("faxplus.fax_received")(lambda e, c: seen.append("wrong"))
    receiver.on("*")(lambda e, c: seen.append(e))
    payload = faxplus_payload(event="fax_teleported")
    assert receiver.handle(faxplus_delivery(payload)).status == 200
    (event,) = seen
    assert isinstance(event, GenericEvent)
    assert event.name == "faxplus.fax_teleported"
    assert event.payload == payload


def test_strict_endpoint_answers_422_for_unknown_event() -> None:
    hooks = Receiver()
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"], strict=True))
    response = hooks.handle(faxplus_delivery(faxplus_payload(event="fax_teleported")))
    assert response.status == 422
    assert body_of(response)["error"] == "unknown_event"


def test_missing_field_is_400_naming_it(receiver: Receiver) -> None:
    payload = faxplus_payload()
    del payload["data"]["status"]
    response = receiver.handle(faxplus_delivery(payload))
    assert response.status == 400
    assert body_of(response) == {
        "error": "invalid_payload",
        "detail": "field 'data.status': Field required",
    }


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        (b"{not json", "application/json", 400, "malformed_body"),
        (b"[1, 2]", "application/json", 400, "malformed_body"),
        (b"", "application/json", 400, "malformed_body"),
        (b"\xff\xfe", "application/json", 400, "malformed_body"),
        (b"[" * 100_000, "application/json", 400, "malformed_body"),
        (b"a=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"{}", "", 415, "unsupported_media_type"),
        (b'{"hook": 5}', "application/json", 400, "invalid_payload"),
    ],
)
def test_bad_bodies_get_short_json_errors(
    receiver: Receiver, body: bytes, content_type: str, status: int, error: str
) -> None:
    ran = []
    receiver.on("*")(lambda e, c: ran.append(1))
    response = receiver.handle(faxplus_delivery(body, content_type=content_type))
    assert (response.status, body_of(response)["error"]) == (status, error)
    assert len(response.body) < 300
    assert ran == []


def test_wrong_method_is_405_with_allow(receiver: Receiver) -> None:
    response = receiver.handle(faxplus_delivery(method="GET"))
    assert response.status == 405
    assert ("allow", "POST") in response.headers


def test_unknown_path_is_404_in_process(receiver: Receiver) -> None:
    assert receiver.handle(faxplus_delivery(path="/elsewhere")).status == 404


def test_body_over_limit_is_413_and_rest_is_not_read() -> None:
    hooks = Receiver()
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"], max_body=1000))
    pulled: list[int] = []

    def chunks() -> Any:
        for index in range(100):
            pulled.append(index)
            yield b" " * 600

    delivery = Delivery(
        "POST",
        "/hooks/faxplus",
        headers=Headers([("content-type", "application/json")]),
        peer="127.0.0.1",
        body=chunks(),
    )
    response = hooks.handle(delivery)
    assert response.status == 413
    assert pulled == [0, 1]


def test_rejected_sender_body_is_never_read(receiver: Receiver) -> None:
    def explode() -> Any:
        raise AssertionError("body was read")
        yield b""  # pragma: no cover

    delivery = Delivery(
        "POST",
        "/hooks/faxplus",
        headers=Headers([("content-type", "application/json")]),
        peer="10.9.8.7",
        body=explode(),
    )
    assert receiver.handle(delivery).status == 403


def test_endpoint_without_verification_fails_closed() -> None:
    hooks = Receiver()
    with pytest.raises(ConfigurationError, match="no sender verification"):
        hooks.endpoint("/hooks/faxplus", providers.FaxPlus(ip_preset=False))


def test_explicit_opt_out_warns_at_start(caplog: pytest.LogCaptureFixture) -> None:
    hooks = Receiver()
    with caplog.at_level(logging.WARNING, logger="hookreceiver"):
        hooks.endpoint(
            "/hooks/faxplus",
            providers.FaxPlus(ip_preset=False, insecure_no_verification=True),
        )
    assert "accepts deliveries from anyone" in caplog.text
    assert hooks.handle(faxplus_delivery(peer="203.0.113.9")).status == 200


def test_duplicate_endpoint_path_is_a_configuration_error(receiver: Receiver) -> None:
    with pytest.raises(ConfigurationError, match="registered twice"):
        receiver.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))


def test_exact_paths_share_one_read_only_route(receiver: Receiver) -> None:
    first = receiver.match("/hooks/faxplus")
    assert first is not None and first is receiver.match("/hooks/faxplus")
    assert dict(first.params) == {}
    with pytest.raises(TypeError):
        first.params["event"] = "x"  # type: ignore[index]
    assert receiver.match("/hooks/faxplus/") is None


def test_handler_bug_in_provider_parse_is_500_not_crash(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = receiver.match("/hooks/faxplus").endpoint.provider  # type: ignore[union-attr]

    def broken(*args: Any) -> Any:
        raise KeyError("bug")

    monkeypatch.setattr(provider, "parse", broken)
    response = receiver.handle(faxplus_delivery())
    assert response.status == 500
    assert body_of(response)["error"] == "internal_error"


def test_sync_handler_under_asyncio_runs_off_the_loop(receiver: Receiver) -> None:
    threads: list[int] = []
    receiver.on("*")(lambda e, c: threads.append(threading.get_ident()))

    async def main() -> int:
        await receiver.ahandle(faxplus_delivery())
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert threads and threads[0] != loop_thread


def test_async_handler_under_sync_driver_reuses_one_background_loop(receiver: Receiver) -> None:
    loops: list[int] = []

    @receiver.on("*")
    async def handle(event: Any, ctx: Any) -> None:
        loops.append(id(asyncio.get_running_loop()))

    for _ in range(3):
        assert receiver.handle(faxplus_delivery()).status == 200
    assert len(loops) == 3 and len(set(loops)) == 1


def test_async_and_sync_handlers_both_run_in_async_driver(receiver: Receiver) -> None:
    ran: list[str] = []

    @receiver.on("*")
    async def a(event: Any, ctx: Any) -> None:
        ran.append("async")

    @receiver.on("*")
    def s(event: Any, ctx: Any) -> None:
        ran.append("sync")

    assert asyncio.run(receiver.ahandle(faxplus_delivery())).status == 200
    assert ran == ["async", "sync"]


def test_event_log_line_is_json(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="hookreceiver.events"):
        receiver.handle(faxplus_delivery(faxplus_payload(hook_id="h1")))
    lines = [json.loads(r.message) for r in caplog.records if r.name == "hookreceiver.events"]
    assert lines[0]["event"] == "faxplus.fax_received"
    assert lines[0]["idempotency_key"] == "faxplus:fax_received:h1"
    assert set(lines[0]) == {"event", "provider", "idempotency_key", "delivery_id"}


def _key_state(receiver: Receiver, key: str) -> str:
    claim = receiver.store.claim(key, 60)
    if claim.state.value == "new":
        assert claim.token is not None
        receiver.store.release(key, claim.token)
    return claim.state.value


def test_a_cancelled_async_handler_gives_its_claim_back(receiver: Receiver) -> None:
    started = asyncio.Event()
    runs: list[str] = []

    @receiver.on("*")
    async def slow(event: Any, ctx: Any) -> None:
        runs.append(ctx.idempotency_key)
        if len(runs) == 1:
            started.set()
            await asyncio.sleep(3600)

    payload = faxplus_payload(hook_id="cancel-1")

    async def scenario() -> int:
        task = asyncio.create_task(receiver.ahandle(faxplus_delivery(payload)))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _key_state(receiver, runs[0]) == "new"  # released, not held for the lease
        return (await receiver.ahandle(faxplus_delivery(payload))).status

    assert asyncio.run(scenario()) == 200
    assert len(runs) == 2 and runs[0] == runs[1]


def test_a_cancelled_sync_handler_keeps_its_claim_while_its_thread_runs(
    receiver: Receiver,
) -> None:
    started, finish = threading.Event(), threading.Event()
    keys: list[str] = []

    @receiver.on("*")
    def blocking(event: Any, ctx: Any) -> None:
        keys.append(ctx.idempotency_key)
        started.set()
        finish.wait(10)

    async def scenario() -> str:
        task = asyncio.create_task(receiver.ahandle(faxplus_delivery()))
        while not started.is_set():
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        state = _key_state(receiver, keys[0])
        finish.set()
        return state

    assert asyncio.run(scenario()) == "in_flight"  # the handler still runs: no second run now
