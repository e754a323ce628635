"""The untraced async flow (:func:`adeliver`, a coroutine awaiting its own steps) answers every
delivery exactly as the general flow (the ``delivery_flow`` generator driven effect by effect):
same outcome, answer, handler runs, logs and store state, handled or refused, for duplicates,
claims in flight, failing handlers, store outages, stores that do I/O and cancellations. A
trace that times handlers and counts failed store calls (metrics) is told the same things by
it as by the traced driver; a trace that follows every step never takes it."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from typing import Any

import pytest

from hookreceiver import Receiver, StoreUnavailable, providers
from hookreceiver.core.outcome import Outcome
from hookreceiver.delivery import Delivery
from hookreceiver.engine import adispatch, dispatch, drive_async
from hookreceiver.engine import flow as flow_module
from hookreceiver.engine.flow import delivery_flow
from hookreceiver.engine.report import DeliveryReport
from hookreceiver.engine.tracing import drive_async_traced, drive_sync_traced
from hookreceiver.stores import Claim, MemoryStore
from support.payloads import faxplus_delivery, faxplus_payload

KEY = "faxplus:fax_received:async-flow-1"
HANDLER = "_receiver.<locals>.handle"
_ID = re.compile(r"delivery [0-9a-f]{16}")


class _Store(MemoryStore):
    """A memory store that fails as told; ``io``: it says it does I/O (the driven core)."""

    def __init__(self, fault: str = "none", io: bool = False) -> None:
        super().__init__()
        self.fault = fault
        if io:
            self.blocking = True  # type: ignore[misc]

    def claim(self, key: str, lease: float) -> Claim:
        if self.fault == "claim down":
            raise StoreUnavailable("claim refused")
        return super().claim(key, lease)

    async def aclaim(self, key: str, lease: float) -> Claim:
        return self.claim(key, lease)

    def complete(self, key: str, token: str, retain_for: float) -> bool:
        if self.fault == "complete down":
            raise StoreUnavailable("complete refused")
        if self.fault == "lease lost":
            super().release(key, token)
            return False
        return super().complete(key, token, retain_for)

    async def acomplete(self, key: str, token: str, retain_for: float) -> bool:
        return self.complete(key, token, retain_for)

    def release(self, key: str, token: str) -> bool:
        if self.fault == "release down":
            raise StoreUnavailable("release refused")
        return super().release(key, token)

    async def arelease(self, key: str, token: str) -> bool:
        return self.release(key, token)


def _receiver(fault: str, io: bool, ran: list[str], errors: list[str]) -> Receiver:
    hooks = Receiver(store=_Store(fault, io))
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))

    @hooks.on("*")
    async def handle(event: Any, ctx: Any) -> None:
        ran.append(ctx.idempotency_key)
        if fault in ("handler fails", "release down"):
            raise RuntimeError("handler broke")

    @hooks.on_error
    def on_error(exc: BaseException, ctx: Any) -> None:
        errors.append(f"{type(exc).__name__}: {exc}")

    return hooks


async def _general(hooks: Receiver, delivery: Delivery) -> DeliveryReport:
    """The general flow: the generator, every effect through the driver."""
    route = hooks.match(delivery.path)
    assert route is not None
    return await drive_async(delivery_flow(hooks, route, delivery))


class _Timed:
    """A timed trace without steps (what metrics are): records what it is told."""

    steps = False
    timed = True

    def __init__(self, told: list[tuple[str, ...]]) -> None:
        self.told = told

    def phase(self, name: str | None) -> None:
        self.told.append(("phase", str(name)))

    def ran(self, effect: Any, seconds: float, error: BaseException | None) -> None:
        assert seconds >= 0
        self.told.append(("ran", effect.spec.name, type(error).__name__))

    def keeping(self, effect: Any) -> None:
        self.told.append(("keeping", type(effect).__name__))

    def failed(self, effect: Any, error: BaseException) -> None:
        self.told.append(("failed", type(effect).__name__, type(error).__name__))

    def reported(self, report: Any) -> None:
        self.told.append(("reported",))

    def end(self, report: Any, error: BaseException | None = None) -> None:
        self.told.append(("end", type(error).__name__))


class _TimedTracer:
    def __init__(self) -> None:
        self.told: list[tuple[str, ...]] = []

    def start(self, delivery: Any, endpoint: Any, **kwargs: Any) -> _Timed:
        self.told.append(("start",))
        return _Timed(self.told)


async def _general_timed(hooks: Receiver, delivery: Delivery) -> DeliveryReport:
    """The general flow told to a timed trace: every effect through the traced driver."""
    route = hooks.match(delivery.path)
    assert route is not None
    assert isinstance(hooks.tracer, _TimedTracer)
    trace = hooks.tracer.start(delivery, route.endpoint)
    report = await drive_async_traced(delivery_flow(hooks, route, delivery), trace)
    trace.end(report)
    return report


def _general_timed_sync(hooks: Receiver, delivery: Delivery) -> DeliveryReport:
    """The same with blocking I/O: no store called in place (the trace is not handed to the
    flow), every effect through the traced sync driver."""
    route = hooks.match(delivery.path)
    assert route is not None
    assert isinstance(hooks.tracer, _TimedTracer)
    trace = hooks.tracer.start(delivery, route.endpoint)
    report = drive_sync_traced(delivery_flow(hooks, route, delivery), trace)
    trace.end(report)
    return report


def _summary(report: DeliveryReport) -> tuple[Any, ...]:
    return (
        report.outcome,
        report.response.status,
        report.response.body,
        report.response.raw_headers,
        type(report.error).__name__,
        report.event_name,
        report.endpoint,
        report.provider,
    )


def _deliveries(case: str) -> list[Delivery]:
    payload = faxplus_payload(hook_id="async-flow-1")
    if case == "twice":  # the second copy meets the first one's record
        return [faxplus_delivery(payload), faxplus_delivery(payload)]
    if case == "foreign address":
        return [faxplus_delivery(payload, peer="10.9.9.9")]
    if case == "bad json":
        return [faxplus_delivery(b'{"hook": ')]
    if case == "invalid payload":
        return [faxplus_delivery({"hook": {"event": "fax_received"}})]
    if case == "wrong method":
        return [faxplus_delivery(payload, method="PUT")]
    raise AssertionError(case)


def _run(
    case: str,
    fault: str,
    io: bool,
    general: bool,
    caplog: pytest.LogCaptureFixture,
    timed: bool = False,
    sync: bool = False,
) -> tuple[Any, ...]:
    ran: list[str] = []
    errors: list[str] = []
    hooks = _receiver(fault, io, ran, errors)
    tracer = _TimedTracer()
    if timed:
        hooks.tracer = tracer  # type: ignore[assignment]
    if case == "in flight":
        hooks.store.claim(KEY, 30.0)
        deliveries = _deliveries("twice")[:1]
    else:
        deliveries = _deliveries(case)
    caplog.clear()
    reports = []
    with caplog.at_level(logging.INFO, logger="hookreceiver"):
        for delivery in deliveries:
            if sync:  # the sync dispatch (WSGI's), fast path or not
                done = (
                    _general_timed_sync(hooks, delivery) if general else dispatch(hooks, delivery)
                )
                reports.append(_summary(done))
                continue
            if general:
                run = _general_timed(hooks, delivery) if timed else _general(hooks, delivery)
            else:
                run = adispatch(hooks, delivery)
            reports.append(_summary(asyncio.run(run)))
    messages = [
        (record.levelname, _ID.sub("delivery <id>", record.getMessage()))
        for record in caplog.records
        if record.name == "hookreceiver"
    ]
    store = hooks.store
    assert isinstance(store, _Store)
    # What the store says of the key now, past its fault (which stays: a completion kept for
    # the store's return must not be recorded later, in another test's logs).
    state = MemoryStore.claim(store, KEY, 30.0).state
    told = tracer.told
    return reports, ran, errors, messages, KEY in hooks.pending_completions, state, told


CASES = [
    ("twice", "none"),
    ("in flight", "none"),
    ("twice", "handler fails"),
    ("twice", "claim down"),
    ("twice", "complete down"),
    ("twice", "lease lost"),
    ("twice", "release down"),
    ("foreign address", "none"),
    ("bad json", "none"),
    ("invalid payload", "none"),
    ("wrong method", "none"),
]


@pytest.mark.parametrize("io", [False, True], ids=["in-place store", "store with io"])
@pytest.mark.parametrize(("case", "fault"), CASES, ids=[f"{c}, {f}" for c, f in CASES])
def test_the_async_flow_answers_as_the_general_flow(
    case: str, fault: str, io: bool, caplog: pytest.LogCaptureFixture
) -> None:
    fast = _run(case, fault, io, False, caplog)
    general = _run(case, fault, io, True, caplog)
    assert fast == general


@pytest.mark.parametrize("io", [False, True], ids=["in-place store", "store with io"])
@pytest.mark.parametrize(("case", "fault"), CASES, ids=[f"{c}, {f}" for c, f in CASES])
def test_a_timed_trace_is_told_as_the_traced_driver_tells_it(
    case: str, fault: str, io: bool, caplog: pytest.LogCaptureFixture
) -> None:
    fast = _run(case, fault, io, False, caplog, timed=True)
    general = _run(case, fault, io, True, caplog, timed=True)
    assert fast == general
    assert fast[:-1] == _run(case, fault, io, False, caplog)[:-1]  # told, not changed


@pytest.mark.parametrize(("case", "fault"), CASES, ids=[f"{c}, {f}" for c, f in CASES])
def test_a_timed_trace_is_told_alike_by_the_sync_fast_path(
    case: str, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Under blocking I/O (WSGI), a timed trace lets the memory store be called in place: the
    answers, and what the trace is told, are those of every effect driven."""
    fast = _run(case, fault, False, False, caplog, timed=True, sync=True)
    general = _run(case, fault, False, True, caplog, timed=True, sync=True)
    assert fast == general
    assert fast[-1] == _run(case, fault, False, False, caplog, timed=True)[-1]


def test_the_timed_traces_differ(caplog: pytest.LogCaptureFixture) -> None:
    """What the timed trace is told differs by case (so the comparison compares something)."""
    told = {
        (case, fault): _run(case, fault, False, False, caplog, timed=True)[-1]
        for case, fault in CASES
    }
    assert ("ran", HANDLER, "NoneType") in told[("twice", "none")]
    assert ("ran", HANDLER, "RuntimeError") in told[("twice", "handler fails")]
    assert ("failed", "ClaimKey", "StoreUnavailable") in told[("twice", "claim down")]
    assert ("failed", "CompleteKey", "StoreUnavailable") in told[("twice", "complete down")]
    assert ("failed", "ReleaseKey", "StoreUnavailable") in told[("twice", "release down")]
    assert not any(t[0] == "ran" for t in told[("foreign address", "none")])


def test_the_cases_differ(caplog: pytest.LogCaptureFixture) -> None:
    """Each case above ends differently (so the comparison compares something)."""
    seen = {(case, fault): _run(case, fault, False, False, caplog) for case, fault in CASES}
    first = {key: result[0][0][:2] for key, result in seen.items()}
    assert first[("twice", "none")] == (Outcome.HANDLED, 200)
    assert seen[("twice", "none")][0][1][0] == Outcome.DUPLICATE
    assert first[("in flight", "none")][0] == Outcome.IN_FLIGHT
    assert first[("twice", "handler fails")][0] == Outcome.HANDLER_FAILED
    assert seen[("twice", "handler fails")][2] == ["RuntimeError: handler broke"] * 2
    assert first[("twice", "claim down")][0] == Outcome.STORE_UNAVAILABLE
    assert seen[("twice", "complete down")][4] is True  # its completion waits for the store
    assert seen[("twice", "complete down")][0][1][0] == Outcome.DUPLICATE
    assert any("ran out" in text for _, text in seen[("twice", "lease lost")][3])
    assert first[("foreign address", "none")][0] == Outcome.REJECTED
    assert seen[("foreign address", "none")][1] == []
    assert first[("invalid payload", "none")][0] == Outcome.INVALID_PAYLOAD
    assert first[("wrong method", "none")][1] == 405


class _Trace:
    steps = True
    timed = False

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def phase(self, name: str | None) -> None:
        pass

    def enter(self, effect: Any) -> object:
        self.seen.append(type(effect).__name__)
        return None

    def exit(self, entered: object, error: BaseException | None) -> None:
        pass

    def reported(self, report: Any) -> None:
        pass

    def end(self, report: Any, error: BaseException | None = None) -> None:
        pass


class _Tracer:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def start(self, delivery: Any, endpoint: Any, **kwargs: Any) -> _Trace:
        return _Trace(self.seen)


def test_a_trace_with_steps_never_takes_the_async_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[str] = []
    original = flow_module.adeliver

    async def spy(*args: Any) -> DeliveryReport:
        taken.append("adeliver")
        return await original(*args)

    monkeypatch.setattr(sys.modules["hookreceiver.engine.dispatch"], "adeliver", spy)
    hooks = _receiver("none", False, [], [])
    delivery = faxplus_delivery(faxplus_payload(hook_id="traced-1"))
    assert asyncio.run(adispatch(hooks, delivery)).outcome is Outcome.HANDLED
    assert taken == ["adeliver"]
    tracer = _Tracer()
    hooks.tracer = tracer  # type: ignore[assignment]
    delivery = faxplus_delivery(faxplus_payload(hook_id="traced-2"))
    assert asyncio.run(adispatch(hooks, delivery)).outcome is Outcome.HANDLED
    assert taken == ["adeliver"]  # not again
    assert tracer.seen  # the effects went through the traced driver
    hooks.tracer = _TimedTracer()  # type: ignore[assignment]
    delivery = faxplus_delivery(faxplus_payload(hook_id="traced-3"))
    assert asyncio.run(adispatch(hooks, delivery)).outcome is Outcome.HANDLED
    assert taken == ["adeliver", "adeliver"]  # a timed trace without steps takes it


@pytest.mark.parametrize("timed", [False, True], ids=["untraced", "timed trace"])
@pytest.mark.parametrize("general", [False, True], ids=["async flow", "general flow"])
def test_a_cancelled_async_handler_gives_its_claim_back(general: bool, timed: bool) -> None:
    hooks = Receiver(store=MemoryStore())
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    tracer = _TimedTracer()
    if timed:
        hooks.tracer = tracer  # type: ignore[assignment]

    async def main() -> str:
        entered = asyncio.Event()

        @hooks.on("*")
        async def slow(event: Any, ctx: Any) -> None:
            entered.set()
            await asyncio.sleep(60)

        delivery = faxplus_delivery(faxplus_payload(hook_id="async-flow-1"))
        if general:
            run = _general_timed(hooks, delivery) if timed else _general(hooks, delivery)
        else:
            run = adispatch(hooks, delivery)
        task = asyncio.ensure_future(run)
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return hooks.store.claim(KEY, 30.0).state.value

    assert asyncio.run(main()) == "new"  # released: the sender's retry is handled at once
    ran = [(t[0], t[1].rsplit(".", 1)[-1], t[2]) for t in tracer.told if t[0] == "ran"]
    assert ran == ([("ran", "slow", "CancelledError")] if timed else [])


def test_a_timed_trace_calls_the_memory_store_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the sync comparison above compares: dispatch with a timed trace takes the fast
    path (the claim called in place), the flow driven without the trace does not."""
    from hookreceiver.engine import handling

    calls: list[str] = []
    original = handling._claim_now

    def spy(*args: Any) -> Any:
        calls.append("in place")
        return original(*args)

    monkeypatch.setattr(handling, "_claim_now", spy)
    hooks = _receiver("none", False, [], [])
    hooks.tracer = _TimedTracer()  # type: ignore[assignment]
    assert dispatch(hooks, faxplus_delivery(faxplus_payload(hook_id="sync-1"))).outcome is (
        Outcome.HANDLED
    )
    assert calls == ["in place"]
    delivery = faxplus_delivery(faxplus_payload(hook_id="sync-2"))
    assert _general_timed_sync(hooks, delivery).outcome is Outcome.HANDLED
    assert calls == ["in place"]  # not again
