"""Parametrize the conformance suite's tests from each provider's description."""

from __future__ import annotations

import pytest

from .conformance import POLICY_OUTCOMES, ProviderConformance


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    cls = metafunc.cls
    if cls is None or not issubclass(cls, ProviderConformance):
        return
    suite = cls()
    if "example" in metafunc.fixturenames:
        examples = suite.examples()
        metafunc.parametrize("example", examples, ids=[e.id for e in examples])
    if "transport" in metafunc.fixturenames:
        transports = suite.transports()
        metafunc.parametrize("transport", transports, ids=[t.id for t in transports])
    if "outcome" in metafunc.fixturenames:
        metafunc.parametrize("outcome", POLICY_OUTCOMES, ids=[o.value for o in POLICY_OUTCOMES])
