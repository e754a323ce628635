"""arq: inbox deliveries handled by your arq workers, in one call.

::

    from arq.connections import RedisSettings
    from hookreceiver.integrations.arq import install

    hooks = Receiver(store=..., inbox=open_inbox("postgresql://..."), worker=False)
    queue = install(hooks, RedisSettings.from_dsn("redis://127.0.0.1:6379/0"))

    class WorkerSettings:                      # arq app.WorkerSettings
        functions = queue.functions
        cron_jobs = queue.cron_jobs
        redis_settings = queue.redis_settings
        queue_name = queue.queue_name

Receivers store each verified delivery in the inbox, answer, and enqueue the job
``hookreceiver_process(record_id, headers)`` (from a thread of their own, with its own event
loop and Redis pool, so the app's loop never waits for Redis); the workers take the delivery
from the inbox and run its handlers on their event loop. Redis carries the id and a few headers
(the delivery id, the trace context), never the payload. arq's retries are off
(``max_tries=1``); a failed attempt is enqueued again with the inbox's backoff as its
``_defer_by``. The cron job ``hookreceiver_sweep`` (``unique``: one worker runs each) re-sends
deliveries whose message was lost (Redis was down or lost its data, a worker died after its
lease). While a handler runs, its lease on the delivery is renewed, so a handler slower than the
lease never runs twice.

Needs ``pip install 'hookreceiver[arq]'``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._sender import BrokerQueue

if TYPE_CHECKING:
    from arq.connections import ArqRedis, RedisSettings
    from arq.cron import CronJob
    from arq.worker import Function

    from ..inbox.protocols import InboxReceiver

__all__ = ["ArqQueue", "install"]

_DAY = 24 * 3600


def _arq() -> tuple[Any, Any, str]:
    """arq's ``func``, ``cron`` and default queue name (imported only here)."""
    try:
        from arq.constants import default_queue_name
        from arq.cron import cron
        from arq.worker import func
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "hookreceiver.integrations.arq needs arq: pip install 'hookreceiver[arq]'"
        ) from exc
    return func, cron, default_queue_name


def _cron_times(every: int) -> dict[str, set[int]]:
    """arq cron fields for "every ``every`` seconds" (a divisor of 60, or whole minutes)."""
    if every < 60:
        return {"second": set(range(0, 60, max(1, every)))}
    return {"minute": set(range(0, 60, max(1, every // 60))), "second": {0}}


class ArqQueue(BrokerQueue):
    """The inbox's hand-off to arq: the functions and cron job for ``WorkerSettings``.

    Attributes:
        functions: arq ``func`` entries (the job that processes one delivery).
        cron_jobs: the sweep's ``cron`` entry.
        redis_settings: where the jobs go.
        queue_name: the arq queue (give the worker the same one).
    """

    def __init__(
        self,
        receiver: InboxReceiver,
        redis_settings: RedisSettings,
        *,
        grace: float = 60.0,
        sweep_every: int = 30,
        queue_name: str | None = None,
        function_name: str = "hookreceiver_process",
        timeout: float = _DAY,
    ) -> None:
        func, cron, default_queue_name = _arq()
        self.redis_settings = redis_settings
        self.queue_name: str = queue_name or default_queue_name
        self.function_name = function_name
        self._worker_loop: asyncio.AbstractEventLoop | None = None
        self._worker_pool: ArqRedis | None = None
        self._local = threading.local()

        async def process(ctx: dict[str, Any], record_id: str, headers: Any = None) -> None:
            self._attach(ctx)
            await self.aprocess(record_id, headers)

        async def sweep(ctx: dict[str, Any]) -> int:
            self._attach(ctx)
            return await asyncio.to_thread(self.sweep)

        # Retries are hookreceiver's: max_tries=1. The timeout only bounds a handler that hangs
        # (its lease is renewed while it runs).
        self.functions: list[Function] = [
            func(process, name=function_name, max_tries=1, timeout=timeout, keep_result=0)
        ]
        self.cron_jobs: list[CronJob] = [
            cron(
                sweep,
                name=f"{function_name}_sweep",
                run_at_startup=True,
                unique=True,
                keep_result=0,
                **_cron_times(sweep_every),
            )
        ]
        super().__init__(receiver, grace=grace)

    def _attach(self, ctx: dict[str, Any]) -> None:
        # In a worker: send retries and sweeps with the worker's own pool, on its loop.
        self._worker_pool = ctx["redis"]
        self._worker_loop = asyncio.get_running_loop()

    async def enqueue_job(
        self, pool: ArqRedis, record_id: str, delay: float, headers: Mapping[str, str]
    ) -> None:
        """Enqueue the job for ``record_id`` on ``pool``, deferred by ``delay`` seconds."""
        job = await pool.enqueue_job(
            self.function_name,
            record_id,
            dict(headers),
            _queue_name=self.queue_name,
            _defer_by=delay if delay > 0 else None,
        )
        if job is None:  # only with a fixed _job_id, which is never passed
            raise RuntimeError(f"arq did not enqueue delivery {record_id}")

    def send(self, record_id: str, delay: float, headers: Mapping[str, str]) -> None:
        """Enqueue the job, from any thread (the sender's, or the worker's pool threads)."""
        loop, pool = self._worker_loop, self._worker_pool
        if loop is not None and pool is not None and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(
                self.enqueue_job(pool, record_id, delay, headers), loop
            )
            future.result(30)
            return
        own_loop, own_pool = self._own_pool()
        own_loop.run_until_complete(self.enqueue_job(own_pool, record_id, delay, headers))

    def _own_pool(self) -> tuple[asyncio.AbstractEventLoop, ArqRedis]:
        # A loop and a pool per sending thread (in a receiver: the background sender's).
        local = self._local
        if getattr(local, "pool", None) is None:
            from arq.connections import create_pool

            local.loop = getattr(local, "loop", None) or asyncio.new_event_loop()
            # Fail at once while Redis is down: the delivery waits in the inbox for the sweep.
            settings = dataclasses.replace(self.redis_settings, conn_retries=0)
            local.pool = local.loop.run_until_complete(
                create_pool(settings, default_queue_name=self.queue_name)
            )
        return local.loop, local.pool


def install(
    receiver: InboxReceiver,
    redis_settings: RedisSettings,
    *,
    grace: float = 60.0,
    sweep_every: int = 30,
    queue_name: str | None = None,
    function_name: str = "hookreceiver_process",
    timeout: float = _DAY,
) -> ArqQueue:
    """Send ``receiver``'s inbox deliveries to arq; put the returned queue's ``functions`` and
    ``cron_jobs`` in your ``WorkerSettings``.

    Args:
        receiver: the receiver whose inbox, endpoints and handlers are used (created with
            ``worker=False``: arq's workers replace the in-process one).
        redis_settings: arq's ``RedisSettings`` for the jobs.
        grace: seconds past its due time (or its lease's end) after which the sweep sends a
            delivery again.
        sweep_every: seconds between sweeps (a divisor of 60, or whole minutes).
        queue_name: the arq queue (``None``: arq's default); the worker must use the same.
        function_name: the job's name (the sweep's is this with ``_sweep``). arq's job and
            cron ids are global in a Redis database: apps sharing one give each its own.
        timeout: seconds after which arq cancels a job whose handler hangs.
    """
    return ArqQueue(
        receiver,
        redis_settings,
        grace=grace,
        sweep_every=sweep_every,
        queue_name=queue_name,
        function_name=function_name,
        timeout=timeout,
    )
