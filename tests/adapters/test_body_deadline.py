"""The ASGI body deadline is armed only by a read that has to wait: a body that is there
already costs no timer, and any read that waits (on its first message or a later one, through
a coroutine or another awaitable) still ends in a 408 at its deadline."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hookreceiver import Receiver, providers
from hookreceiver.adapters.asgi import ASGIMiddleware
from support.payloads import faxplus_payload

PAYLOAD = json.dumps(faxplus_payload()).encode()
Receive = Callable[[], Awaitable[dict[str, Any]]]


def make_app(body_timeout: float | None = 0.3) -> tuple[Receiver, ASGIMiddleware]:
    hooks = Receiver(body_timeout=body_timeout)
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    hooks.on("*")(lambda event, ctx: None)
    app = hooks.asgi_app
    assert isinstance(app, ASGIMiddleware)
    return hooks, app


def scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/hooks/faxplus",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
    }


async def call(app: ASGIMiddleware, receive: Receive) -> tuple[int, float]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    started = time.monotonic()
    await app(scope(), receive, send)
    return sent[0]["status"], time.monotonic() - started


def chunks(*parts: bytes) -> list[dict[str, Any]]:
    return [
        {"type": "http.request", "body": part, "more_body": index < len(parts) - 1}
        for index, part in enumerate(parts)
    ]


def test_a_body_that_is_there_already_arms_no_deadline() -> None:
    _, app = make_app()
    messages = chunks(PAYLOAD[:10], PAYLOAD[10:])

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def main() -> tuple[int, float]:
        return await call(app, receive)

    status, _ = asyncio.run(main())
    assert status == 200
    assert messages == []
    # The loop's deadlines were never even looked up: no read waited.
    assert app._deadlines is None


def test_a_read_that_waits_is_watched_and_let_go_when_it_ends() -> None:
    _, app = make_app(body_timeout=30)
    messages = chunks(PAYLOAD[:10], PAYLOAD[10:])

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.01)  # every message makes the read wait
        return messages.pop(0)

    async def main() -> tuple[int, float]:
        return await call(app, receive)

    status, elapsed = asyncio.run(main())
    assert status == 200
    deadlines = app._deadlines
    assert deadlines is not None and deadlines.timeout == 30
    assert deadlines._reads == {}  # unwatched at the end of the read


def test_a_stall_after_a_first_message_that_was_there_is_a_408() -> None:
    _, app = make_app(body_timeout=0.3)
    calls = 0

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:  # the first half comes with the headers, the rest never
            return chunks(PAYLOAD[:10], b"")[0]
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def main() -> tuple[int, float]:
        return await call(app, receive)

    status, elapsed = asyncio.run(main())
    assert status == 408
    assert 0.25 < elapsed < 5
    assert calls == 2


def test_a_receive_that_is_no_coroutine_is_bounded_too() -> None:
    _, app = make_app(body_timeout=0.3)

    def receive() -> asyncio.Future[dict[str, Any]]:
        return asyncio.get_running_loop().create_future()  # never answered

    async def main() -> tuple[int, float]:
        return await call(app, receive)

    status, elapsed = asyncio.run(main())
    assert status == 408
    assert 0.25 < elapsed < 5


def test_a_receive_that_is_no_coroutine_and_answers_is_read() -> None:
    _, app = make_app()
    messages = chunks(PAYLOAD[:10], PAYLOAD[10:])

    def receive() -> asyncio.Future[dict[str, Any]]:
        future = asyncio.get_running_loop().create_future()
        future.set_result(messages.pop(0))
        return future

    async def main() -> tuple[int, float]:
        return await call(app, receive)

    assert asyncio.run(main())[0] == 200
    assert messages == []


def test_a_waiting_receive_gets_every_value_and_exception_the_task_sends_it() -> None:
    # The read runs receive up to its first wait itself, then hands the rest to the task:
    # what receive awaits afterwards (a second wait, a caught exception) behaves as under await.
    _, app = make_app(body_timeout=30)
    seen: list[str] = []

    async def receive() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        first = loop.create_future()
        loop.call_soon(first.set_result, "one")
        seen.append(await first)
        failing = loop.create_future()
        loop.call_soon(failing.set_exception, KeyError("two"))
        try:
            await failing
        except KeyError as exc:
            seen.append(str(exc))
        await asyncio.sleep(0)  # a bare yield to the loop
        return chunks(PAYLOAD)[0]

    async def main() -> tuple[int, float]:
        return await call(app, receive)

    assert asyncio.run(main())[0] == 200
    assert seen == ["one", "'two'"]


def test_a_cancelled_read_that_waits_cancels_its_receive() -> None:
    _, app = make_app(body_timeout=30)
    cancelled: list[bool] = []

    async def receive() -> dict[str, Any]:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        raise AssertionError("unreachable")

    async def main() -> None:
        task = asyncio.ensure_future(call(app, receive))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        deadlines = app._deadlines
        assert deadlines is not None and deadlines._reads == {}

    asyncio.run(main())
    assert cancelled == [True]


def test_without_a_timeout_a_waiting_read_is_not_bounded() -> None:
    _, app = make_app(body_timeout=None)

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return chunks(PAYLOAD)[0]

    async def main() -> tuple[int, float]:
        return await call(app, receive)

    assert asyncio.run(main())[0] == 200
    assert app._deadlines is None
