"""The inbox's retry policy: how long a failed delivery waits before its next attempt, and
when it is given up as ``failed``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Retry"]


@dataclass(frozen=True, slots=True)
class Retry:
    """How a failed delivery is retried: exponential backoff, then ``failed``.

    After failed attempt ``n`` the next one waits ``first_delay * factor ** (n - 1)`` seconds,
    at most ``max_delay``. With the defaults: 2 s, 4 s, 8 s ... about 17 minutes in all over
    ten attempts. A try that found the event's key held by another delivery (in flight) ran
    nothing and is no attempt: it waits for the key apart from this budget, at most the
    receiver's claim lease at a time (just past the claim's end when the store tells it).

    Attributes:
        max_attempts: attempts before the delivery is marked ``failed``.
        first_delay: seconds before the second attempt.
        factor: growth of the delay per attempt.
        max_delay: the longest delay.
    """

    max_attempts: int = 10
    first_delay: float = 2.0
    factor: float = 2.0
    max_delay: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("Retry.max_attempts must be at least 1")
        if self.first_delay < 0 or self.factor < 1 or self.max_delay < 0:
            raise ValueError("Retry delays must be >= 0 and factor >= 1")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first)."""
        exponent = max(0, attempt - 1)
        if exponent > 64:  # far past any max_delay; avoid an overflow
            return self.max_delay
        return float(min(self.max_delay, self.first_delay * self.factor**exponent))
