"""Names renamed because they misled (docs/architecture.md, "Names"): the old public spelling
still works, warns, and gives the same thing as the new one."""

from __future__ import annotations

import pytest

from hookreceiver import DeliveryContext, Receiver, providers
from hookreceiver.testing import FakeClock, WebhookClient, updox
from hookreceiver.testing import retries as retries_module


def _context(hooks: Receiver) -> DeliveryContext:
    seen: list[DeliveryContext] = []
    hooks.on("updox.*")(lambda event, ctx: seen.append(ctx))
    WebhookClient(hooks).send(updox.inbound_fax(), peer="198.51.100.7")
    return seen[0]


def test_context_client_is_the_resolved_sender_and_peer_is_its_deprecated_name() -> None:
    hooks = Receiver()
    hooks.endpoint("/hooks/updox/{event}", providers.Updox(allow_ips=["198.51.100.0/24"]))
    ctx = _context(hooks)
    assert ctx.client == "198.51.100.7"
    with pytest.warns(DeprecationWarning, match=r"ctx\.client"):
        assert ctx.peer == "198.51.100.7"


def test_testing_replay_is_the_deprecated_name_of_send_with_retries() -> None:
    hooks = Receiver()
    hooks.endpoint("/hooks/updox/{event}", providers.Updox(allow_ips=["198.51.100.0/24"]))
    calls: list[str] = []
    hooks.on("updox.*")(lambda event, ctx: calls.append(ctx.delivery_id))
    client = WebhookClient(hooks)
    fresh = retries_module.send_with_retries(updox.inbound_fax(), client, clock=FakeClock())
    with pytest.warns(DeprecationWarning, match="send_with_retries"):
        old_run = retries_module.replay(updox.inbound_fax(), client, clock=FakeClock())
    assert old_run.statuses == fresh.statuses == [200]
    assert len(calls) == 2


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_testing_areplay_is_the_deprecated_name_of_asend_with_retries(
    anyio_backend: str,
) -> None:
    hooks = Receiver()
    hooks.endpoint("/hooks/updox/{event}", providers.Updox(allow_ips=["198.51.100.0/24"]))
    with pytest.warns(DeprecationWarning, match="asend_with_retries"):
        run = await retries_module.areplay(updox.inbound_fax(), WebhookClient(hooks))
    assert run.statuses == [200]
