"""Adding a provider is one provider module, one factory module and one test module.

A toy provider is written to a temporary directory as those three files, exactly as a new
provider would be, and registered only through the public mechanisms (subclassing ``Provider``,
``factories.register``, or the entry point groups of an installed package). Without editing any
other file it is then served by a Receiver, built by the factories' look-ups by name, replayed on
its own retry schedule, listed by ``hookreceiver events`` and fired by the demo machinery.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner

from hookreceiver import ConfigurationError, DeliveryContext, Receiver, providers
from hookreceiver.cli import main
from hookreceiver.providers import registry
from hookreceiver.providers.base import Provider
from hookreceiver.testing import (
    FakeClock,
    WebhookClient,
    factories,
    make,
    schedule_for,
    send_with_retries,
)
from hookreceiver.testing.demo import _fire, event_steps, render

ROOT = Path(__file__).resolve().parents[2]

# The three files of a new provider. The provider module: a Provider subclass naming itself.
PROVIDER_MODULE = '''
"""Toy: JSON {"event", "id"} from 192.0.2.0/24; retries 5xx."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from hookreceiver import Delivery, GenericEvent, Outcome, ParsedEvent
from hookreceiver.parsing.body import Body
from hookreceiver.parsing.json import decode_json_object
from hookreceiver.providers.base import DEFAULT_STATUSES, Provider


class Toy(Provider):
    name: ClassVar[str] = "toy"
    ip_preset: ClassVar[tuple[str, ...]] = ("192.0.2.0/24",)
    events: ClassVar[frozenset[str]] = frozenset({"toy.ping", "toy.pong"})
    statuses: ClassVar[Mapping[Outcome, int]] = {**DEFAULT_STATUSES, Outcome.HANDLER_FAILED: 503}

    def parse(self, delivery: Delivery, params: Mapping[str, str], body: Body) -> ParsedEvent:
        payload = decode_json_object(body.raw)
        event = f"toy.{payload['event']}"
        model = GenericEvent(provider="toy", name=event, payload=payload)
        return ParsedEvent(event, "toy", f"toy:{payload['id']}", model)
'''

# The factory module: events as Toy sends them, its retry schedule, registered by itself.
FACTORY_MODULE = '''
"""Toy deliveries; Toy retries a 5xx 3 times, 30 s apart (its documents say so)."""

from __future__ import annotations

from typing import Any

from hookreceiver.testing import factories
from hookreceiver.testing.factories._base import next_number, post_json, transport_of
from hookreceiver.testing.schedules import RetrySchedule

PROVIDER = "toy"
IP_PRESET = ("192.0.2.0/24",)
DEFAULT_PATH = "/hooks/toy"


def _event(event: str, path=None, url=None, sender=None, basic_auth=None, headers=None,
           user_agent="Toy/1.0", signer=None, signed_context=None, **fields: Any):
    transport = transport_of(locals())
    payload = {"event": event, "id": next_number(), **fields}
    return post_json(PROVIDER, event, payload, default_path=DEFAULT_PATH, preset=IP_PRESET,
                     transport=transport)


def ping(**kwargs: Any):
    return _event("ping", **kwargs)


def pong(**kwargs: Any):
    return _event("pong", **kwargs)


EVENTS = {"ping": ping, "pong": pong}
DEMO_VARIANTS = {"pong": ("loud", {"volume": 11})}


def retry_schedule() -> RetrySchedule:
    return RetrySchedule(PROVIDER, (30.0,) * 3, retry_status=lambda status: status >= 500)


factories.register(__name__)
'''

# The test module: the provider's own tests, through the hookreceiver pytest plugin.
TEST_MODULE = """
import pytest
import toy_factories
from toy_provider import Toy

from hookreceiver import Receiver

FAILURES = []


@pytest.fixture
def webhook_app():
    hooks = Receiver()
    hooks.endpoint("/hooks/toy", Toy())

    @hooks.on("toy.ping")
    def ping(event, ctx):
        if len(FAILURES) < 2:
            FAILURES.append(ctx.event_name)
            raise RuntimeError("down for a minute")

    return hooks


def test_ping_is_retried_until_handled(send_with_retries):
    run = send_with_retries(toy_factories.ping())
    assert run.statuses == [503, 503, 200] and run.delivered


def test_pong_is_handled(deliver):
    assert deliver(toy_factories.pong()).outcome == "handled"
"""


def write_toy(where: Path) -> None:
    """The three files of the toy provider, as a new provider's author writes them."""
    (where / "toy_provider.py").write_text(textwrap.dedent(PROVIDER_MODULE))
    (where / "toy_factories.py").write_text(textwrap.dedent(FACTORY_MODULE))
    (where / "test_toy.py").write_text(textwrap.dedent(TEST_MODULE))


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[type, ModuleType]]:
    """The toy provider class and its factory module, imported from their files; the toy
    leaves the registries afterwards, so no other test sees it."""
    write_toy(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        provider = importlib.import_module("toy_provider")
        yield provider.Toy, importlib.import_module("toy_factories")
    finally:
        registry._classes.pop("toy", None)
        factories._registered.pop("toy", None)
        sys.modules.pop("toy_provider", None)
        sys.modules.pop("toy_factories", None)


def toy_receiver(toy_class: type, failures: int = 0) -> tuple[Receiver, list[str]]:
    hooks, seen = Receiver(), []
    hooks.endpoint("/hooks/toy", toy_class())

    @hooks.on("*")
    def anything(event: Any, ctx: DeliveryContext) -> None:
        seen.append(ctx.event_name)
        if len(seen) <= failures:
            raise RuntimeError("down for a minute")

    return hooks, seen


def test_the_toy_provider_is_registered_by_defining_it(toy: tuple[type, ModuleType]) -> None:
    toy_class, toy_factories = toy
    assert registry.provider_class("toy") is toy_class
    assert providers.provider_class("toy") is toy_class
    assert "toy" in providers.provider_names() and "toy" in factories.PROVIDERS
    assert factories.provider_module("toy") is toy_factories


def test_a_receiver_serves_it_and_the_factories_build_it_by_name(
    toy: tuple[type, ModuleType],
) -> None:
    hooks, seen = toy_receiver(toy[0])
    delivery = make("toy", "toy.pong", extra="x")
    assert delivery.provider == "toy" and delivery.path == "/hooks/toy"
    result = WebhookClient(hooks).send(delivery)
    assert (result.status, result.outcome, seen) == (200, "handled", ["toy.pong"])


def test_it_is_replayed_on_its_own_retry_schedule(toy: tuple[type, ModuleType]) -> None:
    schedule = schedule_for("toy")
    assert (schedule.provider, schedule.delays) == ("toy", (30.0, 30.0, 30.0))
    hooks, seen = toy_receiver(toy[0], failures=2)
    clock = FakeClock()
    run = send_with_retries(make("toy", "ping"), WebhookClient(hooks), clock=clock)
    assert run.statuses == [503, 503, 200] and run.delivered
    assert clock.elapsed == 60.0 and seen == ["toy.ping"] * 3


def test_hookreceiver_events_lists_it(toy: tuple[type, ModuleType]) -> None:
    runner = CliRunner()
    listed = runner.invoke(main, ["events"]).output.splitlines()
    assert "toy: ping, pong" in listed and "documo: fax.inbound" in listed[0]
    assert runner.invoke(main, ["events", "toy"]).output == "toy: ping, pong\n"


def test_the_demo_machinery_fires_every_event_of_it(toy: tuple[type, ModuleType]) -> None:
    hooks, seen = toy_receiver(toy[0])
    steps = event_steps(hooks)
    assert [(s.delivery.event, s.case) for s in steps] == [("toy.ping", ""), ("toy.pong", "loud")]
    assert steps[1].delivery.payload["volume"] == 11
    _fire(steps, WebhookClient(hooks))
    assert [step.got for step in steps] == [200, 200] and seen == ["toy.ping", "toy.pong"]
    assert "toy.pong  loud" in render(steps)


def test_a_provider_taking_a_name_already_taken_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="'documo' is taken by"):

        class Impostor(Provider):
            name = "documo"

    class LikeFaxPlus(providers.FaxPlus):  # keeps its parent's name: registers nothing
        pass

    class NamedLikeFaxPlus(providers.FaxPlus):  # restates it: a tweaked copy, nothing either
        name = "faxplus"

    assert registry.provider_class("faxplus") is providers.FaxPlus
    assert registry.provider_class("documo") is providers.Documo


def test_an_installed_package_announces_it_by_entry_points(tmp_path: Path) -> None:
    """A separate process finds the toy with nothing imported by hand: the entry points of an
    installed package (a dist-info on the path) announce its provider and factory modules, and
    the toy's own test module runs under the hookreceiver pytest plugin."""
    write_toy(tmp_path)
    dist = tmp_path / "toy_pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-pkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[hookreceiver.providers]\ntoy = toy_provider:Toy\n\n"
        "[hookreceiver.factories]\ntoy = toy_factories\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT / "src")])}

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert "toy: ping, pong" in run("-m", "hookreceiver.cli", "events").splitlines()
    names = "from hookreceiver.providers import provider_class as c; print(c('toy').__module__)"
    assert run("-c", names) == "toy_provider\n"
    assert "2 passed" in run("-m", "pytest", "-q", "-p", "no:cacheprovider", "test_toy.py")


def test_the_kits_all_provider_receiver_serves_it_with_no_line_added(
    toy: tuple[type, ModuleType],
) -> None:
    from five_providers import SIGNING_KEY, build_receiver

    from hookreceiver.security import URLSigner
    from hookreceiver.stores import MemoryStore

    hooks, seen = build_receiver(MemoryStore(), URLSigner([SIGNING_KEY]))
    result = WebhookClient(hooks).send(make("toy", "ping"))
    assert (result.status, seen.names) == (200, ["toy.ping"])


def test_every_listed_provider_name_resolves_to_its_class() -> None:
    # A module of providers/ holding no provider must be named in registry._SUPPORT.
    names = providers.provider_names()
    assert {"documo", "faxplus", "updox", "wirecloud", "zipwhip"} <= set(names)
    for name in names:
        assert registry.provider_class(name).name == name
    with pytest.raises(registry.UnknownProvider, match=r"Known: .*documo, faxplus"):
        registry.provider_class("nobody")


def test_listing_the_providers_imports_none_of_them() -> None:
    # `hookreceiver events` and tab completion list names: no provider module, no pydantic.
    code = (
        "import sys\n"
        "from hookreceiver.providers import provider_names\n"
        "from hookreceiver.testing import PROVIDERS\n"
        "assert list(PROVIDERS) == provider_names(), (list(PROVIDERS), provider_names())\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pydantic', 'hookreceiver.pro'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "['hookreceiver.providers', 'hookreceiver.providers.registry']\n"
