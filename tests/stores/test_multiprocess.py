"""Exactly once across processes: real worker processes serving HTTP share one store.

Two workers run the ASGI app under uvicorn (the store's async methods), two the WSGI app under
a threading server (the sync methods). Handlers append each run to one file outside the
workers; the test counts the lines.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from store_kit import Kit, Worker, faxplus_body, handled_keys, start_workers

pytestmark = pytest.mark.slow

DELIVERIES = 2000
DUPLICATE_SHARE = 0.3
CONCURRENCY = 48
HEADERS = {"content-type": "application/json"}


def plan(seed: int) -> list[str]:
    """2,000 hook ids, 30 % of them repeats; most repeats right after the original, so they
    race on another worker while the first run is still in its handler."""
    rng = random.Random(seed)
    unique = [f"mp{seed}x{i:05d}" for i in range(round(DELIVERIES * (1 - DUPLICATE_SHARE)))]
    order = list(unique)
    for _ in range(DELIVERIES - len(unique)):
        hook_id = rng.choice(unique)
        at = order.index(hook_id) + 1 if rng.random() < 0.7 else rng.randrange(len(order))
        order.insert(at, hook_id)
    return order


async def deliver_all(order: list[str], workers: list[Worker]) -> tuple[Counter[str], int]:
    """Send every delivery (worker chosen round robin); retry the in-flight 503s until 200."""
    outcomes: Counter[str] = Counter()
    in_flight = 0
    limit = asyncio.Semaphore(CONCURRENCY)
    timeout = httpx.Timeout(20.0)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:

        async def send(index: int, hook_id: str) -> None:
            nonlocal in_flight
            body = faxplus_body(hook_id)
            for attempt in range(200):
                worker = workers[(index + attempt) % len(workers)]
                async with limit:
                    try:
                        response = await client.post(worker.url, content=body, headers=HEADERS)
                    except httpx.HTTPError as exc:
                        raise AssertionError(f"{worker.kind} worker: {exc!r}") from exc
                answer = (response.status_code, response.json().get("status"))
                if answer[0] == 200:
                    outcomes[str(answer[1])] += 1
                    return
                assert answer == (503, "in_flight"), f"{worker.kind} worker: {response.text}"
                in_flight += 1
                await asyncio.sleep(0.05)
            raise AssertionError(f"{hook_id} never got past in flight")

        await asyncio.gather(*(send(i, hook_id) for i, hook_id in enumerate(order)))
    return outcomes, in_flight


def test_four_workers_handle_each_unique_event_exactly_once(
    persistent_kit: Kit, tmp_path: Path
) -> None:
    order = plan(seed=len(persistent_kit.name))
    unique = set(order)
    workers = start_workers(
        ["asgi", "wsgi", "asgi", "wsgi"], persistent_kit.spec, tmp_path, lease=60, delay=0.02
    )
    try:
        started = time.monotonic()
        outcomes, in_flight = asyncio.run(deliver_all(order, workers))
        elapsed = time.monotonic() - started
    finally:
        for worker in workers:
            worker.stop()
    runs = Counter(handled_keys(tmp_path))
    assert set(runs) == {f"faxplus:fax_received:{hook_id}" for hook_id in unique}
    assert max(runs.values()) == 1, [key for key, n in runs.items() if n > 1][:5]
    assert outcomes == {"handled": len(unique), "duplicate": DELIVERIES - len(unique)}
    assert in_flight > 0  # duplicates did race the first run on other workers
    print(f"{persistent_kit.name}: {DELIVERIES} deliveries in {elapsed:.1f} s, {in_flight} x 503")


def test_worker_killed_in_its_handler_is_retried_once_after_the_lease(
    persistent_kit: Kit, tmp_path: Path
) -> None:
    lease = 1.5
    doomed, survivor = start_workers(["asgi", "wsgi"], persistent_kit.spec, tmp_path, lease=lease)
    body = faxplus_body("crash-1")
    key = "faxplus:fax_received:crash-1"
    block = tmp_path / "block"
    block.touch()

    def first_delivery() -> None:
        try:
            httpx.post(doomed.url, content=body, headers=HEADERS, timeout=30)
        except httpx.HTTPError:
            pass  # the worker dies mid-request

    sender = threading.Thread(target=first_delivery, daemon=True)
    try:
        sender.start()
        deadline = time.monotonic() + 10
        while not (tmp_path / "started.log").read_text():
            assert time.monotonic() < deadline, "the handler never started"
            time.sleep(0.01)
        claimed_by = time.monotonic()
        doomed.kill()  # SIGKILL: no finally, no release
        block.unlink()
        sender.join(10)

        retry = httpx.post(survivor.url, content=body, headers=HEADERS, timeout=10)
        assert (retry.status_code, retry.json()["status"]) == (503, "in_flight")
        while True:
            retry = httpx.post(survivor.url, content=body, headers=HEADERS, timeout=10)
            if retry.status_code == 200:
                break
            assert retry.json()["status"] == "in_flight"
            assert time.monotonic() - claimed_by < lease + 5
            time.sleep(0.1)
        assert time.monotonic() - claimed_by >= lease - 0.2
        assert retry.json()["status"] == "handled"
        again = httpx.post(survivor.url, content=body, headers=HEADERS, timeout=10)
        assert json.loads(again.content)["status"] == "duplicate"
    finally:
        doomed.kill()
        survivor.stop()
    assert (tmp_path / "started.log").read_text().split() == [key]
    assert handled_keys(tmp_path) == [key]
