"""The console's list page with a million deliveries in the inbox: server time per request.

Fills a SQLite inbox and a PostgreSQL inbox (a table of its own, dropped afterwards) with
``--rows`` deliveries spread over 30 days (5 providers; 90 % done, 5 % quarantined, 3 % failed,
2 % pending), then times the console's ASGI app in process (no socket: the server's own time,
from the call to the last byte of the answer) for the pages an operator opens: the newest page,
filtered by state, by provider, by a time range, a search by id / key / fax id, and a page deep
in the listing through its cursor. Prints the median and the 95th percentile of ``--repeat`` runs.
The goal is < 150 ms for each. Not part of CI (it takes minutes):

    HOOKRECEIVER_POSTGRES_DSN=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/console_list.py --rows 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hookreceiver import Receiver
from hookreceiver.inbox import Inbox, InboxRecord, InboxState, PostgresInbox, SQLiteInbox
from hookreceiver.inbox._sql import ALL_COLUMNS, insert_params
from hookreceiver.inbox.listing import encode_cursor

PROVIDERS = ["documo", "faxplus", "updox", "wirecloud", "zipwhip"]
STATES = [InboxState.DONE] * 90 + [InboxState.QUARANTINED] * 5 + [InboxState.FAILED] * 3
STATES += [InboxState.PENDING] * 2
NOW = 1_780_000_000.0
USER = ("bench", "bench-password-0123")


def records(count: int, seed: int = 7) -> Iterator[InboxRecord]:
    rng = random.Random(seed)
    for i in range(count):
        provider = PROVIDERS[i % 5]
        at = NOW - rng.random() * 30 * 86400
        state = rng.choice(STATES)
        body = b'{"id": "%d", "status": "success"}' % i
        yield InboxRecord(
            id=f"{i:016x}",
            state=state,
            endpoint=f"/hooks/{provider}",
            provider=provider,
            event_name=f"{provider}.fax.inbound",
            key=f"{provider}:fax.inbound:fax-{i}",
            received_at=at,
            updated_at=at,
            attempts=1,
            next_attempt_at=at,
            last_error="RuntimeError: the CRM is down" if state is InboxState.FAILED else None,
            size=len(body),
            subject=f"fax-{i}",
            path=f"/hooks/{provider}",
            headers=(("content-type", "application/json"),),
            client="203.0.113.9",
            content_type="application/json",
            body=body,
        )


def fill_sqlite(inbox: SQLiteInbox, count: int) -> None:
    placeholders = ", ".join("?" * len(ALL_COLUMNS))
    sql = f"INSERT INTO {inbox._sql.table} ({', '.join(ALL_COLUMNS)}) VALUES ({placeholders})"
    with inbox._connection() as conn:
        conn.execute("BEGIN")
        conn.executemany(sql, (insert_params(r) for r in records(count)))
        conn.execute("COMMIT")
        conn.execute("ANALYZE")


def fill_postgres(inbox: PostgresInbox, count: int) -> None:
    inbox.search(limit=1)  # creates the table
    with inbox._connection() as conn:
        with conn.cursor() as cursor:
            columns = ", ".join(ALL_COLUMNS)
            with cursor.copy(f"COPY {inbox.table} ({columns}) FROM STDIN") as copy:
                for record in records(count):
                    copy.write_row(insert_params(record))
        conn.execute(f"ANALYZE {inbox.table}")


async def timed(app: Any, path: str, query: str) -> tuple[float, int]:
    auth = base64.b64encode(":".join(USER).encode())
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"bench"), (b"authorization", b"Basic " + auth)],
        "client": ("127.0.0.1", 1),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    started = time.perf_counter()
    await app(scope, receive, send)
    return time.perf_counter() - started, status


def pages(inbox: Inbox, count: int) -> list[tuple[str, str]]:
    middle = inbox.get(f"{count // 2:016x}")
    assert middle is not None
    day = NOW - 15 * 86400
    return [
        ("newest page", ""),
        ("state=failed", "state=failed"),
        ("state=pending", "state=pending"),
        ("provider=documo", "provider=documo"),
        ("provider + state", "provider=updox&state=quarantined"),
        ("one day's range", "since=" + _iso(day) + "&until=" + _iso(day + 86400)),
        ("search delivery id", f"q={count // 3:016x}"),
        ("search idempotency key", f"q={PROVIDERS[(count // 7) % 5]}:fax.inbound:fax-{count // 7}"),
        ("search fax id", f"q=fax-{count // 5}"),
        ("deep page (cursor)", "cursor=" + encode_cursor(middle.entry())),
        ("event filter", "event=documo.fax.inbound"),
        ("overview (not the list)", "/overview"),
    ]


def _iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M", time.gmtime(when))


def measure(name: str, inbox: Inbox, count: int, repeat: int) -> list[str]:
    hooks = Receiver(inbox=inbox, worker=False, record_sync=False)
    app = hooks.console_app(auth=[USER])
    rows = []
    loop = asyncio.new_event_loop()
    for label, page in pages(inbox, count):
        path, query = (page, "") if page.startswith("/") else ("/", page)
        times = []
        for _ in range(repeat):
            took, status = loop.run_until_complete(timed(app, path, query))
            assert status == 200, (label, status)
            times.append(took * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        rows.append(f"| {name} | {label} | {statistics.median(times):.1f} | {p95:.1f} |")
        print(rows[-1], flush=True)
    loop.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    print("| inbox | page | median ms | p95 ms |\n|---|---|---|---|", flush=True)
    if "sqlite" in args.backends:
        with tempfile.TemporaryDirectory() as tmp:
            box = SQLiteInbox(Path(tmp) / "bench.db", synchronous="NORMAL")
            started = time.perf_counter()
            fill_sqlite(box, args.rows)
            print(
                f"(sqlite: {args.rows} rows in {time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
            )
            measure("SQLite", box, args.rows, args.repeat)
            box.close()
    dsn = os.environ.get("HOOKRECEIVER_POSTGRES_DSN")
    if "postgres" in args.backends and dsn:
        table = f"hr_bench_console_{secrets.token_hex(4)}"
        pg = PostgresInbox(dsn, table=table, statement_timeout=None)  # COPY takes minutes
        try:
            started = time.perf_counter()
            fill_postgres(pg, args.rows)
            print(
                f"(postgres: {args.rows} rows in {time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
            )
            measure("PostgreSQL", pg, args.rows, args.repeat)
        finally:
            pg.drop()
            pg.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
