"""The demo's deliveries: every event of every provider the app serves (from the registry of
providers), then the ones that must be refused, each a :class:`Step` with its expected status."""

from __future__ import annotations

import importlib
import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...core.protocols import ReceiverState
from .. import factories
from ..factories import documo, faxplus, updox, wirecloud, zipwhip
from ..factories._base import SimulatedDelivery
from ..results import DeliveryResult

__all__ = [
    "CONSOLE_USER",
    "DEMO_USER",
    "ORDER",
    "OVERSIZED",
    "DemoError",
    "Step",
    "demo_environment",
    "event_steps",
    "load_app",
    "plan",
]

DEMO_USER = "demo"
#: The largest body an endpoint takes by default is 1 MiB; this one is over it.
OVERSIZED = 1024 * 1024 + 64 * 1024


class DemoError(Exception):
    """The demo could not run (the app would not import or start); the message says why."""


@dataclass
class Step:
    """One delivery of the demo and what should become of it."""

    case: str
    delivery: SimulatedDelivery
    expect: int
    runs_handler: bool = True
    result: DeliveryResult | None = None
    error: str | None = None
    saw: list[dict[str, Any]] = field(default_factory=list)

    @property
    def got(self) -> int | None:
        """The status answered, or ``None`` when no answer came."""
        return None if self.result is None else self.result.status

    @property
    def ok(self) -> bool:
        """Whether the status is the expected one, and handlers ran only when they should."""
        return self.got == self.expect and (bool(self.saw) or not self.runs_handler)


#: The demo console's user (its password is fresh each run, and printed).
CONSOLE_USER = "operator"


def demo_environment(port: int, workdir: str) -> dict[str, str]:
    """The environment variables that configure the example apps for the demo."""
    return {
        "DOCUMO_BASIC_AUTH": f"{DEMO_USER}:{secrets.token_urlsafe(12)}",
        "UPDOX_URL_KEYS": secrets.token_urlsafe(32),
        "WIRECLOUD_URL_KEYS": secrets.token_urlsafe(32),
        "HOOKRECEIVER_STORE": "memory",
        "HOOKRECEIVER_INBOX": "sqlite:///" + os.path.join(workdir, "inbox.db"),
        "HOOKRECEIVER_TRUSTED_PROXIES": "127.0.0.1",
        "HOOKRECEIVER_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "HOOKRECEIVER_CONSOLE_AUTH": f"{CONSOLE_USER}:{secrets.token_urlsafe(12)}",
    }


def load_app(spec: str) -> Any:
    """Import ``module:attribute`` from the current directory, as uvicorn does.

    Raises:
        DemoError: not ``module:attribute``, or it does not import.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise DemoError(f"--app must be module:attribute, not {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        value: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise DemoError(f"importing {spec!r} failed: {exc}") from None  # a dependency
        raise DemoError(
            f"cannot load {spec!r} ({exc}); run the demo from the repository root, where "
            "examples/ is, or pass --app module:attribute"
        ) from None
    except AttributeError as exc:
        raise DemoError(f"cannot load {spec!r}: {exc}") from None
    except Exception as exc:  # the app's own start-up failed: say how
        raise DemoError(f"importing {spec!r} failed: {type(exc).__name__}: {exc}") from None
    return value


def _place(
    hooks: ReceiverState, provider: str, *, forged: bool = False, named: bool = False
) -> dict[str, Any]:
    """Where a provider's delivery goes: ``path=`` the endpoint, and for an endpoint behind
    signed URLs the app's own ``signer=``, with which the factory signs the URL for its event
    (``forged``: a signer with a key the app does not have; ``named``: an endpoint whose path
    names the event, for events whose body does not).

    Raises:
        DemoError: the app serves no such endpoint for ``provider``.
    """
    from ...security.signed_urls import SignedURLGuard, URLSigner

    for endpoint in hooks.router.endpoints:
        if endpoint.provider.name != provider or (named and "{event}" not in endpoint.path):
            continue
        place: dict[str, Any] = {"path": endpoint.path}
        for guard in endpoint.provider.guards:
            if isinstance(guard, SignedURLGuard):
                stranger = URLSigner(secrets.token_urlsafe(32), expires_in=None) if forged else None
                place["signer"] = stranger or guard.signer
        return place
    if named:
        raise DemoError(f"the app has no {provider} endpoint with {{event}} in its path")
    raise DemoError(f"the app has no {provider} endpoint; the demo needs all five providers")


#: Where the built-in providers appear in the demo (by what verifies them: the sender's address,
#: then basic auth, then signed URLs); any other provider the app serves follows, by name.
ORDER = ("faxplus", "zipwhip", "documo", "updox", "wirecloud")


def _served(hooks: ReceiverState) -> list[str]:
    """The providers ``hooks`` serves that have factories (found in the registry), in
    :data:`ORDER`."""
    names = {endpoint.provider.name for endpoint in hooks.router.endpoints}
    return sorted(
        (name for name in names if name in factories.PROVIDERS),
        key=lambda name: (ORDER.index(name) if name in ORDER else len(ORDER), name),
    )


def _case(named: bool, place: dict[str, Any]) -> str:
    if named:
        return "event named by the URL"
    return "signed URL" if "signer" in place else ""


def event_steps(
    hooks: ReceiverState, credentials: Mapping[str, tuple[str, str]] | None = None
) -> list[Step]:
    """A delivery of every event of every provider ``hooks`` serves, found in the registry of
    providers (each factory module's ``EVENTS``, ``DEMO_VARIANTS`` and ``NAMED_BY_URL``), all
    expected to be handled. ``credentials``: the basic-auth pair to send, by provider."""
    steps: list[Step] = []
    for provider in _served(hooks):
        module = factories.PROVIDERS[provider]
        variants: Mapping[str, tuple[str, dict[str, Any]]] = getattr(module, "DEMO_VARIANTS", {})
        named_by_url: frozenset[str] = getattr(module, "NAMED_BY_URL", frozenset())
        for event, make in module.EVENTS.items():
            named = event in named_by_url
            place = _place(hooks, provider, named=named)
            case, kwargs = variants.get(event, (_case(named, place), {}))
            if credentials and provider in credentials:
                kwargs = {"basic_auth": credentials[provider], **kwargs}
            steps.append(Step(case, make(**kwargs, **place), 200))
    return steps


def plan(hooks: ReceiverState, documo_auth: tuple[str, str]) -> list[Step]:
    """The demo's deliveries: every event of every provider, then the ones that must be
    refused."""
    steps = event_steps(hooks, {"documo": documo_auth})
    at_documo = _place(hooks, "documo")  # the refusals need their providers: DemoError if not
    fax_in = next(step.delivery for step in steps if step.delivery.event == "documo.fax.inbound")
    forged = updox.inbound_fax(**_place(hooks, "updox", forged=True))
    kazoo = _place(hooks, "wirecloud", named=True)
    # A token signed for channel_create carrying a channel_destroy: a signed URL binds its event.
    other_event = kazoo["signer"].url(
        "http://demo.invalid", kazoo["path"], {"event": "channel_create"}
    )
    wrong_password = (documo_auth[0], "guess")
    return [
        *steps,
        Step("same again: duplicate", fax_in, 200, runs_handler=False),
        Step(
            "spoofed sender",
            zipwhip.receive(sender="203.0.113.66", **_place(hooks, "zipwhip")),
            403,
            runs_handler=False,
        ),
        Step(
            "wrong password",
            documo.fax_outbound(basic_auth=wrong_password, **at_documo),
            401,
            runs_handler=False,
        ),
        Step("URL signed with a wrong key", forged, 403, runs_handler=False),
        Step(
            "URL signed for channel_create",
            wirecloud.channel_destroy(url=other_event),
            403,
            runs_handler=False,
        ),
        Step(
            "1.06 MiB body",
            faxplus.fax_sent(file_name="x" * OVERSIZED, **_place(hooks, "faxplus")),
            413,
            runs_handler=False,
        ),
    ]
