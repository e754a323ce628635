"""Fixtures for the core tests: a receiver with a Fax.Plus endpoint."""

from __future__ import annotations

import pytest

from hookreceiver import Receiver, providers


@pytest.fixture
def receiver() -> Receiver:
    """A receiver with a Fax.Plus endpoint that allows 127.0.0.1."""
    hooks = Receiver()
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    return hooks
