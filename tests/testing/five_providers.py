"""A receiver serving every provider that has factories, for the tests of hookreceiver.testing."""

from __future__ import annotations

from typing import Any

from hookreceiver import DeliveryContext, Receiver, providers
from hookreceiver.security import URLSigner
from hookreceiver.stores import MemoryStore
from hookreceiver.testing import PROVIDERS

DOCUMO_AUTH = ("documo", "s3cret-documo")
SIGNING_KEY = "a-signing-key-of-at-least-16-bytes"
#: Wirecloud and Updox publish no addresses; the factories send from these TEST-NET ranges.
WIRECLOUD_NET = "203.0.113.0/24"
UPDOX_NET = "198.51.100.0/24"


class Seen:
    """What the catch-all handler received."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, DeliveryContext]] = []

    @property
    def names(self) -> list[str]:
        return [ctx.event_name for _, ctx in self.events]


def build_receiver(store: MemoryStore, signer: URLSigner) -> tuple[Receiver, Seen]:
    hooks = Receiver(store=store)
    hooks.endpoint("/hooks/documo/{event}", providers.Documo(basic_auth=[DOCUMO_AUTH]))
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus())
    hooks.endpoint("/hooks/updox/{event}", providers.Updox(allow_ips=[UPDOX_NET]))
    hooks.endpoint("/hooks/signed/updox/{event}", providers.Updox(signed_urls=signer))
    hooks.endpoint("/hooks/wirecloud", providers.Wirecloud(allow_ips=[WIRECLOUD_NET]))
    hooks.endpoint("/hooks/zipwhip/{event}", providers.Zipwhip())
    # Any other provider (one added later) at its factories' default path, allowing the
    # addresses they send from: a new provider needs no line here.
    served = {endpoint.provider.name for endpoint in hooks.router.endpoints}
    for name, module in PROVIDERS.items():
        if name not in served:
            provider = providers.provider_class(name)(allow_ips=module.IP_PRESET)
            hooks.endpoint(module.DEFAULT_PATH, provider)
    seen = Seen()

    @hooks.on("*")
    def everything(event: Any, ctx: DeliveryContext) -> None:
        seen.events.append((event, ctx))

    return hooks, seen
