"""The memory store's claim and settle called in place (untraced) decide exactly as the effects
a traced delivery yields: same answers, same logs, same store state, for every store fault."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest

from hookreceiver import Receiver, StoreUnavailable, providers
from hookreceiver.engine.effects import ClaimKey, CompleteKey, Effect, ReleaseKey
from hookreceiver.stores import Claim, MemoryStore
from support.payloads import faxplus_delivery, faxplus_payload


class _FaultyMemory(MemoryStore):
    """A store that does no I/O (so the fast path applies) and fails as told."""

    def __init__(self, fault: str) -> None:
        super().__init__()
        self.fault = fault

    def claim(self, key: str, lease: float) -> Claim:
        if self.fault == "claim down":
            raise StoreUnavailable("claim refused")
        return super().claim(key, lease)

    def complete(self, key: str, token: str, retain_for: float) -> bool:
        if self.fault == "complete down":
            raise StoreUnavailable("complete refused")
        if self.fault == "lease lost":
            super().release(key, token)
            return False
        return super().complete(key, token, retain_for)

    def release(self, key: str, token: str) -> bool:
        if self.fault == "release down":
            raise StoreUnavailable("release refused")
        return super().release(key, token)


class _Trace:
    steps = True  # told of every effect: the store's effects must still come through
    timed = False

    def __init__(self, seen: list[type[Effect[Any]]]) -> None:
        self.seen = seen

    def phase(self, name: str | None) -> None:
        pass

    def enter(self, effect: Effect[Any]) -> object:
        self.seen.append(type(effect))
        return None

    def exit(self, entered: object, error: BaseException | None) -> None:
        pass

    def ran(self, effect: Any, seconds: float, error: BaseException | None) -> None:
        pass

    def keeping(self, effect: Any) -> None:
        pass

    def failed(self, effect: Any, error: BaseException) -> None:
        pass

    def reported(self, report: Any) -> None:
        pass

    def end(self, report: Any, error: BaseException | None = None) -> None:
        pass


class _Tracer:
    def __init__(self) -> None:
        self.seen: list[type[Effect[Any]]] = []

    def start(self, delivery: Any, endpoint: Any, **kwargs: Any) -> _Trace:
        return _Trace(self.seen)


def _run(fault: str, traced: bool, caplog: pytest.LogCaptureFixture, run_async: bool) -> Any:
    store = _FaultyMemory(fault)
    hooks = Receiver(store=store)
    tracer = _Tracer()
    if traced:
        hooks.tracer = tracer
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    ran: list[str] = []

    @hooks.on("*")
    def handle(event: Any, ctx: Any) -> None:
        ran.append(ctx.idempotency_key)
        if fault in ("handler fails", "release down"):
            raise RuntimeError("handler broke")

    statuses = []
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="hookreceiver"):
        for _ in range(2):  # the second copy meets the first one's record
            delivery = faxplus_delivery(faxplus_payload(hook_id="fast-path-1"))
            if run_async:
                response = asyncio.run(hooks.ahandle(delivery))
            else:
                response = hooks.handle(delivery)
            statuses.append((response.status, response.body))
    messages = [
        (record.levelname, _ID.sub("delivery <id>", record.getMessage()))
        for record in caplog.records
        if record.name == "hookreceiver"
    ]
    key = "faxplus:fax_received:fast-path-1"
    return statuses, ran, messages, key in hooks.pending_completions, tracer.seen


_ID = re.compile(r"delivery [0-9a-f]{16}")
FAULTS = ["none", "claim down", "complete down", "lease lost", "handler fails", "release down"]


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("fault", FAULTS)
def test_untraced_memory_store_decides_as_the_effects_do(
    fault: str, run_async: bool, caplog: pytest.LogCaptureFixture
) -> None:
    fast = _run(fault, False, caplog, run_async)
    effects = _run(fault, True, caplog, run_async)
    assert fast[:4] == effects[:4]
    assert fast[4] == []  # untraced: nobody saw an effect
    # Traced, the store's steps are still effects a tracer is told of.
    assert ClaimKey in effects[4]
    if fault in ("handler fails", "release down"):
        assert ReleaseKey in effects[4]
    elif fault != "claim down":
        assert CompleteKey in effects[4]


def test_the_faults_are_seen(caplog: pytest.LogCaptureFixture) -> None:
    """Each fault above changes the answer or the log (so the comparison compares something)."""
    results = {fault: _run(fault, False, caplog, False) for fault in FAULTS}
    assert results["none"][0][0][0] == 200
    assert results["none"][1] == ["faxplus:fax_received:fast-path-1"]
    assert results["claim down"][0][0][0] == 503 and results["claim down"][1] == []
    assert results["complete down"][3] is True  # its completion waits for the store
    assert any("ran out" in text for _, text in results["lease lost"][2])
    assert len(results["handler fails"][1]) == 2  # released: the retry runs it again
    assert any("store unavailable after" in text for _, text in results["release down"][2])
