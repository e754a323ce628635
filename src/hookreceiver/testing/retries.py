"""Providers' retry schedules, run on a controllable clock; duplicates; out-of-order posts.

Each provider retries differently, and a receiver's statuses only make sense against those rules.
Each provider's factory module declares its rules as ``retry_schedule()`` (a
:class:`RetrySchedule`, citing the provider's documents: Documo retries any non-2xx 7 times over
a day, Updox only 5xx, Kazoo only transport errors); :func:`schedule_for` finds it by the
provider's name, and a provider whose module declares none gets one attempt.

:func:`send_with_retries` sends a delivery through its schedule, advancing a :class:`FakeClock`
instead of sleeping, and stops where the provider would stop. Give the same clock to the store
(``MemoryStore(clock=clock)``) and leases and retention expire in simulated time too.

(``replay``/``areplay`` are the deprecated old names of :func:`send_with_retries`: "replay" is
the inbox's word, for running a *stored* delivery's handlers again.)
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .factories._base import SimulatedDelivery
from .schedules import RetrySchedule, any_2xx, no_retries
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
    "asend_with_retries",
    "duplicate",
    "no_retries",
    "out_of_order",
    "replay",
    "schedule_for",
    "send_with_retries",
]


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


#: Where the schedules that used to be defined here live now: their providers' factory modules.
_MOVED = {"documo_schedule": "documo", "kazoo_schedule": "wirecloud", "updox_schedule": "updox"}


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import factories

    return factories.provider_module(module).retry_schedule


class _Schedules(Mapping[str, Callable[[], RetrySchedule]]):
    """The schedule of each provider that has a factory module, by name: a live view of the
    registry, so a provider added later is here too."""

    def __getitem__(self, provider: str) -> Callable[[], RetrySchedule]:
        from .factories import PROVIDERS

        module = PROVIDERS[provider]
        declared: Callable[[], RetrySchedule] | None = getattr(module, "retry_schedule", None)
        return declared or (lambda: no_retries(module.PROVIDER))

    def __iter__(self) -> Iterator[str]:
        from .factories import PROVIDERS

        return iter(PROVIDERS)

    def __len__(self) -> int:
        from .factories import PROVIDERS

        return len(PROVIDERS)


#: The schedule of each provider, by name.
SCHEDULES: Mapping[str, Callable[[], RetrySchedule]] = _Schedules()


def schedule_for(provider: str) -> RetrySchedule:
    """The retry schedule of ``provider``: its factory module's ``retry_schedule()``, or one
    attempt for a provider whose module declares none or that we know nothing of."""
    from .factories import UnknownName, provider_module

    try:
        module = provider_module(provider)
    except UnknownName:
        return no_retries(provider)
    declared: Callable[[], RetrySchedule] | None = getattr(module, "retry_schedule", None)
    return declared() if declared is not None else no_retries(module.PROVIDER)


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


def send_with_retries(
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


async def asend_with_retries(
    delivery: SimulatedDelivery,
    client: WebhookClient,
    *,
    schedule: RetrySchedule | None = None,
    clock: FakeClock | None = None,
    transport_errors: int | Sequence[int] = 0,
    before_attempt: Callable[[int], Any] | None = None,
) -> RetryRun:
    """:func:`send_with_retries` from async code (ASGI apps run on the current event loop)."""
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


def _renamed(old: str, new: str) -> None:
    warnings.warn(
        f"hookreceiver.testing.{old} is deprecated: use {new} (the same function)",
        DeprecationWarning,
        stacklevel=3,
    )


def replay(delivery: SimulatedDelivery, client: WebhookClient, **options: Any) -> RetryRun:
    """Deprecated: :func:`send_with_retries`."""
    _renamed("replay", "send_with_retries")
    return send_with_retries(delivery, client, **options)


async def areplay(delivery: SimulatedDelivery, client: WebhookClient, **options: Any) -> RetryRun:
    """Deprecated: :func:`asend_with_retries`."""
    _renamed("areplay", "asend_with_retries")
    return await asend_with_retries(delivery, client, **options)


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
