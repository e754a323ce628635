"""Helpers of the inbox tests: Kazoo deliveries, a fake clock, receivers with an inbox."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from hookreceiver import Delivery, Headers, Receiver, providers
from hookreceiver.inbox import Inbox

_calls = itertools.count(1)
FORM = "application/x-www-form-urlencoded"
KAZOO = "/hooks/kazoo"


class FakeClock:
    """Wall-clock seconds that only move when told to."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def kazoo_fields(hook_event: str = "channel_destroy", **fields: Any) -> dict[str, Any]:
    """A Kazoo channel event's form fields, unique per call."""
    base: dict[str, Any] = {
        "account_id": "91eb05e5c68d7ca05e7618b6821d2d16",
        "call_direction": "inbound",
        "call_id": f"call-{next(_calls)}",
        "caller_id_number": "+15556783945",
        "hook_event": hook_event,
        "timestamp": "63724349409",
    }
    if hook_event == "channel_destroy":
        base |= {"hangup_cause": "NORMAL_CLEARING", "duration_seconds": "6"}
    base.update(fields)
    return base


def kazoo_body(hook_event: str = "channel_destroy", **fields: Any) -> bytes:
    """A Kazoo form body (``format: form-data``, the default)."""
    return urlencode(kazoo_fields(hook_event, **fields)).encode()


KAZOO_HEADERS = (("content-type", FORM), ("x-hook-id", "hook-1"), ("x-account-id", "acct-1"))


def kazoo_delivery(
    body: bytes | None = None, *, extra: tuple[tuple[str, str], ...] = ()
) -> Delivery:
    """An in-process Kazoo delivery from 127.0.0.1."""
    return Delivery(
        "POST",
        KAZOO,
        headers=Headers([*KAZOO_HEADERS, *extra]),
        peer="127.0.0.1",
        body=kazoo_body() if body is None else body,
    )


def kazoo_receiver(inbox: Inbox | None, **options: Any) -> Receiver:
    """A receiver with a Wirecloud/Kazoo endpoint that allows 127.0.0.1."""
    options.setdefault("worker", False)
    hooks = Receiver(inbox=inbox, **options)
    hooks.endpoint(KAZOO, providers.Wirecloud(allow_ips=["127.0.0.1"]))
    return hooks


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``condition`` until true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)
