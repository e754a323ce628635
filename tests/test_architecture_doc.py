"""docs/architecture.md is the map of the code: every module and name it points at exists."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "architecture.md").read_text()
PACKAGE = ROOT / "src" / "hookreceiver"


def test_every_file_the_page_names_exists() -> None:
    named = set(re.findall(r"`((?:[a-z_]+/)*[a-z_]+\.py)`", DOC))
    assert len(named) > 15
    missing = sorted(
        path
        for path in named
        if "<" not in path and not (PACKAGE / path).exists() and not (ROOT / path).exists()
    )
    assert missing == []


def test_the_walk_names_the_functions_that_do_each_step() -> None:
    for module, names in {
        "hookreceiver.engine.dispatch": ["dispatch", "adispatch"],
        "hookreceiver.engine.handling": ["new_context"],
        "hookreceiver.engine.effects": ["ReadBody", "ClaimKey", "CompleteKey", "ReleaseKey"],
        "hookreceiver.engine.report": ["DeliveryReport"],
        "hookreceiver.core.protocols": ["ReceiverState"],
        "hookreceiver.core.provider": ["ProviderProtocol"],
        "hookreceiver.security.base": ["GuardBase", "GuardOrder", "as_guard"],
    }.items():
        loaded = importlib.import_module(module)
        for name in names:
            assert hasattr(loaded, name), f"{module}.{name}"
            assert f"`{name}" in DOC or name in DOC, name


def test_the_layers_table_is_the_contract() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    for package in ("engine", "core", "parsing", "security", "stores", "providers", "adapters"):
        assert f"`{package}/`" in DOC
        assert package in pyproject
