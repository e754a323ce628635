"""Shared fixtures. Redis and PostgreSQL tests talk to real servers named by environment
variables, and skip with a clear reason where those are unset (never on CI: .ci/run sets both)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

REDIS_URL = os.environ.get("HOOKRECEIVER_REDIS_URL")
POSTGRES_DSN = os.environ.get("HOOKRECEIVER_POSTGRES_DSN")


def _required_on_ci(name: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{name} must be set on CI (see .ci/run)")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The Redis server's URL, from HOOKRECEIVER_REDIS_URL."""
    if not REDIS_URL:
        _required_on_ci("HOOKRECEIVER_REDIS_URL")
        pytest.skip("HOOKRECEIVER_REDIS_URL is not set: no Redis to test against")
    yield REDIS_URL


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    """The PostgreSQL DSN, from HOOKRECEIVER_POSTGRES_DSN."""
    if not POSTGRES_DSN:
        _required_on_ci("HOOKRECEIVER_POSTGRES_DSN")
        pytest.skip("HOOKRECEIVER_POSTGRES_DSN is not set: no PostgreSQL to test against")
    yield POSTGRES_DSN
