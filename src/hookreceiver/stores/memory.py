"""An in-process dedup store: for tests and single-process apps.

Bounded: once ``max_keys`` keys are held, the oldest keys that are finished or expired are
dropped, a hundredth of the room at a time (a claim in flight is never dropped while its lease
runs). A handled key dropped that way is forgotten before its ``retain_for`` ends, so a late
duplicate of it would run again: the store logs a warning the first time it happens.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import ClassVar

from .base import Claim, ClaimState, Store

__all__ = ["MemoryStore"]

logger = logging.getLogger("hookreceiver")

_NEW = ClaimState.NEW
# Entries hold a state as plain text, not the enum member: a tuple of only str and float is
# dropped from the garbage collector's tracking, so 100 000 held keys cost no GC passes.
_DONE = ClaimState.DONE.value
_IN_FLIGHT = ClaimState.IN_FLIGHT.value
# A claim that is not new carries no token: one shared answer per state.
_ANSWERS = {_DONE: Claim(ClaimState.DONE), _IN_FLIGHT: Claim(ClaimState.IN_FLIGHT)}
# A new claim is built by setting its two slots, not through the frozen dataclass's __init__
# (a Python call setting each field with object.__setattr__): a third of a claim's cost.
_blank_claim = object.__new__
_set_state = Claim.__dict__["state"].__set__
_set_token = Claim.__dict__["token"].__set__


def _new_claim(token: str) -> Claim:
    """``Claim(ClaimState.NEW, token)``."""
    claim: Claim = _blank_claim(Claim)
    _set_state(claim, _NEW)
    _set_token(claim, token)
    return claim


class MemoryStore(Store):
    """Dedup in a dict guarded by a lock.

    It holds at most ``max_keys`` keys: past that it drops the oldest handled ones, even before
    their ``retain_for`` (the receiver's default is 7 days) is over, and logs a WARNING the
    first time it does. ``max_keys`` thus bounds how long duplicates are recognized: at 10
    events a second the default 100,000 keys hold under three hours of them. Raise it (about
    150 bytes a key) to cover your senders' retry windows, or use a persistent store
    (:class:`~hookreceiver.stores.SQLiteStore` and the others keep every key ``retain_for``).
    Room is made a hundredth of ``max_keys`` at a time, so no claim waits long for it.

    Args:
        max_keys: how many keys are held at most.
        clock: seconds as a float; pass a fake clock in tests.
    """

    blocking: ClassVar[bool] = False

    def __init__(self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic):
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (state, token, expires_at), oldest claim first (a dict keeps insertion order).
        self._entries: dict[str, tuple[str, str, float]] = {}
        # Owner tokens only need to be unique within this store: a counter is enough, and
        # cheaper than random bytes on every claim.
        self._token_prefix = secrets.token_hex(4) + "-"
        self._tokens = itertools.count(1)
        self._warned = False

    def claim(self, key: str, lease: float) -> Claim:
        """Claim ``key``: new, done or in flight."""
        now = self._clock()
        entries = self._entries
        entry = entries.get(key)
        if entry is None:
            if len(entries) < self.max_keys:
                # The common case, without the lock: a key nobody holds is taken with
                # setdefault, one atomic step (str keys), so of two racing claims one inserts
                # and wins. The one rule that keeps this safe: only an absent key is ever
                # inserted without the lock, so what the locked methods find present stays so.
                token = f"{self._token_prefix}{next(self._tokens)}"
                mine = (_IN_FLIGHT, token, now + lease)
                if entries.setdefault(key, mine) is mine:
                    claim: Claim = _blank_claim(Claim)  # _new_claim(token), inlined
                    _set_state(claim, _NEW)
                    _set_token(claim, token)
                    return claim
        elif entry[2] > now:
            return _ANSWERS[entry[0]]
        lock = self._lock
        lock.acquire()  # (acquire and release: half what ``with`` costs)
        try:
            entry = entries.get(key)
            if entry is not None:
                if entry[2] > now:
                    return _ANSWERS[entry[0]]
                del entries[key]  # expired: claimed anew, at the end of the order
            elif len(entries) >= self.max_keys:
                self._make_room(now)
            token = f"{self._token_prefix}{next(self._tokens)}"
            mine = (_IN_FLIGHT, token, now + lease)
            entry = entries.setdefault(key, mine)  # (a claim without the lock may be first)
        finally:
            lock.release()
        if entry is not mine:
            return _ANSWERS[entry[0]]
        return _new_claim(token)

    def complete(self, key: str, token: str, retain_for: float) -> bool:
        """Mark ``key`` done, if ``token`` still owns it or nobody holds it."""
        expires = self._clock() + retain_for
        entries = self._entries
        lock = self._lock
        lock.acquire()
        try:
            entry = entries.get(key)
            if entry is None:
                if len(entries) >= self.max_keys:
                    self._make_room(expires - retain_for)
                done = (_DONE, token, expires)
                entry = entries.setdefault(key, done)  # (a claim without the lock may be first)
                if entry is done:
                    return True
            if entry[1] != token or entry[0] != _IN_FLIGHT:
                return False
            entries[key] = (_DONE, token, expires)
        finally:
            lock.release()
        return True

    def lease_left(self, key: str) -> float | None:
        """Seconds left on the in-flight claim of ``key``; ``0.0`` when there is none."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[0] != _IN_FLIGHT:
            return 0.0
        return max(0.0, entry[2] - now)

    async def alease_left(self, key: str) -> float | None:
        """Async :meth:`lease_left` (no I/O: called on the loop)."""
        return self.lease_left(key)

    def renew(self, key: str, token: str, lease: float) -> bool:
        """Extend ``token``'s claim on ``key`` to ``lease`` seconds from now."""
        expires = self._clock() + lease
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[1] != token or entry[0] != _IN_FLIGHT:
                return False
            self._entries[key] = (_IN_FLIGHT, token, expires)
        return True

    def release(self, key: str, token: str) -> bool:
        """Forget ``key``, if ``token`` still owns it."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[1] != token or entry[0] != _IN_FLIGHT:
                return False
            del self._entries[key]
            return True

    async def aclaim(self, key: str, lease: float) -> Claim:
        """No I/O: call :meth:`claim` directly rather than in a thread."""
        return self.claim(key, lease)

    async def acomplete(self, key: str, token: str, retain_for: float) -> bool:
        """No I/O: call :meth:`complete` directly."""
        return self.complete(key, token, retain_for)

    async def arelease(self, key: str, token: str) -> bool:
        """No I/O: call :meth:`release` directly."""
        return self.release(key, token)

    async def arenew(self, key: str, token: str, lease: float) -> bool:
        """No I/O: call :meth:`renew` directly."""
        return self.renew(key, token, lease)

    def __len__(self) -> int:
        return len(self._entries)

    def _make_room(self, now: float) -> None:
        # One pass from the oldest claim, dropping finished or expired keys until a hundredth
        # of the room is free: paid once per max_keys/100 new keys (a tenth at a time stalled
        # that one claim for milliseconds), and it stops early.
        excess = len(self._entries) - (self.max_keys - max(1, self.max_keys // 100))
        while True:
            victims: list[str] = []
            undercut = 0.0
            try:
                for key, (state, _, expires) in self._entries.items():
                    if len(victims) >= excess:
                        break
                    if expires <= now:
                        victims.append(key)
                    elif state == _DONE:
                        victims.append(key)
                        undercut = max(undercut, expires - now)
            except RuntimeError:  # a claim without the lock added a key meanwhile: again
                continue
            break
        for key in victims:
            self._entries.pop(key, None)
        if undercut and not self._warned:
            self._warned = True
            logger.warning(
                "MemoryStore is full (max_keys=%d): it forgot handled keys %.0f s before their "
                "retain_for ended, so a duplicate arriving later would be handled again; raise "
                "max_keys or use a persistent store (SQLiteStore, RedisStore, PostgresStore)",
                self.max_keys,
                undercut,
            )
