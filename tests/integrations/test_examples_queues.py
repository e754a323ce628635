"""The three task-queue examples, run the way each tool's users run them: ``uvicorn
examples.<tool>_app:app`` receives, the tool's own command runs the workers, and each handled
event is one JSON line on the worker's stdout with ``event``, ``idempotency_key`` and ``pid``."""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from queue_kit import (
    Proc,
    Schema,
    delete_arq_queue,
    delete_rabbitmq_queues,
    pika_url,
    rabbitmq_names,
    wait_until,
)

from hookreceiver.testing import faxplus, send_http, wirecloud
from support.servers import free_port
from test_examples import ROOT, Server, example_env, registration_urls

pytestmark = pytest.mark.slow
AMQP_URL = os.environ.get("HOOKRECEIVER_AMQP_URL")
BIN = Path(sys.executable).parent


@pytest.fixture
def schema(postgres_dsn: str) -> Iterator[Schema]:
    made = Schema(postgres_dsn)
    yield made
    made.drop()


def worker_command(tool: str, workdir: Path) -> list[str]:
    if tool == "celery":  # as the example's docstring says, with a small thread pool
        return [
            str(BIN / "celery"),
            "-A",
            "examples.celery_app",
            "worker",
            "-B",
            "-s",
            str(workdir / "beat"),
            "-P",
            "threads",
            "-c",
            "2",
            "--without-mingle",
        ]
    if tool == "dramatiq":
        return [str(BIN / "dramatiq"), "examples.dramatiq_app", "-p", "1", "-t", "2"]
    return [str(BIN / "arq"), "examples.arq_app.WorkerSettings"]


@pytest.mark.parametrize("tool", ["celery", "dramatiq", "arq"])
def test_the_example_runs_as_its_tools_users_run_it(
    tool: str, tmp_path: Path, schema: Schema, redis_url: str
) -> None:
    if tool != "arq" and not AMQP_URL:
        if os.environ.get("CI"):
            pytest.fail("HOOKRECEIVER_AMQP_URL must be set on CI (see .ci/run)")
        pytest.skip("HOOKRECEIVER_AMQP_URL is not set: no RabbitMQ to test against")
    broker = redis_url if tool == "arq" else str(AMQP_URL)
    queue = f"hrq_{secrets.token_hex(5)}"
    env = {
        **example_env(tmp_path),
        "HOOKRECEIVER_INBOX": schema.url,
        "HOOKRECEIVER_STORE": schema.url,
        "HOOKRECEIVER_BROKER_URL": pika_url(broker) if tool == "dramatiq" else broker,
        "HOOKRECEIVER_QUEUE": queue,
        "HOOKRECEIVER_JOURNAL": str(tmp_path / "journal"),
    }
    worker = Proc("worker", worker_command(tool, tmp_path), env, tmp_path / "worker.out", cwd=ROOT)
    worker.start()
    port = free_port()
    command = [
        str(BIN / "uvicorn"),
        "--no-proxy-headers",
        f"examples.{tool}_app:app",
        "--port",
        str(port),
    ]
    server = Server(command, env, port)
    try:
        url = registration_urls(env)["wirecloud channel_destroy"]
        kazoo = wirecloud.channel_destroy(url=url.replace("http://127.0.0.1:8000", ""))
        fax = faxplus.fax_received()
        assert send_http(fax, server.base_url).status == 200
        assert send_http(kazoo, server.base_url).status == 200

        def events() -> list[dict[str, object]]:
            lines = worker.out.read_text(errors="replace").splitlines()
            return [json.loads(x) for x in lines if x.startswith('{"event"')]

        assert wait_until(lambda: len(events()) >= 2, 60), worker.out.read_text()[-4000:]
        seen = events()
        assert sorted(e["event"] for e in seen) == [
            "faxplus.fax_received",
            "wirecloud.channel_destroy",
        ]
        assert {e["pid"] for e in seen} != {server.process.pid}  # the worker ran them
        assert all(e["idempotency_key"] and e["delivery_id"] for e in seen)
        # Nothing ran in the receiver: its output holds no event line.
        assert not [x for x in server.lines if x.startswith('{"event"')]
    finally:
        server.stop()
        worker.kill()
        if tool == "arq":
            delete_arq_queue(redis_url, queue)
        else:
            delete_rabbitmq_queues(str(AMQP_URL), rabbitmq_names(tool, queue))
