"""Providers' retry schedules, replayed on a controllable clock; duplicates; out-of-order posts.

Each provider retries differently, and a receiver's statuses only make sense against those rules:

- Documo: any non-2xx (or no answer) is retried 7 more times, 5 s, 25 s, 2 min, 10 min, 52 min,
  4 h and 22 h after the previous failure; then Documo e-mails the account.
- Updox: 2xx is success, 4xx is dropped for good, 5xx is retried every 5 minutes, 15 times.
- Wirecloud (Kazoo): only transport errors (refused, timed out) are retried, 2 s apart, for the
  webhook's ``retries`` attempts in all (1..5, default 2); any HTTP answer but 200 (201 for PUT)
  is logged as a failure and never retried.
- Zipwhip and Fax.Plus document no retries: one attempt.

:func:`replay` sends a delivery through its schedule, advancing a :class:`FakeClock` instead of
sleeping, and stops where the provider would stop. Give the same clock to the store
(``MemoryStore(clock=clock)``) and leases and retention expire in simulated time too.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .factories._base import SimulatedDelivery
from .send import DeliveryResult, HandlerCall, TransportError

if TYPE_CHECKING:
    from .send import WebhookClient

__all__ = [
    "Attempt",
    "FakeClock",
    "RetryRun",
    "RetrySchedule",
    "SCHEDULES",
    "any_2xx",
    "areplay",
    "documo_schedule",
    "duplicate",
    "kazoo_schedule",
    "no_retries",
    "out_of_order",
    "replay",
    "schedule_for",
    "updox_schedule",
]

MINUTE = 60.0
HOUR = 3600.0


class FakeClock:
    """A clock that moves only when told: pass it wherever hookreceiver takes a clock.

    Calling it returns the time in seconds (a Unix time, so it serves as ``time.time`` for
    signed-URL expiry and as ``time.monotonic`` for store leases).

    Args:
        start: the time it shows first.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = float(start)
        self.start = self.now

    def __call__(self) -> float:
        return self.now

    def time(self) -> float:
        """The current time (same as calling the clock)."""
        return self.now

    def advance(self, seconds: float) -> float:
        """Move forward ``seconds`` (never back) and return the new time."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self.now += seconds
        return self.now

    def sleep(self, seconds: float) -> None:
        """A ``time.sleep`` that takes no time: the clock just moves on."""
        self.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        """An ``asyncio.sleep`` that takes no time."""
        self.advance(seconds)

    @property
    def elapsed(self) -> float:
        """Seconds since the clock was made."""
        return self.now - self.start

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now}, elapsed={self.elapsed})"


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


def documo_schedule() -> RetrySchedule:
    """Documo: 7 retries (5 s, 25 s, 2 min, 10 min, 52 min, 4 h, 22 h) of any non-2xx."""
    return RetrySchedule(
        "documo",
        (5.0, 25.0, 2 * MINUTE, 10 * MINUTE, 52 * MINUTE, 4 * HOUR, 22 * HOUR),
        retry_status=lambda status: not 200 <= status < 300,
        then="e-mails the account with the event (without its attachment)",
    )


def updox_schedule() -> RetrySchedule:
    """Updox: 5xx retried every 5 minutes, 15 times; 4xx dropped at once."""
    return RetrySchedule(
        "updox",
        (5 * MINUTE,) * 15,
        retry_status=lambda status: status >= 500,
        then="drops the event",
    )


def kazoo_schedule(retries: int = 2) -> RetrySchedule:
    """Wirecloud / Kazoo: ``retries`` attempts in all, 2 s apart, for transport errors only.

    Raises:
        ValueError: ``retries`` outside Kazoo's 1..5.
    """
    if not 1 <= retries <= 5:
        raise ValueError("Kazoo webhooks take retries from 1 to 5")
    return RetrySchedule(
        "wirecloud",
        (2.0,) * (retries - 1),
        retry_status=lambda status: False,
        success=lambda status, method: status == 200 or (status == 201 and method == "PUT"),
        then="logs the failure (six in a minute disable the webhook)",
    )


def no_retries(provider: str) -> RetrySchedule:
    """One attempt only: for providers that document no retries (Zipwhip, Fax.Plus)."""
    return RetrySchedule(
        provider,
        (),
        retry_status=lambda status: not 200 <= status < 300,
        then="documents no retries",
    )


#: The schedule of each provider, by name.
SCHEDULES: dict[str, Callable[[], RetrySchedule]] = {
    "documo": documo_schedule,
    "updox": updox_schedule,
    "wirecloud": kazoo_schedule,
    "zipwhip": lambda: no_retries("zipwhip"),
    "faxplus": lambda: no_retries("faxplus"),
}


def schedule_for(provider: str) -> RetrySchedule:
    """The retry schedule of ``provider`` (one attempt for one we know nothing of)."""
    make = SCHEDULES.get(provider)
    return make() if make is not None else no_retries(provider)


@dataclass(frozen=True)
class Attempt:
    """One attempt of a replayed delivery.

    Attributes:
        number: 1 for the first delivery.
        at: seconds after the first attempt.
        result: the answer, or ``None`` when the attempt got none.
        error: the transport error of an attempt that got no answer.
    """

    number: int
    at: float
    result: DeliveryResult | None
    error: Exception | None = None

    @property
    def status(self) -> int | None:
        """The status answered, or ``None`` for a transport error."""
        return None if self.result is None else self.result.status

    def __repr__(self) -> str:
        what = self.status if self.result is not None else f"no answer ({self.error})"
        return f"Attempt({self.number} at +{self.at:g}s: {what})"


@dataclass
class RetryRun:
    """A delivery replayed through a schedule.

    Attributes:
        delivery: what was sent.
        schedule: the schedule followed.
        attempts: every attempt, in order.
        delivered: whether the provider counted it delivered in the end.
        stopped: why the provider stopped (``delivered``, ``dropped``, ``exhausted``).
        reason: the same, in words.
    """

    delivery: SimulatedDelivery
    schedule: RetrySchedule
    attempts: list[Attempt] = field(default_factory=list)
    delivered: bool = False
    stopped: str = ""
    reason: str = ""

    @property
    def statuses(self) -> list[int | None]:
        """The status of each attempt (``None`` for no answer)."""
        return [attempt.status for attempt in self.attempts]

    @property
    def calls(self) -> list[HandlerCall]:
        """Every handler call of every attempt, in order."""
        return [
            call
            for attempt in self.attempts
            if attempt.result is not None and attempt.result.calls is not None
            for call in attempt.result.calls
        ]

    def __repr__(self) -> str:
        return f"RetryRun({self.delivery.event}: {self.statuses} -> {self.stopped})"


def _next_step(run: RetryRun, attempt: Attempt) -> bool:
    """Record ``attempt``; whether the provider tries again."""
    run.attempts.append(attempt)
    schedule, method = run.schedule, run.delivery.method
    if attempt.result is not None and schedule.success(attempt.result.status, method):
        run.delivered, run.stopped, run.reason = True, "delivered", "the provider got success"
        return False
    retry = (
        schedule.retry_transport_errors
        if attempt.result is None
        else schedule.retry_status(attempt.result.status)
    )
    if not retry:
        what = "no answer" if attempt.result is None else f"status {attempt.result.status}"
        run.stopped = "dropped"
        run.reason = f"{schedule.provider} does not retry {what}"
        return False
    if attempt.number >= schedule.attempts:
        run.stopped = "exhausted"
        tried = f"{schedule.attempts} attempt{'s' if schedule.attempts > 1 else ''} failed"
        run.reason = f"{tried}; {schedule.provider} {schedule.then}"
        return False
    return True


def _simulated(number: int, transport_errors: int | Sequence[int]) -> bool:
    if isinstance(transport_errors, int):
        return number <= transport_errors
    return number in transport_errors


def replay(
    delivery: SimulatedDelivery,
    client: WebhookClient,
    *,
    schedule: RetrySchedule | None = None,
    clock: FakeClock | None = None,
    transport_errors: int | Sequence[int] = 0,
    before_attempt: Callable[[int], Any] | None = None,
) -> RetryRun:
    """Send ``delivery`` as its provider would, retrying on its schedule until it stops.

    Args:
        client: where to send (a :class:`~hookreceiver.testing.WebhookClient`).
        schedule: the schedule (the delivery's provider's by default).
        clock: advanced by each delay instead of sleeping (a fresh one by default).
        transport_errors: attempts that never reach the receiver: the first N, or the
            attempt numbers listed (a refused connection, to exercise Kazoo's retries).
        before_attempt: called with the attempt number before each attempt.
    """
    chosen = schedule or schedule_for(delivery.provider)
    clock = clock if clock is not None else FakeClock()
    run, started = RetryRun(delivery, chosen), clock()
    for number in range(1, chosen.attempts + 1):
        if number > 1:
            clock.advance(chosen.delays[number - 2])
        if before_attempt is not None:
            before_attempt(number)
        attempt = _attempt(number, clock() - started, delivery, client, transport_errors)
        if not _next_step(run, attempt):
            break
    return run


def _attempt(
    number: int,
    at: float,
    delivery: SimulatedDelivery,
    client: WebhookClient,
    transport_errors: int | Sequence[int],
) -> Attempt:
    if _simulated(number, transport_errors):
        return Attempt(number, at, None, TransportError("simulated: connection refused"))
    try:
        return Attempt(number, at, client.send(delivery))
    except TransportError as exc:
        return Attempt(number, at, None, exc)


async def areplay(
    delivery: SimulatedDelivery,
    client: WebhookClient,
    *,
    schedule: RetrySchedule | None = None,
    clock: FakeClock | None = None,
    transport_errors: int | Sequence[int] = 0,
    before_attempt: Callable[[int], Any] | None = None,
) -> RetryRun:
    """:func:`replay` from async code (ASGI apps run on the current event loop)."""
    chosen = schedule or schedule_for(delivery.provider)
    clock = clock if clock is not None else FakeClock()
    run, started = RetryRun(delivery, chosen), clock()
    for number in range(1, chosen.attempts + 1):
        if number > 1:
            clock.advance(chosen.delays[number - 2])
        if before_attempt is not None:
            before_attempt(number)
        at = clock() - started
        if _simulated(number, transport_errors):
            attempt = Attempt(number, at, None, TransportError("simulated: connection refused"))
        else:
            try:
                attempt = Attempt(number, at, await client.asend(delivery))
            except TransportError as exc:
                attempt = Attempt(number, at, None, exc)
        if not _next_step(run, attempt):
            break
    return run


def duplicate(delivery: SimulatedDelivery, times: int = 2) -> list[SimulatedDelivery]:
    """The same delivery ``times`` times, byte for byte (a provider re-sending it)."""
    return [delivery] * times


def out_of_order(
    deliveries: Iterable[SimulatedDelivery],
    order: Sequence[int] | None = None,
    *,
    seed: int | None = None,
) -> list[SimulatedDelivery]:
    """``deliveries`` rearranged: by ``order`` (indexes), or shuffled (reproducibly with
    ``seed``) so that the last one is never last, since arriving late is the point."""
    items = list(deliveries)
    if order is not None:
        if sorted(order) != list(range(len(items))):
            raise ValueError(f"order must be a permutation of 0..{len(items) - 1}")
        return [items[index] for index in order]
    if len(items) < 2:
        return items
    rng = random.Random(seed)
    indexes = list(range(len(items)))
    while indexes[-1] == len(items) - 1:
        rng.shuffle(indexes)
    return [items[index] for index in indexes]
