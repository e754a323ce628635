"""Exactly once across a Redis outage, through real servers: uvicorn (the async path) and a
threading WSGI server (the sync path) in worker processes of their own, a real HTTP client, and
a private redis-server stopped while a handler runs (slower than its lease, so it is renewed)
and started again empty."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
from store_kit import PrivateRedis, Worker, faxplus_body, handled_keys, start_workers

HEADERS = {"content-type": "application/json"}
LEASE, DELAY = 1.0, 1.5


def _status(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["status"]


def _recorded(redis_url: str, key: str) -> bool:
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=1.0)
    try:
        value = client.get(key)
    except redis.RedisError:
        return False
    finally:
        client.close()
    return value is not None and value.startswith(b"d")


def _once(
    worker: Worker,
    elsewhere: Worker,
    redis: PrivateRedis,
    prefix: str,
    hook_id: str,
    workdir: Path,
) -> None:
    answers: list[httpx.Response] = []
    body = faxplus_body(hook_id)
    key = f"faxplus:fax_received:{hook_id}"

    def send() -> None:
        answers.append(httpx.post(worker.url, content=body, headers=HEADERS, timeout=30))

    block = workdir / "block"  # the handler waits while it exists (see store_worker.py)
    block.touch()
    first = threading.Thread(target=send)
    first.start()
    started = workdir / "started.log"
    deadline = time.monotonic() + 20
    while key not in (started.read_text().split() if started.exists() else []):
        assert time.monotonic() < deadline, "the handler never started"
        time.sleep(0.02)
    redis.stop()  # while the handler runs
    block.unlink()
    first.join(30)
    assert [_status(a) for a in answers] == [(200, "handled")]
    # The sender's quick retry to the same process: a duplicate, told without the store.
    again = httpx.post(worker.url, content=body, headers=HEADERS, timeout=30)
    assert _status(again) == (200, "duplicate")
    time.sleep(LEASE)  # the lease runs out during the outage
    redis.start()  # empty: the claim is gone with it
    deadline = time.monotonic() + 15
    while not _recorded(redis.url, prefix + key):
        assert time.monotonic() < deadline, "the completion was never recorded"
        time.sleep(0.05)
    # The sender's retry after the lease, to another process: done, not run again.
    later = httpx.post(elsewhere.url, content=body, headers=HEADERS, timeout=20)
    assert _status(later) == (200, "duplicate")


def test_a_redis_outage_mid_handler_runs_it_once_under_uvicorn_and_wsgi(
    private_redis: PrivateRedis, tmp_path: Path, namespace: str
) -> None:
    prefix = f"{namespace}:"
    spec = {"kind": "redis", "url": private_redis.url, "prefix": prefix}
    asgi, wsgi = start_workers(["asgi", "wsgi"], spec, tmp_path, lease=LEASE, delay=DELAY)
    try:
        _once(asgi, wsgi, private_redis, prefix, "srv-asgi", tmp_path)
        _once(wsgi, asgi, private_redis, prefix, "srv-wsgi", tmp_path)
    finally:
        asgi.stop()
        wsgi.stop()
    assert sorted(handled_keys(tmp_path)) == [
        "faxplus:fax_received:srv-asgi",
        "faxplus:fax_received:srv-wsgi",
    ]
