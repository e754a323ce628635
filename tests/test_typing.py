"""mypy checks a handler's event parameter against the model it is registered for."""

from __future__ import annotations

from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

GOOD = """
from hookreceiver import DeliveryContext, Receiver
from hookreceiver.providers.faxplus import FaxPage, FaxPageReceived, FaxReceived

hooks = Receiver()

@hooks.on(FaxReceived)
def received(event: FaxReceived, ctx: DeliveryContext) -> None:
    print(event.data.pages, ctx.delivery_id)

@hooks.on(FaxPageReceived)
async def page(event: FaxPage, ctx: DeliveryContext) -> None:
    print(event.hook.id)

@hooks.on("faxplus.*")
def anything(event: object, ctx: DeliveryContext) -> None:
    print(event)
"""

BAD = """
from hookreceiver import DeliveryContext, Receiver
from hookreceiver.providers.faxplus import FaxReceived, FaxSent

hooks = Receiver()

@hooks.on(FaxReceived)
def received(event: FaxSent, ctx: DeliveryContext) -> None:
    print(event.data.pages)
"""


def run_mypy(tmp_path: Path, source: str) -> tuple[str, int]:
    path = tmp_path / "snippet.py"
    path.write_text(source)
    out, err, status = api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(path)]
    )
    return out + err, status


def test_well_typed_handlers_pass_mypy_strict(tmp_path: Path) -> None:
    output, status = run_mypy(tmp_path, GOOD)
    assert status == 0, output


def test_handler_for_the_wrong_model_is_a_type_error(tmp_path: Path) -> None:
    output, status = run_mypy(tmp_path, BAD)
    assert status == 1
    assert "snippet.py:7" in output and "FaxSent" in output


EFFECTS = """
from collections.abc import Generator
from typing import Any

from hookreceiver.engine import Effect, perform
from hookreceiver.engine.effects import ClaimKey
from hookreceiver.stores import MemoryStore


def flow() -> Generator[Effect[Any], None, str]:
    claiming = ClaimKey(MemoryStore(), "key", 60.0)
    yield claiming
    state: str = claiming.result
    token: int = yield from perform(ClaimKey(MemoryStore(), "key", 60.0))
    return state
"""


def test_mypy_checks_the_result_of_every_effect(tmp_path: Path) -> None:
    output, status = run_mypy(tmp_path, EFFECTS)
    assert status == 1
    assert "snippet.py:13" in output and "snippet.py:14" in output, output
    assert output.count('"Claim"') == 2, output
