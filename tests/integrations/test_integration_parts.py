"""The integrations' own parts, without a broker: the message headers, sending off the request
path (and through an outage), the task body, retries and sweeps, and what each tool registers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from queue_kit import faxplus_body, wait_until

from hookreceiver import Delivery, DeliveryContext, Headers, Receiver, providers
from hookreceiver.inbox import InboxRecord, InboxState, Retry, SQLiteInbox
from hookreceiver.inbox.queues import current_headers, message_headers
from hookreceiver.integrations._sender import BackgroundSender, BrokerQueue


def fax(hook_id: str, orders: str = "") -> Delivery:
    return Delivery(
        "POST",
        "/hooks/faxplus",
        headers=Headers([("content-type", "application/json")]),
        peer="127.0.0.1",
        body=faxplus_body(hook_id, orders),
    )


def receiver(tmp_path: Path, **inbox_options: Any) -> Receiver:
    inbox = SQLiteInbox(tmp_path / "inbox.db", **inbox_options)
    hooks = Receiver(inbox=inbox, worker=False, log_events=False)
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]), ack="inbox")
    return hooks


class Recorded(BrokerQueue):
    """A BrokerQueue whose ``send`` keeps the messages (the tools' sends are tested end to end
    against real brokers in test_queues_e2e.py)."""

    def __init__(self, hooks: Receiver, **options: Any) -> None:
        self.sent: list[tuple[str, float, dict[str, str], str]] = []
        self.broken = False
        super().__init__(hooks, **options)

    def send(self, record_id: str, delay: float, headers: Mapping[str, str]) -> None:
        if self.broken:
            raise ConnectionError("broker down")
        self.sent.append((record_id, delay, dict(headers), threading.current_thread().name))


def traced_record(record_id: str, traceparent: str | None) -> InboxRecord:
    return InboxRecord(
        id=record_id,
        state=InboxState.PENDING,
        endpoint="/x",
        provider="faxplus",
        event_name=None,
        key=None,
        received_at=0,
        updated_at=0,
        attempts=0,
        next_attempt_at=0,
        last_error=None,
        size=0,
        traceparent=traceparent,
    )


def test_messages_carry_the_delivery_id_and_the_records_trace_context() -> None:
    record = traced_record("d1", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    assert message_headers("d1", record) == {
        "delivery_id": "d1",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }
    assert message_headers("d3", traced_record("d3", None)) == {"delivery_id": "d3"}
    assert message_headers("d2") == {"delivery_id": "d2"}


def test_accepted_deliveries_are_sent_off_the_request_thread_with_their_headers(
    tmp_path: Path,
) -> None:
    hooks = receiver(tmp_path)
    queue = Recorded(hooks)
    assert hooks.handle(fax("a1")).status == 200
    assert queue.sender.flush(10)
    ((record_id, delay, headers, thread),) = queue.sent
    assert (delay, headers) == (0.0, {"delivery_id": record_id})
    assert thread == "hookreceiver-queue-sender"
    queue.close()


def test_the_task_sets_the_headers_retries_with_the_inbox_backoff_and_runs_once(
    tmp_path: Path,
) -> None:
    clock = [1_700_000_000.0]
    hooks = receiver(tmp_path, retry=Retry(first_delay=7.0), clock=lambda: clock[0])
    seen: list[tuple[int, Any]] = []

    @hooks.on("*")
    def handler(event: Any, ctx: DeliveryContext) -> None:
        seen.append((ctx.attempt, current_headers.get()))
        if ctx.attempt == 1:
            raise RuntimeError("first attempt")

    queue = Recorded(hooks)
    hooks.handle(fax("b1"))
    assert queue.sender.flush(10)
    ((record_id, _, headers, _),) = queue.sent
    assert queue.process(record_id, headers) is InboxState.PENDING
    # Sent again from the task, due after the inbox's backoff (not the queue's retries).
    (_, delay, again, thread) = queue.sent[1]
    assert delay == 7.0 and again == headers and thread == threading.current_thread().name
    assert queue.process(record_id, headers) is None  # not due yet: a duplicate message
    clock[0] += 7
    assert queue.process(record_id, headers) is InboxState.DONE
    assert seen == [(1, headers), (2, headers)]
    assert current_headers.get() is None
    queue.close()


def test_an_outage_costs_one_error_and_the_sweep_sends_what_waited(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = [1_700_000_000.0]
    hooks = receiver(tmp_path, clock=lambda: clock[0])
    queue = Recorded(hooks, grace=30.0)
    queue.sender.pause = 60.0
    queue.broken = True
    with caplog.at_level(logging.ERROR, "hookreceiver"):
        for n in range(5):
            assert hooks.handle(fax(f"c{n}")).status == 200  # the answer never waits
        assert queue.sender.flush(10)
    errors = [r for r in caplog.records if "could not send" in r.getMessage()]
    assert len(errors) == 1 and queue.sent == []
    queue.broken = False
    assert queue.sweep() == 0  # not overdue yet
    clock[0] += 31
    assert queue.sweep() == 5
    assert sorted(headers["delivery_id"] for _, _, headers, _ in queue.sent) == sorted(
        e.id for e in queue.inbox.list()
    )
    queue.close()


def test_the_sweep_purges_handled_deliveries_past_keep_done(tmp_path: Path) -> None:
    clock = [1_700_000_000.0]
    hooks = receiver(tmp_path, clock=lambda: clock[0], keep_done=100.0)
    hooks.on("*")(lambda event, ctx: None)
    queue = Recorded(hooks)
    hooks.handle(fax("d1"))
    assert queue.sender.flush(10)
    assert queue.process(queue.sent[0][0]) is InboxState.DONE
    queue.sweep()
    assert len(queue.inbox.list()) == 1  # kept for keep_done
    clock[0] += queue.purge_interval + 1
    queue.sweep()
    assert queue.inbox.list() == []
    queue.close()


def test_the_sender_resumes_after_its_pause() -> None:
    sent: list[str] = []
    broken = [True]

    def send(record_id: str, delay: float, headers: Mapping[str, str]) -> None:
        if broken[0]:
            raise ConnectionError("down")
        sent.append(record_id)

    sender = BackgroundSender(send, pause=0.2)
    sender.submit("a", 0, {})
    assert sender.flush(5)
    broken[0] = False
    sender.submit("b", 0, {})  # within the pause: dropped (the sweep sends it)
    assert sender.flush(5)
    assert wait_until(lambda: (sender.submit("c", 0, {}), sender.flush(5))[1] and "c" in sent, 5)
    assert sent[0] == "c" and "a" not in sent and "b" not in sent
    sender.close()


def test_celery_registers_its_tasks_and_the_beat_sweep(tmp_path: Path) -> None:
    celery = pytest.importorskip("celery")
    from hookreceiver.integrations.celery import install

    app = celery.Celery("t", broker="amqp://guest:guest@127.0.0.1:1//")
    queue = install(app, receiver(tmp_path), sweep_every=5, prefix="hr")
    app.loader.import_default_modules()
    app.finalize()
    assert {"hr.process_delivery", "hr.sweep"} <= set(app.tasks)
    assert app.tasks["hr.process_delivery"].max_retries == 0
    (entry,) = [e for name, e in app.conf.beat_schedule.items() if name == "hr.sweep"]
    assert (entry["task"], entry["schedule"]) == ("hr.sweep", 5)
    queue.close()


def test_dramatiq_declares_an_actor_without_retries_or_time_limit(tmp_path: Path) -> None:
    pytest.importorskip("dramatiq")
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    from hookreceiver.integrations.dramatiq import install

    broker = RabbitmqBroker(url="amqp://guest:guest@127.0.0.1:1")
    queue = install(broker, receiver(tmp_path), queue_name="hr_q", sweep_every=5)
    actor = broker.get_actor("hookreceiver_process")
    assert (actor.queue_name, actor.options["max_retries"]) == ("hr_q", 0)
    assert actor.options["time_limit"] >= 365 * 24 * 3600 * 1000
    assert queue.sweeper is not None and queue.sweeper.every == 5
    assert any(type(m).__name__ == "_Sweep" for m in broker.middleware)
    queue.close()


def test_arq_functions_and_cron_for_worker_settings(tmp_path: Path) -> None:
    pytest.importorskip("arq")
    from arq.connections import RedisSettings

    from hookreceiver.integrations.arq import _cron_times, install

    queue = install(receiver(tmp_path), RedisSettings(), queue_name="hr_q", sweep_every=5)
    (function,) = queue.functions
    assert (function.name, function.max_tries, function.keep_result_s) == (
        "hookreceiver_process",
        1,
        0,
    )
    (cron,) = queue.cron_jobs
    assert cron.name == "hookreceiver_process_sweep" and cron.unique
    assert _cron_times(5) == {"second": set(range(0, 60, 5))}
    assert _cron_times(120) == {"minute": set(range(0, 60, 2)), "second": {0}}
    queue.close()


def test_a_slow_broker_never_holds_up_the_answer(tmp_path: Path) -> None:
    hooks = receiver(tmp_path)
    release = threading.Event()

    class Slow(Recorded):
        def send(self, record_id: str, delay: float, headers: Mapping[str, str]) -> None:
            release.wait(10)
            super().send(record_id, delay, headers)

    queue = Slow(hooks)
    started = time.monotonic()
    for n in range(3):
        assert hooks.handle(fax(f"e{n}")).status == 200
    assert time.monotonic() - started < 5
    release.set()
    assert queue.sender.flush(10) and len(queue.sent) == 3
    queue.close()


def test_the_scaling_pages_code_runs() -> None:
    """docs/scaling.md's snippet as written (nothing connects until a delivery comes)."""
    import re

    page = (Path(__file__).resolve().parents[2] / "docs" / "scaling.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/scaling.md", "exec"), namespace)
    assert "hookreceiver.process_delivery" in namespace["celery_app"].tasks
    namespace["queue"].close()


@given(traceparent=st.one_of(st.none(), st.text(max_size=60)))
def test_headers_hold_the_delivery_id_and_the_trace_context_when_kept(
    traceparent: str | None,
) -> None:
    headers = message_headers("rid", traced_record("rid", traceparent))
    expected = {"delivery_id": "rid"} | ({"traceparent": traceparent} if traceparent else {})
    assert headers == expected


@given(every=st.integers(min_value=1, max_value=3600))
def test_arq_sweeps_come_at_most_every_so_often_and_at_least_hourly(every: int) -> None:
    pytest.importorskip("arq")
    from hookreceiver.integrations.arq import _cron_times

    times = _cron_times(every)
    if every < 60:
        assert times["second"] == set(range(0, 60, every))
    else:
        assert times["second"] == {0} and 0 in times["minute"]
        assert times["minute"] == set(range(0, 60, every // 60))
