"""Fixtures of the security tests (the helpers live in ``security_support``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from security_support import ADAPTERS, Clock, Request, Result, Seen

from hookreceiver import Receiver


@pytest.fixture(params=sorted(ADAPTERS))
def adapter(request: pytest.FixtureRequest) -> Callable[[Receiver, Request], Result]:
    """Each test using it runs once through the ASGI adapter and once through the WSGI one."""
    return ADAPTERS[request.param]


@pytest.fixture
def clock() -> Clock:
    """A clock at ``NOW``."""
    return Clock()


@pytest.fixture
def seen() -> Seen:
    """A fresh record of handler calls."""
    return Seen()
