"""Retry schedules replayed on a fake clock, duplicates and out-of-order posts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from five_providers import DOCUMO_AUTH

from hookreceiver import DeliveryContext, Receiver, providers
from hookreceiver.providers._common import make_key
from hookreceiver.stores import MemoryStore
from hookreceiver.testing import (
    FakeClock,
    RetryRun,
    WebhookClient,
    asend_with_retries,
    documo,
    duplicate,
    faxplus,
    out_of_order,
    schedule_for,
    send_with_retries,
    updox,
    wirecloud,
    zipwhip,
)
from hookreceiver.testing.retries import kazoo_schedule


def _failing(times: int, provider: providers.Provider, path: str) -> tuple[Receiver, list[int]]:
    """A receiver whose only handler fails its first ``times`` calls."""
    hooks = Receiver(store=MemoryStore())
    hooks.endpoint(path, provider)
    calls: list[int] = []

    @hooks.on("*")
    def flaky(event: Any, ctx: DeliveryContext) -> None:
        calls.append(1)
        if len(calls) <= times:
            raise RuntimeError("not yet")

    return hooks, calls


def test_documo_schedule_in_simulated_time() -> None:
    hooks, calls = _failing(3, providers.Documo(basic_auth=[DOCUMO_AUTH]), "/hooks/documo")
    clock = FakeClock()
    delivery = documo.fax_inbound(basic_auth=DOCUMO_AUTH)
    run = send_with_retries(delivery, WebhookClient(hooks), clock=clock)
    assert run.statuses == [500, 500, 500, 200]
    assert [a.at for a in run.attempts] == [0, 5, 30, 150]
    assert (run.delivered, run.stopped) == (True, "delivered")
    assert clock.elapsed == 150 and len(calls) == 4
    assert [c.error is None for c in run.calls] == [False, False, False, True]


def test_documo_gives_up_after_seven_retries_and_says_what_follows() -> None:
    hooks, calls = _failing(99, providers.Documo(basic_auth=[DOCUMO_AUTH]), "/hooks/documo")
    run = send_with_retries(documo.fax_inbound(basic_auth=DOCUMO_AUTH), WebhookClient(hooks))
    assert len(run.attempts) == 8 and run.stopped == "exhausted"
    assert run.attempts[-1].at == 5 + 25 + 120 + 600 + 3120 + 14400 + 79200
    assert "e-mails" in run.reason and len(calls) == 8


def test_updox_drops_4xx_at_once_and_retries_5xx_every_five_minutes() -> None:
    hooks, calls = _failing(2, providers.Updox(allow_ips=["198.51.100.0/24"]), "/u/{event}")
    client = WebhookClient(hooks)
    run = send_with_retries(updox.inbound_fax(), client)
    assert run.statuses == [503, 503, 200]
    assert [a.at for a in run.attempts] == [0, 300, 600]
    dropped = send_with_retries(updox.inbound_fax(faxId=...), client)
    assert (dropped.statuses, dropped.stopped) == ([400], "dropped")
    assert "does not retry status 400" in dropped.reason
    assert schedule_for("updox").attempts == 16


def test_kazoo_retries_only_transport_errors_two_seconds_apart() -> None:
    hooks, calls = _failing(99, providers.Wirecloud(allow_ips=["203.0.113.0/24"]), "/k")
    client = WebhookClient(hooks)
    failed_handler = send_with_retries(wirecloud.channel_create(), client)
    # 200 even though the handler failed: Kazoo would never retry any other answer.
    assert (failed_handler.statuses, failed_handler.delivered) == ([200], True)

    refused_twice = send_with_retries(
        wirecloud.channel_create(), client, schedule=kazoo_schedule(3), transport_errors=2
    )
    assert refused_twice.statuses == [None, None, 200]
    assert [a.at for a in refused_twice.attempts] == [0, 2, 4]

    never = send_with_retries(wirecloud.channel_create(), client, transport_errors=5)
    assert (never.statuses, never.stopped) == ([None, None], "exhausted")
    with pytest.raises(ValueError, match="1 to 5"):
        kazoo_schedule(6)


def test_kazoo_counts_only_200_as_success() -> None:
    refused = Receiver()
    refused.endpoint("/k", providers.Wirecloud(allow_ips=["192.0.2.1"]))
    run = send_with_retries(wirecloud.channel_create(), WebhookClient(refused))
    assert (run.statuses, run.stopped, run.delivered) == ([403], "dropped", False)


def test_providers_without_documented_retries_try_once() -> None:
    hooks, _ = _failing(99, providers.FaxPlus(), "/f")
    run = send_with_retries(faxplus.fax_sent(), WebhookClient(hooks))
    assert (run.statuses, run.stopped) == ([500], "exhausted")
    assert schedule_for("zipwhip").attempts == 1 and schedule_for("nobody").attempts == 1


def test_lease_expiry_follows_the_fake_clock(webhook_clock: FakeClock) -> None:
    """A claim left by a crashed worker blocks retries until its lease runs out."""
    store = MemoryStore(clock=webhook_clock)
    hooks = Receiver(store=store, lease=600)
    hooks.endpoint("/hooks/documo", providers.Documo(basic_auth=[DOCUMO_AUTH]))
    ran: list[str] = []
    hooks.on("*")(lambda event, ctx: ran.append(ctx.event_name))
    delivery = documo.fax_inbound(basic_auth=DOCUMO_AUTH)
    # A worker that died mid-handler: its claim is in flight.
    store.claim(make_key("documo", "fax.inbound", delivery.payload["messageId"]), 600)
    run = send_with_retries(delivery, WebhookClient(hooks), clock=webhook_clock)
    # 5 s, 30 s, 150 s, 750 s: the lease (600 s) has expired by the fifth attempt.
    assert run.statuses == [503, 503, 503, 503, 200]
    assert ran == ["documo.fax.inbound"]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_asend_with_retries_from_async_code(anyio_backend: str) -> None:
    hooks, calls = _failing(1, providers.Zipwhip(), "/z/{event}")
    schedule = schedule_for("documo")
    client = WebhookClient(hooks)
    run: RetryRun = await asend_with_retries(zipwhip.receive(), client, schedule=schedule)
    assert run.statuses == [500, 200] and len(calls) == 2


def test_duplicates_run_the_handler_once(deliver: WebhookClient) -> None:
    results = deliver.send_all(duplicate(zipwhip.receive(), times=3))
    assert [r.outcome for r in results] == ["handled", "duplicate", "duplicate"]
    assert [len(r.calls or []) for r in results] == [1, 0, 0]


def test_out_of_order_extended_statuses_never_downgrade_the_final_one(
    deliver: WebhookClient, hooks: Receiver
) -> None:
    posts = documo.outbound_extended_sequence(basic_auth=DOCUMO_AUTH)
    shuffled = out_of_order(posts, seed=7)
    assert shuffled[-1] is not posts[-1] and sorted(map(id, shuffled)) == sorted(map(id, posts))
    results = deliver.send_all(shuffled)
    sent = [post.payload["status"] for post in shuffled]
    final = sent.index("success")  # never last: a non-final status arrives after it
    assert final < len(sent) - 1
    handled = [r.events[0].status for r in results if r.outcome == "handled"]
    assert handled == sent[: final + 1]  # each status up to the final one, once
    assert [r.outcome for r in results[final + 1 :]] == ["duplicate"] * (len(sent) - final - 1)
    assert all(not r.calls for r in results[final + 1 :])
    assert out_of_order(posts, [3, 2, 1, 0]) == posts[::-1]
    with pytest.raises(ValueError, match="permutation"):
        out_of_order(posts, [0, 0, 1, 2])


def test_fake_clock() -> None:
    clock = FakeClock(100)
    clock.sleep(5)
    assert clock() == clock.time() == 105 and clock.elapsed == 5
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_before_attempt_hook_sees_each_attempt() -> None:
    hooks, _ = _failing(1, providers.FaxPlus(), "/f")
    seen: list[int] = []
    hook: Callable[[int], None] = seen.append
    send_with_retries(
        faxplus.fax_sent(),
        WebhookClient(hooks),
        schedule=schedule_for("documo"),
        before_attempt=hook,
    )
    assert seen == [1, 2]
