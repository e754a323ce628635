"""The SQLite and PostgreSQL stores' thread pool: reuse, limits, waiting, broken connections."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from hookreceiver import StoreUnavailable
from hookreceiver.stores._pool import SyncPool


class Conn:
    made = 0

    def __init__(self) -> None:
        Conn.made += 1
        self.number = Conn.made
        self.closed = False

    def close(self) -> None:
        self.closed = True


def make_pool(max_size: int = 2, timeout: float = 0.2) -> SyncPool[Conn]:
    return SyncPool(Conn, Conn.close, max_size=max_size, timeout=timeout)


def test_a_connection_given_back_is_reused() -> None:
    pool = make_pool()
    with pool.connection() as first:
        pass
    with pool.connection() as second:
        assert second is first
    pool.close()
    assert first.closed


def test_a_connection_whose_block_raised_is_discarded_and_its_slot_freed() -> None:
    pool = make_pool(max_size=1)
    with pytest.raises(RuntimeError), pool.connection() as broken:
        raise RuntimeError("connection reset")
    assert broken.closed
    with pool.connection() as fresh:  # the slot came back: no wait, no StoreUnavailable
        assert fresh is not broken and not fresh.closed


def test_a_failed_connect_frees_its_slot() -> None:
    calls = 0

    def connect() -> Conn:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("database unreachable")
        return Conn()

    pool: SyncPool[Conn] = SyncPool(connect, Conn.close, max_size=1, timeout=0.1)
    with pytest.raises(OSError), pool.connection():
        pass
    with pool.connection() as conn:
        assert not conn.closed


def test_callers_beyond_max_size_wait_then_give_up() -> None:
    pool = make_pool(max_size=2, timeout=0.2)
    with pool.connection() as a, pool.connection() as b:
        assert a is not b
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="no free store connection"), pool.connection():
            pass
        assert time.monotonic() - started >= 0.19


def test_a_waiting_caller_gets_the_connection_given_back() -> None:
    pool = make_pool(max_size=1, timeout=5)
    got: list[Conn] = []
    holding = threading.Event()

    def other() -> None:
        with pool.connection() as conn:
            holding.set()
            time.sleep(0.1)
            got.append(conn)

    thread = threading.Thread(target=other)
    thread.start()
    holding.wait()
    with pool.connection() as mine:  # waits for the other thread's connection
        assert got and mine is got[0]
    thread.join()


def test_many_threads_never_exceed_max_size() -> None:
    pool = make_pool(max_size=3, timeout=5)
    lock = threading.Lock()
    in_use = peak = 0

    def work() -> None:
        nonlocal in_use, peak
        for _ in range(200):
            with pool.connection():
                with lock:
                    in_use += 1
                    peak = max(peak, in_use)
                time.sleep(0)
                with lock:
                    in_use -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 <= peak <= 3
    assert pool._in_use == 0 and len(pool._idle) <= 3


FORK_SCRIPT = """
import os
from hookreceiver.stores._pool import SyncPool

class Conn:
    def __init__(self):
        self.owner = os.getpid()

    def close(self):
        if self.owner != os.getpid():
            os._exit(4)  # a child closed its parent's connection

pool = SyncPool(Conn, Conn.close, max_size=1, timeout=1)
with pool.connection() as parents:
    pass
pid = os.fork()
if pid == 0:
    with pool.connection() as childs:  # the parent's connection is neither used nor closed
        ok = childs is not parents
    pool.close()
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
with pool.connection() as again:
    assert again is parents  # the parent keeps its own
print(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_opens_its_own_connections() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "0"
