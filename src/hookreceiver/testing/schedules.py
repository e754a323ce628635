"""How a provider retries a delivery: the :class:`RetrySchedule` each factory module declares.

Each provider's factory module (``hookreceiver.testing.factories.<name>``) holds its schedule as
``retry_schedule()``, citing the provider's documents; :func:`~hookreceiver.testing.replay`
follows it. This module imports nothing of the kit, so a factory module can use it freely.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["HOUR", "MINUTE", "RetrySchedule", "any_2xx", "no_retries"]

MINUTE = 60.0
HOUR = 3600.0


def any_2xx(status: int, method: str) -> bool:
    """Success as most providers see it: any 2xx."""
    return 200 <= status < 300


@dataclass(frozen=True)
class RetrySchedule:
    """How one provider retries a delivery.

    Attributes:
        provider: the provider's name.
        delays: seconds waited before each retry, in order (their count is the retries).
        retry_status: whether an HTTP answer with this status is retried.
        retry_transport_errors: whether a delivery that got no answer is retried.
        success: whether an answer with this status (and method) counts as delivered.
        then: what the provider does when the schedule runs out.
    """

    provider: str
    delays: tuple[float, ...]
    retry_status: Callable[[int], bool]
    retry_transport_errors: bool = True
    success: Callable[[int, str], bool] = any_2xx
    then: str = "gives up"

    @property
    def attempts(self) -> int:
        """Attempts in all, the first included."""
        return len(self.delays) + 1

    @property
    def offsets(self) -> tuple[float, ...]:
        """Seconds after the first attempt at which each attempt is made."""
        total, out = 0.0, [0.0]
        for delay in self.delays:
            total += delay
            out.append(total)
        return tuple(out)


def no_retries(provider: str) -> RetrySchedule:
    """One attempt only: for providers that document no retries (Zipwhip, Fax.Plus), and the
    schedule of a provider whose factory module declares none."""
    return RetrySchedule(
        provider,
        (),
        retry_status=lambda status: not 200 <= status < 300,
        then="documents no retries",
    )
