"""A dedup store in Redis, for fleets of workers on several hosts.

Each call is one round trip: a small Lua script (sent by SHA, atomic on the server) reads the
key and acts on it. A key holds ``i<token>`` while in flight and ``d<token>`` once done, with a
Redis expiry (``PX``) of the lease or the retention: Redis drops expired keys itself, so no
clean-up job exists and clocks of the worker hosts never matter.

Needs the ``redis`` extra (``pip install 'hookreceiver[redis]'``).
"""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING, Any

from ..errors import StoreUnavailable
from .base import Claim, ClaimState, Store

try:
    import redis as _redis
    import redis.asyncio as _aredis
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as _RedisConnectionError
    from redis.exceptions import RedisError
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("RedisStore needs redis-py: pip install 'hookreceiver[redis]'") from exc

if TYPE_CHECKING:
    from redis.asyncio.client import Redis as AsyncRedis
    from redis.client import Redis as SyncRedis

__all__ = ["RedisStore"]

_NEW, _DONE, _IN_FLIGHT = 0, 1, 2

# KEYS[1] the key; ARGV[1] a fresh token, ARGV[2] the lease in ms. 0 new, 1 done, 2 in flight.
_CLAIM = """
local v = redis.call('GET', KEYS[1])
if v then
  if string.sub(v, 1, 1) == 'd' then return 1 end
  return 2
end
redis.call('SET', KEYS[1], 'i' .. ARGV[1], 'PX', ARGV[2])
return 0
"""
# KEYS[1] the key; ARGV[1] the owner's token, ARGV[2] the retention in ms. A free key is marked
# too: the claim expired (or a restart lost it) and nobody took it over, and the handlers ran.
_COMPLETE = """
local v = redis.call('GET', KEYS[1])
if not v or v == 'i' .. ARGV[1] then
  redis.call('SET', KEYS[1], 'd' .. ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
# KEYS[1] the key; ARGV[1] the owner's token, ARGV[2] the new lease in ms.
_RENEW = """
if redis.call('GET', KEYS[1]) == 'i' .. ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# KEYS[1] the key; ARGV[1] the owner's token.
_RELEASE = """
if redis.call('GET', KEYS[1]) == 'i' .. ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# KEYS[1] the key. Milliseconds left on its in-flight claim; 0 when it is free or done.
_LEASE_LEFT = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 1) == 'i' then
  local left = redis.call('PTTL', KEYS[1])
  if left > 0 then return left end
end
return 0
"""
_STATES = {_NEW: ClaimState.NEW, _DONE: ClaimState.DONE, _IN_FLIGHT: ClaimState.IN_FLIGHT}


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisStore(Store):
    """Dedup in Redis (redis-py): one atomic round trip per call, sync and async.

    Give a URL and the store makes its clients lazily (a sync one for WSGI, an async one per
    event loop for ASGI), with short timeouts so that an outage is answered within
    ``socket_timeout`` rather than hanging the sender; or pass your own clients.

    Args:
        url: ``redis://[:password@]host:port/db`` (or ``rediss://``, ``unix://``).
        client: a ``redis.Redis`` to use for sync calls instead of one made from ``url``.
        async_client: a ``redis.asyncio.Redis`` for async calls (bound to your event loop).
        prefix: put before every key, so several apps (or test runs) share one database.
        socket_timeout: seconds to connect and to wait for an answer before the store reports
            itself unavailable.
        client_options: further keyword arguments for the clients made from ``url``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: SyncRedis | None = None,
        async_client: AsyncRedis | None = None,
        prefix: str = "hookreceiver:",
        socket_timeout: float = 2.0,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        if url is None and client is None and async_client is None:
            raise ValueError("RedisStore needs a url or a client")
        self.prefix = prefix
        self._url = url
        self._options: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": socket_timeout,
            **(client_options or {}),
        }
        self._client = client
        self._own_client = client is None
        self._async_client = async_client
        self._own_async_client = async_client is None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._scripts: tuple[Any, Any, Any, Any] | None = None
        self._async_scripts: tuple[Any, Any, Any, Any] | None = None

    # Clients ----------------------------------------------------------------------------------

    def _sync_scripts(self) -> tuple[Any, Any, Any, Any]:
        if self._scripts is None:
            if self._client is None:
                if self._url is None:
                    raise StoreUnavailable("RedisStore has no sync client (give url or client)")
                # One quick retry without back-off mends a pooled connection the server closed
                # (a restart); a server that stays down is reported at once.
                retry = Retry(NoBackoff(), 1, (_RedisConnectionError,))
                self._client = _redis.Redis.from_url(self._url, retry=retry, **self._options)
            client = self._client
            self._scripts = tuple(  # type: ignore[assignment]
                client.register_script(s) for s in (_CLAIM, _COMPLETE, _RELEASE, _RENEW)
            )
        assert self._scripts is not None
        return self._scripts

    def _loop_scripts(self) -> tuple[Any, Any, Any, Any]:
        loop = asyncio.get_running_loop()
        if self._own_async_client and self._async_loop is not loop:
            if self._url is None:
                raise StoreUnavailable("RedisStore has no async client (give url or async_client)")
            from redis.asyncio.retry import Retry as AsyncRetry

            retry = AsyncRetry(NoBackoff(), 1, (_RedisConnectionError,))
            # A client belongs to the loop it runs on: a new loop (a test, a restarted app)
            # gets its own.
            self._async_client = _aredis.Redis.from_url(self._url, retry=retry, **self._options)
            self._async_loop, self._async_scripts = loop, None
        if self._async_scripts is None:
            client = self._async_client
            assert client is not None
            self._async_scripts = tuple(  # type: ignore[assignment]
                client.register_script(s) for s in (_CLAIM, _COMPLETE, _RELEASE, _RENEW)
            )
        assert self._async_scripts is not None
        return self._async_scripts

    # Sync ---------------------------------------------------------------------------------------

    def claim(self, key: str, lease: float) -> Claim:
        """Claim ``key``: new, done or in flight, in one round trip."""
        token = secrets.token_hex(16)
        try:
            answer = self._sync_scripts()[0](keys=[self.prefix + key], args=[token, _ms(lease)])
        except RedisError as exc:
            raise _unavailable(exc) from exc
        return _claim(int(answer), token)

    def complete(self, key: str, token: str, retain_for: float) -> bool:
        """Mark ``key`` done for ``retain_for`` seconds, if ``token`` still owns it."""
        args = [token, _ms(retain_for)]
        try:
            return bool(self._sync_scripts()[1](keys=[self.prefix + key], args=args))
        except RedisError as exc:
            raise _unavailable(exc) from exc

    def release(self, key: str, token: str) -> bool:
        """Forget ``key``, if ``token`` still owns it."""
        try:
            return bool(self._sync_scripts()[2](keys=[self.prefix + key], args=[token]))
        except RedisError as exc:
            raise _unavailable(exc) from exc

    def renew(self, key: str, token: str, lease: float) -> bool:
        """Extend ``token``'s claim on ``key`` to ``lease`` seconds from now."""
        args = [token, _ms(lease)]
        try:
            return bool(self._sync_scripts()[3](keys=[self.prefix + key], args=args))
        except RedisError as exc:
            raise _unavailable(exc) from exc

    def lease_left(self, key: str) -> float | None:
        """Seconds left on the in-flight claim of ``key``; ``0.0`` when there is none."""
        try:
            self._sync_scripts()  # the client, made if need be
            assert self._client is not None
            left = self._client.register_script(_LEASE_LEFT)(keys=[self.prefix + key])
        except RedisError as exc:
            raise _unavailable(exc) from exc
        return int(left) / 1000

    # Async --------------------------------------------------------------------------------------

    async def aclaim(self, key: str, lease: float) -> Claim:
        """Async :meth:`claim`, on the redis-py asyncio client."""
        token = secrets.token_hex(16)
        try:
            script = self._loop_scripts()[0]
            answer = await script(keys=[self.prefix + key], args=[token, _ms(lease)])
        except RedisError as exc:
            raise _unavailable(exc) from exc
        return _claim(int(answer), token)

    async def acomplete(self, key: str, token: str, retain_for: float) -> bool:
        """Async :meth:`complete`."""
        args = [token, _ms(retain_for)]
        try:
            return bool(await self._loop_scripts()[1](keys=[self.prefix + key], args=args))
        except RedisError as exc:
            raise _unavailable(exc) from exc

    async def arelease(self, key: str, token: str) -> bool:
        """Async :meth:`release`."""
        try:
            return bool(await self._loop_scripts()[2](keys=[self.prefix + key], args=[token]))
        except RedisError as exc:
            raise _unavailable(exc) from exc

    async def arenew(self, key: str, token: str, lease: float) -> bool:
        """Async :meth:`renew`."""
        args = [token, _ms(lease)]
        try:
            return bool(await self._loop_scripts()[3](keys=[self.prefix + key], args=args))
        except RedisError as exc:
            raise _unavailable(exc) from exc

    async def alease_left(self, key: str) -> float | None:
        """Async :meth:`lease_left`."""
        try:
            self._loop_scripts()  # the loop's client, made if need be
            assert self._async_client is not None
            script = self._async_client.register_script(_LEASE_LEFT)
            left = await script(keys=[self.prefix + key])
        except RedisError as exc:
            raise _unavailable(exc) from exc
        return int(left) / 1000

    # Life cycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync client, if the store made it."""
        if self._own_client and self._client is not None:
            self._client.close()
            self._client, self._scripts = None, None

    async def aclose(self) -> None:
        """Close both clients the store made (the async one on its own loop)."""
        self.close()
        client = self._async_client
        if self._own_async_client and client is not None:
            if self._async_loop is asyncio.get_running_loop():
                await client.aclose()  # redis >= 5.0.1
            self._async_client, self._async_loop, self._async_scripts = None, None, None

    def __repr__(self) -> str:
        return f"RedisStore(prefix={self.prefix!r})"


def _claim(answer: int, token: str) -> Claim:
    state = _STATES[answer]
    return Claim(state, token if state is ClaimState.NEW else None)


def _unavailable(exc: RedisError) -> StoreUnavailable:
    # redis-py's messages name the host and port, never the password.
    return StoreUnavailable(f"Redis store: {type(exc).__name__}: {exc}")
