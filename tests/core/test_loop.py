"""The background event loop that runs async handlers for WSGI threads."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from hookreceiver.core.loop import run_in_background_loop


async def _double_after_sleeping(value: int) -> int:
    await asyncio.sleep(0.001)
    return value * 2


async def _fails() -> None:
    await asyncio.sleep(0)
    raise LookupError("fax archive unreachable")


def test_result_comes_back_to_the_calling_thread() -> None:
    assert run_in_background_loop(_double_after_sleeping(21)) == 42


def test_exception_is_raised_in_the_calling_thread() -> None:
    with pytest.raises(LookupError, match="fax archive unreachable"):
        run_in_background_loop(_fails())


def test_runs_on_one_loop_in_another_thread() -> None:
    async def where() -> tuple[int, int]:
        return threading.get_ident(), id(asyncio.get_running_loop())

    first, second = run_in_background_loop(where()), run_in_background_loop(where())
    assert first == second and first[0] != threading.get_ident()


def test_many_threads_at_once_each_get_their_own_result() -> None:
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda n: run_in_background_loop(_double_after_sleeping(n)), range(200))
        )
    assert results == [n * 2 for n in range(200)]


def test_a_task_the_handler_leaves_behind_keeps_running_on_the_loop() -> None:
    done = threading.Event()

    async def notify() -> None:
        await asyncio.sleep(0.01)
        done.set()

    async def handler() -> None:
        asyncio.get_running_loop().create_task(notify())  # fire and forget

    run_in_background_loop(handler())
    assert done.wait(2)
