"""The dedup store interface: outcome-aware claims on idempotency keys.

A claim is a short lease on a key. ``claim`` answers atomically, across every process sharing the
store, one of:

- ``NEW``: nobody holds or finished the key; the caller now owns it (it gets an owner token);
- ``DONE``: a handler already succeeded for the key (within its retention): do nothing;
- ``IN_FLIGHT``: another worker holds a live lease on it: do nothing now, let the sender retry.

The owner then calls ``complete`` (success: keep the key as done for ``retain_for`` seconds) or
``release`` (failure: forget it so the sender's retry is handled). Only the owner token that won
the claim can complete or release it, so a worker whose lease expired cannot undo the work of the
worker that took over. While handlers run, the owner renews its lease on a heartbeat; a
claim whose worker died (and so stopped renewing) expires after ``lease`` seconds.

A late ``complete`` still wins when nobody took the key over: the claim expired (or the store
lost it in an outage) but no other token holds it. The handlers did run, so the key is marked
done rather than left for the sender's retry to run them again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

__all__ = ["Claim", "ClaimState", "Store"]


class ClaimState(str, Enum):
    """The answer to a claim."""

    NEW = "new"
    DONE = "done"
    IN_FLIGHT = "in_flight"


@dataclass(frozen=True, slots=True)
class Claim:
    """The result of :meth:`Store.claim`: its state, and the owner token when ``NEW``."""

    state: ClaimState
    token: str | None = None


class Store:
    """Base class of dedup stores.

    Subclasses implement the four sync methods. The async methods default to running the sync
    ones in a worker thread; stores with a native async client (Redis, PostgreSQL) or with no
    I/O at all (memory) override them.

    Every method raises :class:`~hookreceiver.StoreUnavailable` when the backend is unreachable.
    """

    #: ``False`` for a store whose sync methods never block (no I/O, no waiting on a lock held
    #: across I/O): the ASGI adapter then calls them on the event loop without a coroutine.
    blocking: ClassVar[bool] = True

    def claim(self, key: str, lease: float) -> Claim:
        """Atomically claim ``key`` for ``lease`` seconds."""
        raise NotImplementedError

    def complete(self, key: str, token: str, retain_for: float) -> bool:
        """Mark ``key`` done for ``retain_for`` seconds.

        ``True`` when ``token`` holds the claim (live or expired) or the key is free (the
        claim expired and is gone, or the store lost it); ``False`` when the key is done or
        another token holds it (someone took it over).
        """
        raise NotImplementedError

    def renew(self, key: str, token: str, lease: float) -> bool:
        """Extend ``token``'s claim on ``key`` to ``lease`` seconds from now.

        ``False`` when ``token`` no longer holds an unfinished claim on the key.
        """
        raise NotImplementedError

    def release(self, key: str, token: str) -> bool:
        """Forget ``key`` so a retry is handled; ``False`` if ``token`` no longer owns it."""
        raise NotImplementedError

    def lease_left(self, key: str) -> float | None:
        """Seconds left on the live in-flight claim of ``key`` (``0.0`` when there is none: the
        key is free, or done), or ``None`` when the store cannot tell. Not on the delivery
        path: the inbox asks it to time the next try of a delivery whose key was in flight."""
        return None

    async def alease_left(self, key: str) -> float | None:
        """Async :meth:`lease_left`."""
        return await asyncio.to_thread(self.lease_left, key)

    async def aclaim(self, key: str, lease: float) -> Claim:
        """Async :meth:`claim`."""
        return await asyncio.to_thread(self.claim, key, lease)

    async def acomplete(self, key: str, token: str, retain_for: float) -> bool:
        """Async :meth:`complete`."""
        return await asyncio.to_thread(self.complete, key, token, retain_for)

    async def arelease(self, key: str, token: str) -> bool:
        """Async :meth:`release`."""
        return await asyncio.to_thread(self.release, key, token)

    async def arenew(self, key: str, token: str, lease: float) -> bool:
        """Async :meth:`renew`."""
        return await asyncio.to_thread(self.renew, key, token, lease)

    def close(self) -> None:
        """Release connections and files. The default does nothing."""

    async def aclose(self) -> None:
        """Async :meth:`close`."""
        self.close()
