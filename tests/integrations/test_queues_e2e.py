"""Celery, Dramatiq and arq over real brokers: 2 receivers (uvicorn) and 2 workers per tool.

Every event is handled exactly once through duplicates and failing first attempts; a worker
SIGKILLed mid-handler has its delivery taken over after the lease and completed once, while a
handler three times slower than the lease runs once (renewal); and with the broker stopped, the
receivers keep answering 200 and the sweep delivers everything once it is back. Celery and
Dramatiq use the shared RabbitMQ (queues of the test's own, deleted afterwards), arq the shared
Redis (a queue of its own); the outage stops a private broker: a RabbitMQ node of the test's own
for Celery, a redis-server for Dramatiq and arq.
"""

from __future__ import annotations

import os
import random
import secrets
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from queue_kit import (
    TOOLS,
    Fleet,
    Schema,
    delete_arq_queue,
    delete_rabbitmq_queues,
    faxplus_body,
    rabbitmq_names,
    send_all,
    wait_until,
)

from stores.store_kit import PrivateRabbitMQ, PrivateRedis

pytestmark = pytest.mark.slow

AMQP_URL = os.environ.get("HOOKRECEIVER_AMQP_URL")


@pytest.fixture
def schema(postgres_dsn: str) -> Iterator[Schema]:
    made = Schema(postgres_dsn)
    yield made
    made.drop()


@pytest.fixture
def queue_name() -> str:
    return f"hrq_{secrets.token_hex(5)}"


def shared_broker(tool: str, redis_url: str | None) -> str:
    """The shared broker a tool runs on in these tests (RabbitMQ; Redis for arq)."""
    if tool == "arq":
        if not redis_url:
            pytest.skip("HOOKRECEIVER_REDIS_URL is not set: no Redis to test arq against")
        return redis_url
    if not AMQP_URL:
        if os.environ.get("CI"):
            pytest.fail("HOOKRECEIVER_AMQP_URL must be set on CI (see .ci/run)")
        pytest.skip("HOOKRECEIVER_AMQP_URL is not set: no RabbitMQ to test against")
    return AMQP_URL


@pytest.fixture
def fleets(queue_name: str, redis_url: str) -> Iterator[list[Fleet]]:
    """The fleets a test started: stopped afterwards, and their broker queues deleted."""
    started: list[Fleet] = []
    yield started
    for fleet in started:
        fleet.stop()
        broker = fleet.env["HOOKRECEIVER_BROKER_URL"]
        if broker.startswith("amqp://") and AMQP_URL:
            delete_rabbitmq_queues(AMQP_URL, rabbitmq_names(fleet.tool, queue_name))
        elif broker == redis_url:
            delete_arq_queue(redis_url, queue_name)


def start(
    fleets: list[Fleet],
    tool: str,
    tmp_path: Path,
    schema: Schema,
    broker: str,
    queue: str,
    **options: object,
) -> Fleet:
    fleet = Fleet.create(
        tool,
        tmp_path,
        inbox=schema.url,
        store=schema.url,
        broker=broker,
        queue=queue,
        **options,  # type: ignore[arg-type]
    )
    fleets.append(fleet)
    fleet.start_workers(2)
    fleet.start_receivers(2)
    return fleet


def inbox_states(schema: Schema) -> Counter[str]:
    return Counter(dict(schema.query("SELECT state, count(*) FROM hookreceiver_inbox GROUP BY 1")))


@pytest.mark.parametrize("tool", TOOLS)
def test_every_event_once_through_duplicates_and_failures(
    tool: str,
    tmp_path: Path,
    schema: Schema,
    queue_name: str,
    fleets: list[Fleet],
    redis_url: str,
) -> None:
    fleet = start(
        fleets,
        tool,
        tmp_path,
        schema,
        shared_broker(tool, redis_url),
        queue_name,
        retry_delay=0.3,
        grace=30.0,
    )
    rng = random.Random(18)
    events = [secrets.token_hex(8) for _ in range(700)]
    failing = set(rng.sample(events, 140))  # 20 % fail their first attempt
    sends = events + rng.choices(events, k=300)  # 1,000 deliveries, 30 % duplicates
    rng.shuffle(sends)
    bodies = [
        (fleet.urls[n % 2], faxplus_body(e, "fail-first" if e in failing else ""))
        for n, e in enumerate(sends)
    ]
    assert send_all(bodies, threads=8) == [200] * len(bodies)

    keys = {f"faxplus:fax_received:{e}" for e in events}
    assert fleet.wait_done(keys, timeout=120), fleet.logs()
    # Every delivery is settled in the inbox (a duplicate as done once its twin was handled).
    assert wait_until(lambda: inbox_states(schema) == Counter(done=1000), 60), (
        inbox_states(schema),
        fleet.logs(),
    )
    done = Counter(line["idempotency_key"] for line in fleet.lines("done"))
    assert set(done) == keys and set(done.values()) == {1}
    failed_first = {
        line["idempotency_key"] for line in fleet.lines("start") if line["attempt"] == 1
    } - {line["idempotency_key"] for line in fleet.lines("done") if line["attempt"] == 1}
    assert {k.rsplit(":", 1)[1] for k in failed_first} == failing
    # Both workers took part; the messages carried the delivery id as a header.
    assert len({line["pid"] for line in fleet.lines("done")}) >= 2
    assert all(line["headers"]["delivery_id"] == line["delivery_id"] for line in fleet.lines())


@pytest.mark.parametrize("tool", TOOLS)
def test_a_killed_workers_delivery_runs_again_after_the_lease_and_a_slow_one_once(
    tool: str,
    tmp_path: Path,
    schema: Schema,
    queue_name: str,
    fleets: list[Fleet],
    redis_url: str,
) -> None:
    lease = 2.0
    fleet = start(
        fleets,
        tool,
        tmp_path,
        schema,
        shared_broker(tool, redis_url),
        queue_name,
        lease=lease,
        grace=0.5,
        sweep_every=1,
    )
    # Every run takes 3 leases: only renewal keeps a second worker from taking it meanwhile.
    event = secrets.token_hex(8)
    assert send_all([(fleet.urls[0], faxplus_body(event, f"sleep:{3 * lease}"))]) == [200]
    assert wait_until(lambda: fleet.lines("start"), 60), fleet.logs()
    (first,) = fleet.lines("start")
    victim = fleet.worker_of(first["pid"])
    victim.kill()  # mid-handler: its lease is no longer renewed
    fleet.restart_dead_workers()  # its supervisor starts it again: two workers compete

    assert wait_until(lambda: fleet.lines("done"), 60), fleet.logs()
    starts, (done,) = fleet.lines("start"), fleet.lines("done")
    assert [s["attempt"] for s in starts] == [1, 2], fleet.logs()
    second = starts[1]
    # Taken over only once the killed worker's lease was over, then run once, to the end.
    assert second["t"] - first["t"] >= lease - 0.2
    assert done["pid"] == second["pid"] != first["pid"]
    assert done["t"] - second["t"] >= 3 * lease - 0.2
    rows = "SELECT state, attempts FROM hookreceiver_inbox"
    assert wait_until(lambda: schema.query(rows) == [("done", 2)], 10), schema.query(rows)


class Outage:
    """A broker of the test's own to stop and start, never the shared one: a private RabbitMQ
    node for Celery (kombu's Redis transport needs redis-py 6, which arq does not allow beside
    it), a private redis-server for Dramatiq and arq (their data goes with them)."""

    def __init__(self, tool: str, folder: Path) -> None:
        self.broker: PrivateRabbitMQ | PrivateRedis
        if tool == "celery":
            self.broker = PrivateRabbitMQ(folder)
        else:
            self.broker = PrivateRedis()
        self.broker.start()
        self.url = self.broker.url

    def stop(self) -> None:
        self.broker.stop()

    def start(self) -> None:
        self.broker.start()


@pytest.mark.parametrize("tool", TOOLS)
def test_receivers_answer_while_the_broker_is_down_and_the_sweep_delivers_later(
    tool: str,
    tmp_path: Path,
    schema: Schema,
    queue_name: str,
    fleets: list[Fleet],
) -> None:
    broker = Outage(tool, tmp_path / "broker")
    try:
        fleet = start(
            fleets, tool, tmp_path, schema, broker.url, queue_name, grace=0.5, sweep_every=1
        )
        before = [secrets.token_hex(8) for _ in range(20)]
        during = [secrets.token_hex(8) for _ in range(60)]
        assert (
            send_all([(fleet.urls[n % 2], faxplus_body(e)) for n, e in enumerate(before)])
            == [200] * 20
        )
        assert fleet.wait_done({f"faxplus:fax_received:{e}" for e in before}, 60), fleet.logs()

        broker.stop()
        statuses = send_all([(fleet.urls[n % 2], faxplus_body(e)) for n, e in enumerate(during)])
        assert statuses == [200] * 60  # the inbox holds them
        assert inbox_states(schema)["pending"] == 60

        broker.start()
        # arq's worker exits when Redis goes away: the test restarts it, as a supervisor would.
        keys = {f"faxplus:fax_received:{e}" for e in before + during}
        assert fleet.wait_done(keys, 90, supervise=True), fleet.logs()
        done = Counter(line["idempotency_key"] for line in fleet.lines("done"))
        assert set(done) == keys and set(done.values()) == {1}
    finally:
        broker.stop()
