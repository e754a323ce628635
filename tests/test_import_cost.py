"""What importing a provider or the receiver loads (issue 14), checked without a clock.

bench/ times the imports; here each runs in a fresh interpreter and the modules it loaded are
listed. Pydantic's field machinery (loaded by defining any model), the providers' models, the
normalized views, asyncio and the engine load on first use (a parse, a look-up of a model's name,
``Receiver()``), not with ``from hookreceiver.providers import FaxPlus`` or
``from hookreceiver import Receiver``.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from hookreceiver import providers

PROVIDERS = ["Documo", "FaxPlus", "Updox", "Wirecloud", "Zipwhip"]

#: What a provider's import must not load: defining a pydantic model loads the first three.
LATER = (
    "pydantic.fields",
    "pydantic.types",
    "annotated_types",
    "hookreceiver.providers.types",
    "hookreceiver.providers.normalized",
    "hookreceiver.core.generic",
    "hashlib",
    "logging",
    "asyncio",
    "hookreceiver.engine",
    "hookreceiver.stores.memory",
    "hookreceiver.security.allowlist",
)


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds once it has run ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def models_modules(modules: set[str]) -> set[str]:
    return {m for m in modules if m.startswith("hookreceiver.providers.") and m.endswith(".models")}


@pytest.mark.parametrize("name", PROVIDERS)
def test_importing_a_provider_defines_no_model(name: str) -> None:
    loaded = loaded_after(f"from hookreceiver.providers import {name}")
    assert f"hookreceiver.providers.{name.lower()}" in loaded
    assert not loaded & set(LATER)
    assert not models_modules(loaded)


def test_importing_the_receiver_and_a_provider_loads_no_engine_and_no_model() -> None:
    loaded = loaded_after(
        "from hookreceiver import Receiver\nfrom hookreceiver.providers import FaxPlus"
    )
    assert "hookreceiver.receiver" in loaded
    assert not loaded & (set(LATER) - {"logging"})
    assert not models_modules(loaded)


def test_naming_a_model_defines_the_models() -> None:
    # The probe sees what it looks for: a model's name loads its module and pydantic's fields.
    loaded = loaded_after("from hookreceiver.providers.faxplus import FaxSent")
    assert {
        "pydantic.fields",
        "hookreceiver.providers.faxplus.models",
        "hookreceiver.providers.normalized",
    } <= loaded
    assert "hookreceiver.providers.documo.models" not in loaded


def test_building_a_receiver_loads_the_engine() -> None:
    loaded = loaded_after("from hookreceiver import Receiver\nReceiver()")
    assert {"hookreceiver.engine", "hookreceiver.stores.memory", "asyncio"} <= loaded


def test_the_first_parse_defines_the_models_it_validates_with() -> None:
    """Nothing names a model before the first delivery: the parse loads them, and the
    handlers get the typed model and the normalized view as always."""
    code = """
import json
from hookreceiver import Receiver
from hookreceiver.delivery import Delivery, Headers
from hookreceiver.providers import FaxPlus

hooks = Receiver()
hooks.endpoint("/f", FaxPlus(allow_ips=["127.0.0.1"]))
seen = []
hooks.on("faxplus.fax_sent")(lambda event, ctx: seen.append(type(event).__qualname__))
hooks.on("fax.sent")(lambda view, ctx: seen.append((type(view).__qualname__, view.status)))
body = json.dumps({
    "hook": {"id": "h1", "event": "fax_sent", "event_time": "2024-09-09 10:44:39"},
    "data": {"id": "h1", "status": "success"},
}).encode()
headers = Headers([("content-type", "application/json")])
response = hooks.handle(Delivery("POST", "/f", headers=headers, peer="127.0.0.1", body=body))
assert response.status == 200, response
print(json.dumps(seen))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(done.stdout.splitlines()[-1]) == ["FaxSent", ["FaxEvent", "success"]]


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_provider_module_shows_its_models_as_before(name: str) -> None:
    """The names a provider module lists are there (loaded on first look-up); its events and
    event models are those of its models module."""
    cls = getattr(providers, name)
    module = importlib.import_module(cls.__module__)
    models = importlib.import_module(f"{cls.__module__}.models")
    for public in module.__all__:
        assert getattr(module, public) is not None
    assert set(module.__all__) <= set(dir(module))
    for public in set(models.__all__) & set(module.__all__):
        assert getattr(module, public) is getattr(models, public)
        assert getattr(models, public).__module__ == models.__name__
    assert set(module.__all__) - set(models.__all__) <= {name, "Kazoo"}
    table = models._MODELS
    assert cls.events == frozenset(f"{cls.name}.{event}" for event in table)
    assert dict(cls.event_models) == {f"{cls.name}.{event}": m for event, m in table.items()}
    with pytest.raises(AttributeError):
        module.NoSuchModel  # noqa: B018


def test_generic_event_is_where_it_was() -> None:
    import hookreceiver
    from hookreceiver.core import GenericEvent as from_core
    from hookreceiver.core.events import GenericEvent as from_events

    assert from_events is from_core is hookreceiver.GenericEvent
    with pytest.raises(AttributeError):
        importlib.import_module("hookreceiver.core.events").NoSuchName  # noqa: B018
