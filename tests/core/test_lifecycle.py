"""The in-process worker's lifecycle: one owner object the adapters drive (core/lifecycle.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from hookreceiver import Receiver
from hookreceiver.core.lifecycle import WorkerLifecycle
from hookreceiver.core.protocols import ReceiverState
from hookreceiver.inbox import InboxWorker, SQLiteInbox


class FakeWorker:
    """Records what the lifecycle asks of it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.threads = False

    @property
    def threaded(self) -> bool:
        return self.threads

    def start(self) -> None:
        self.calls.append("start")
        self.threads = True

    def stop(self, timeout: float = 30.0) -> None:
        self.calls.append("stop")
        self.threads = False

    async def astart(self) -> None:
        self.calls.append("astart")

    async def astop(self, timeout: float = 30.0) -> None:
        self.calls.append("astop")


def test_start_builds_one_worker_and_is_no_longer_due() -> None:
    built: list[FakeWorker] = []
    lifecycle = WorkerLifecycle(lambda: built.append(FakeWorker()) or built[-1], autostart=True)
    assert lifecycle.due and lifecycle.worker is None
    first = lifecycle.start()
    assert lifecycle.start() is first and len(built) == 1
    assert not lifecycle.due and first.calls == ["start"]
    lifecycle.stop()
    assert lifecycle.worker is None and first.calls == ["start", "stop"]


def test_astop_also_stops_threads_a_wsgi_start_left_running() -> None:
    lifecycle = WorkerLifecycle(FakeWorker, autostart=False)
    assert not lifecycle.due

    async def run() -> FakeWorker:
        worker = await lifecycle.astart()
        worker.start()  # as if a thread start had run first
        await lifecycle.astop()
        return worker

    worker = anyio.run(run)
    assert worker.calls == ["astart", "start", "astop", "stop"]
    assert lifecycle.worker is None


def test_the_receiver_owns_its_worker_through_the_lifecycle(tmp_path: Path) -> None:
    assert not Receiver().worker_lifecycle.due  # no inbox: nothing to start
    inbox = SQLiteInbox(str(tmp_path / "inbox.db"))
    assert not Receiver(inbox=inbox, worker=False).worker_lifecycle.due
    hooks = Receiver(inbox=inbox, worker={"poll_interval": 0.05})
    assert isinstance(hooks, ReceiverState)
    assert hooks.worker_lifecycle.due
    worker = hooks.start_worker()
    try:
        assert isinstance(worker, InboxWorker) and worker.poll_interval == 0.05
        assert hooks.worker_lifecycle.worker is worker and not hooks.worker_lifecycle.due
        assert worker.threaded
    finally:
        hooks.stop_worker()
    assert hooks.worker_lifecycle.worker is None and not worker.threaded


FORK_SCRIPT = """
import os
from hookreceiver.core.lifecycle import WorkerLifecycle

class Worker:
    threaded = False
    def start(self): self.threaded = True
    def stop(self, timeout=30.0): self.threaded = False

lifecycle = WorkerLifecycle(Worker, autostart=True)
lifecycle.start()
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(write, f"{lifecycle.worker is None} {lifecycle.due}".encode())
    os._exit(0)
os.close(write)
os.waitpid(pid, 0)
print(os.read(read, 64).decode(), lifecycle.worker is None, lifecycle.due)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_its_own_worker_threads() -> None:
    # A child inherits no threads: its lifecycle forgets the parent's worker and is due again
    # (gunicorn's preload forks workers from a master that may have started one).
    out = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["True", "True", "False", "False"]
