"""Fixtures for the store tests: every store, each on a namespace of its own.

Redis keys get a unique prefix and PostgreSQL a unique table per test, so parallel runs and
leftovers never collide; both are removed afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_kit import (
    Driver,
    Kit,
    PrivateRedis,
    TcpProxy,
    drop_backend,
    memory_kit,
    postgres_kit,
    redis_kit,
    sqlite_kit,
)

ALL = ["memory", "sqlite", "redis", "postgres"]
PERSISTENT = ["sqlite", "redis", "postgres"]


@pytest.fixture
def namespace() -> str:
    """A name no other test run uses."""
    return f"hrtest_{uuid.uuid4().hex[:12]}"


def make_kit(
    request: pytest.FixtureRequest, name: str, namespace: str, tmp_path: Path, **options: object
) -> Kit:
    """A kit for store ``name``; Redis and PostgreSQL skip (or fail on CI) when not configured."""
    if name == "memory":
        return memory_kit()
    if name == "sqlite":
        return sqlite_kit(tmp_path / "claims.db", **options)
    if name == "redis":
        return redis_kit(request.getfixturevalue("redis_url"), f"{namespace}:", **options)
    return postgres_kit(request.getfixturevalue("postgres_dsn"), namespace, **options)


@pytest.fixture(params=ALL)
def kit(request: pytest.FixtureRequest, namespace: str, tmp_path: Path) -> Iterator[Kit]:
    """Each store in turn."""
    made = make_kit(request, request.param, namespace, tmp_path)
    yield made
    made.close()
    drop_backend(made.spec)


@pytest.fixture(params=PERSISTENT)
def persistent_kit(request: pytest.FixtureRequest, namespace: str, tmp_path: Path) -> Iterator[Kit]:
    """Each store that several processes can share."""
    made = make_kit(request, request.param, namespace, tmp_path)
    yield made
    made.close()
    drop_backend(made.spec)


@pytest.fixture(params=["sync", "async"])
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    """The WSGI way (``handle``) and the ASGI way (``ahandle``) of handing in deliveries."""
    made = Driver(request.param)
    yield made
    made.close()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A redis-server of the test's own on a free port, to stop and restart (not the shared one)."""
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_proxy(postgres_dsn: str) -> Iterator[TcpProxy]:
    """A TCP proxy in front of PostgreSQL, to cut and reopen (see :func:`store_kit.through`)."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(postgres_dsn)
    proxy = TcpProxy((str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)))
    proxy.start()
    yield proxy
    proxy.stop()
