"""Growth curves: what one operation costs as the stores and the inbox fill up, and the memory
a fax costs in inbox mode at any size.

    python bench/harness/growth.py                      # 10k / 100k / 1M rows, 1/10/100 MiB
    python bench/harness/growth.py --rows 10000,100000 --attachments 1,10 --backends sqlite
    python bench/harness/growth.py --update-results     # ... and write bench/RESULTS.md's block

Each backend is filled once, level after level (10k, then 90k more, then 900k more: rows
written straight into its table, as a busy receiver would have left them), and at every level
the same operations are timed one at a time; the tables give the median (p50) in microseconds
and the ratio of the largest level to the smallest. The goal is at most 1.5x for every
per-delivery operation (claim, complete, put, take, finish, get).

- **Stores**: a claim of a new key, its complete, and a claim of a handled key (the duplicate).
  Held keys are handled ones, kept for a week.
- **Inbox**: half the rows handled long ago (``done``), half ``pending`` and due (a backlog);
  ``put`` a new delivery, ``take`` the one due first, ``finish`` it, ``get`` one by id,
  ``list`` the oldest 100, ``list --state failed`` (none are), and ``purge`` of 5,000 old
  handled ones (given per 1,000 rows).
- **Attachments**: a Documo delivery with a 1, 10 and 100 MiB PDF, posted to uvicorn serving
  ``apps.inbox_app`` (``ack="inbox"``, the app's in-process worker hashing the fax a chunk at a
  time); the server's peak RSS growth from the request until its handler has run.

SQLite runs with ``synchronous=NORMAL`` and PostgreSQL's sessions with
``synchronous_commit=off``: no disk flush per write, whose time (shared with every other client
on a busy machine) would drown the curves. Each level's operations run in three interleaved
rounds. PostgreSQL is the one in ``HOOKRECEIVER_POSTGRES_DSN``, Redis the one in
``HOOKRECEIVER_REDIS_URL``; tables and keys are the benchmark's own and are removed afterwards.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(BENCH_DIR)]

from apps.documo import DOCUMO_CREDENTIALS  # noqa: E402
from apps.payloads import documo_body, fake_pdf  # noqa: E402

from harness.servers import Server, ServerSpec  # noqa: E402
from hookreceiver.inbox import InboxRecord, InboxState  # noqa: E402
from hookreceiver.inbox._sql import insert_params  # noqa: E402

MiB = 1024 * 1024
WEEK = 7 * 86400.0
SAMPLES = 300
PURGED = 5_000
PG_SERVER = os.environ.get("HOOKRECEIVER_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
# Commits that do not wait for the disk's flush, as SQLite runs with synchronous=NORMAL: the
# flush, shared with every other client of the server, would drown the curves.
PG_DSN = PG_SERVER + ("&" if "?" in PG_SERVER else "?") + "options=-csynchronous_commit%3Doff"
REDIS_URL = os.environ.get("HOOKRECEIVER_REDIS_URL", "redis://127.0.0.1:6379/0")
PER_DELIVERY = {"claim new", "complete", "claim duplicate", "put", "take", "finish", "get"}


ROUNDS = 3


def _p50_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def _interleaved(ops: dict[str, Callable[[int], object]], count: int = SAMPLES) -> dict[str, float]:
    """p50 µs of each operation: ``ROUNDS`` rounds, each running every operation in turn
    ``count / ROUNDS`` times (call ``i`` of an operation gets ``i``), so a moment of noise on
    the shared machine falls on all of them alike."""
    samples: dict[str, list[float]] = {name: [] for name in ops}
    per_round = count // ROUNDS
    for round_ in range(ROUNDS):
        for name, fn in ops.items():
            for i in range(round_ * per_round, (round_ + 1) * per_round):
                started = time.perf_counter()
                fn(i)
                samples[name].append(time.perf_counter() - started)
    return {name: _p50_us(found) for name, found in samples.items()}


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# Stores ----------------------------------------------------------------------------------------


@contextmanager
def _store(backend: str, workdir: Path) -> Iterator[tuple[Any, Callable[[int, int], None]]]:
    """The store, and a function that adds held keys ``start`` .. ``end`` (done for a week)."""
    name = f"bench_growth_{secrets.token_hex(4)}"
    if backend == "memory":
        from hookreceiver.stores import MemoryStore

        store: Any = MemoryStore(max_keys=3_000_000)

        def fill(start: int, end: int) -> None:
            for i in range(start, end):
                claim = store.claim(f"held{i}", 60)
                store.complete(f"held{i}", claim.token, WEEK)

        yield store, fill
    elif backend == "sqlite":
        import sqlite3

        from hookreceiver.stores import SQLiteStore

        path = workdir / f"{name}.db"
        store = SQLiteStore(path)
        store.claim("opens-the-file", 60)

        def fill(start: int, end: int) -> None:
            until = time.time() + WEEK
            with sqlite3.connect(path) as conn:
                conn.executemany(
                    "INSERT INTO hookreceiver_claims VALUES (?, 't', 1, ?)",
                    ((f"held{i}", until) for i in range(start, end)),
                )

        yield store, fill
        store.close()
    elif backend == "postgres":
        import psycopg

        from hookreceiver.stores import PostgresStore

        store = PostgresStore(PG_DSN, table=name)
        store.claim("creates-the-table", 60)

        def fill(start: int, end: int) -> None:
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(
                    f"INSERT INTO {name} SELECT 'held' || i, 't', true, now() + interval '7 days'"
                    " FROM generate_series(%s::int, %s::int) AS i",
                    (start, end - 1),
                )
                conn.execute(f"VACUUM ANALYZE {name}")

        try:
            yield store, fill
        finally:
            store.drop_table()
            store.close()
    elif backend == "redis":
        import redis

        from hookreceiver.stores import RedisStore

        prefix = f"{name}:"
        store = RedisStore(REDIS_URL, prefix=prefix)
        client = redis.Redis.from_url(REDIS_URL)

        def fill(start: int, end: int) -> None:
            # As RedisStore keeps a handled key: its value, expiring with the retention.
            claim = store.claim(f"template{start}", 60)
            store.complete(f"template{start}", claim.token, WEEK)
            value = client.get(f"{prefix}template{start}")
            if value is None:
                raise RuntimeError("RedisStore keeps keys under another name than expected")
            pipe = client.pipeline(transaction=False)
            for i in range(start, end):
                pipe.set(f"{prefix}held{i}", value, px=int(3600 * 1000))
                if i % 10_000 == 0:
                    pipe.execute()
            pipe.execute()

        try:
            yield store, fill
        finally:
            for keys in _batches(client.scan_iter(f"{prefix}*", count=10_000), 10_000):
                client.unlink(*keys)
            store.close()
    else:
        raise ValueError(f"unknown store {backend!r}")


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def store_curve(backend: str, levels: list[int], workdir: Path) -> dict[str, dict[int, float]]:
    """Per operation, per level: p50 µs."""
    curve: dict[str, dict[int, float]] = {"claim new": {}, "complete": {}, "claim duplicate": {}}
    with _store(backend, workdir) as (store, fill):
        held = 0
        for level in levels:
            started = time.perf_counter()
            fill(held, level)
            held = level
            _say(f"  {backend} store: {level:,} keys ({time.perf_counter() - started:.1f} s)")
            run = secrets.token_hex(3)
            tokens: dict[int, str] = {}

            def claim(i: int, run: str = run, tokens: dict[int, str] = tokens) -> None:
                tokens[i] = store.claim(f"new-{run}-{i}", 60).token

            def complete(i: int, run: str = run, tokens: dict[int, str] = tokens) -> None:
                store.complete(f"new-{run}-{i}", tokens[i], WEEK)

            def duplicate(i: int, level: int = level) -> None:
                store.claim(f"held{(i * 7919) % level}", 60)

            timed = _interleaved(
                {"claim new": claim, "complete": complete, "claim duplicate": duplicate}
            )
            for name, value in timed.items():
                curve[name][level] = value
    return curve


# Inbox -----------------------------------------------------------------------------------------

_BODY = b"hook_event=channel_destroy&call_id=%s&account_id=91eb05e5c68d7ca05e7618b6821d2d16"


def _record(record_id: str, at: float, state: InboxState) -> InboxRecord:
    body = _BODY % record_id.encode()
    return InboxRecord(
        id=record_id,
        state=state,
        endpoint="/hooks/kazoo",
        provider="wirecloud",
        event_name="wirecloud.channel_destroy",
        key=f"wirecloud.channel_destroy:{record_id}",
        received_at=at,
        updated_at=at,
        attempts=1 if state is InboxState.DONE else 0,
        next_attempt_at=at,
        last_error=None,
        size=len(body),
        path="/hooks/kazoo",
        headers=(("content-type", "application/x-www-form-urlencoded"),),
        client="127.0.0.1",
        content_type="application/x-www-form-urlencoded",
        body=body,
    )


def _rows(start: int, end: int, now: float) -> Iterator[tuple[Any, ...]]:
    # Even rows: handled 60 days ago; odd rows: pending and due (oldest first).
    for i in range(start, end):
        if i % 2 == 0:
            yield insert_params(_record(f"h{i:08d}", now - 60 * 86400 + i, InboxState.DONE))
        else:
            yield insert_params(_record(f"p{i:08d}", now - 30 * 86400 + i, InboxState.PENDING))


def _ancient(run: str, count: int, now: float) -> Iterator[tuple[Any, ...]]:
    # Handled a year ago: what each level's purge removes (and nothing else is that old).
    for i in range(count):
        yield insert_params(_record(f"a{run}{i:06d}", now - 365 * 86400 + i, InboxState.DONE))


@contextmanager
def _inbox(
    backend: str, workdir: Path
) -> Iterator[tuple[Any, Callable[[Iterator[tuple[Any, ...]]], None]]]:
    table = f"bench_growth_{secrets.token_hex(4)}"
    if backend == "sqlite":
        import sqlite3

        from hookreceiver.inbox import SQLiteInbox

        box: Any = SQLiteInbox(workdir / f"{table}.db", table=table, synchronous="NORMAL")
        box.list(limit=1)

        def fill(rows: Iterator[tuple[Any, ...]]) -> None:
            with sqlite3.connect(box.path) as conn:
                conn.executemany(box._sql.insert, rows)

        yield box, fill
        box.close()
    elif backend == "postgres":
        import psycopg

        from hookreceiver.inbox import PostgresInbox

        box = PostgresInbox(PG_DSN, table=table)
        box.list(limit=1)

        def fill(rows: Iterator[tuple[Any, ...]]) -> None:
            columns = box._sql.insert.split("(", 1)[1].split(")", 1)[0]
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                with conn.cursor() as cursor:
                    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                conn.execute(f"VACUUM ANALYZE {table}")

        try:
            yield box, fill
        finally:
            box.drop()
            box.close()
    else:
        raise ValueError(f"unknown inbox {backend!r}")


def purge_while_putting(box: Any, backend: str) -> dict[str, Any]:
    """Purge every row handled 60 days ago (half the inbox) while a second inbox object (its
    own connections, as another process's) puts deliveries one after another: how long the
    purge took, and how long the slowest put waited."""
    from hookreceiver.inbox import PostgresInbox, SQLiteInbox

    if backend == "sqlite":
        other: Any = SQLiteInbox(box.path, table=box._sql.table, synchronous="NORMAL")
    else:
        other = PostgresInbox(PG_DSN, table=box._sql.table)
    waits: list[float] = []
    outcome: dict[str, Any] = {}

    def purge() -> None:
        started = time.perf_counter()
        try:
            outcome["rows"] = box.purge(older_than=30 * 86400)
        except Exception as exc:  # the old single DELETE could pass the statement timeout
            outcome["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        outcome["seconds"] = time.perf_counter() - started

    import threading

    thread = threading.Thread(target=purge)
    thread.start()
    count, failed = 0, 0
    while thread.is_alive():
        started = time.perf_counter()
        try:
            other.put(_record(f"during{count}", time.time(), InboxState.PENDING))
        except Exception:
            failed += 1
        waits.append(time.perf_counter() - started)
        count += 1
    thread.join()
    other.close()
    waits.sort()
    return {
        **outcome,
        "puts": count,
        "failed_puts": failed,
        "max_put_ms": waits[-1] * 1000 if waits else None,
        "p99_put_ms": waits[int(len(waits) * 0.99)] * 1000 if waits else None,
    }


def inbox_curve(
    backend: str, levels: list[int], workdir: Path, under_load: dict[str, Any]
) -> dict[str, dict[int, float]]:
    """Per operation, per level: p50 µs (purge: µs per 1,000 rows). At the largest level,
    :func:`purge_while_putting` fills ``under_load``."""
    names = ["put", "take", "finish", "get", "list 100", "list --state failed", "purge"]
    curve: dict[str, dict[int, float]] = {name: {} for name in names}
    with _inbox(backend, workdir) as (box, fill):
        held = 0
        for level in levels:
            started = time.perf_counter()
            fill(_rows(held, level, time.time()))
            held = level
            _say(f"  {backend} inbox: {level:,} rows ({time.perf_counter() - started:.1f} s)")
            run, now = secrets.token_hex(3), time.time()
            taken: list[str] = []

            def put(i: int, run: str = run, now: float = now) -> None:
                # Due in a day: the new ones never jump the backlog that take works through.
                item = _record(f"n{run}{i}", now, InboxState.PENDING)
                item.next_attempt_at = now + 86400
                box.put(item)

            def take(i: int, taken: list[str] = taken) -> None:
                got = box.take("bench")
                assert got is not None
                taken.append(got.id)

            def finish(i: int, taken: list[str] = taken) -> None:
                assert box.finish(taken[i], "bench", InboxState.DONE)

            def get(i: int, level: int = level) -> None:
                assert box.get(f"p{(2 * (i * 7919) + 1) % level:08d}") is not None

            timed = _interleaved({"put": put, "take": take, "finish": finish, "get": get})
            timed |= _interleaved(
                {
                    "list 100": lambda i: box.list(limit=100),
                    "list --state failed": lambda i: box.list(states=[InboxState.FAILED]),
                },
                30,
            )
            for name, value in timed.items():
                curve[name][level] = value
            fill(_ancient(run, PURGED, now))
            started = time.perf_counter()
            removed = box.purge(older_than=300 * 86400)
            seconds = time.perf_counter() - started
            if removed != PURGED:
                raise RuntimeError(f"purge removed {removed} rows, not {PURGED}")
            curve["purge"][level] = seconds * 1e6 / PURGED * 1000
        _say(f"  {backend} inbox: purging half of {levels[-1]:,} rows while putting")
        under_load.update(purge_while_putting(box, backend))
    return curve


# Attachments -----------------------------------------------------------------------------------


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def attachment_rss(
    sizes_mib: list[int], inbox_url: str | None, workdir: Path
) -> dict[int, dict[str, float]]:
    """Per size: the server's peak RSS growth (MiB) from the request until the handler ran.

    ``inbox_url`` ``None`` serves the endpoint in sync mode (for comparison).
    """
    done_dir = Path(tempfile.mkdtemp(dir=workdir))
    env_before = dict(os.environ)
    os.environ.update(
        {
            "BENCH_INBOX": inbox_url or "",
            "BENCH_ACK": "inbox" if inbox_url else "sync",
            "BENCH_DONE_DIR": str(done_dir),
        }
    )
    auth = "Basic " + base64.b64encode(":".join(DOCUMO_CREDENTIALS).encode()).decode()
    server = Server(ServerSpec("growth_inbox", "asgi", "apps.inbox_app:app", "/hooks/documo"))
    results: dict[int, dict[str, float]] = {}
    try:
        server.start()
        for size in [1, *sizes_mib]:  # the first 1 MiB one warms the app up, uncounted
            pdf = fake_pdf(size * MiB)
            body, content_type = documo_body(f"growth-{secrets.token_hex(6)}", pdf)
            del pdf
            pid = server.pid
            before_files = set(done_dir.glob("*.done"))
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            before = _status_kib(pid, "VmRSS")
            started = time.perf_counter()
            headers = {"content-type": content_type, "authorization": auth}
            status, answer = server.request(body, headers)
            answered = time.perf_counter() - started
            if status != 200:
                raise RuntimeError(f"answered {status} {answer!r}: {server.log_tail()}")
            deadline = time.monotonic() + 300
            while set(done_dir.glob("*.done")) == before_files:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the handler never ran: {server.log_tail()}")
                time.sleep(0.05)
            handled = time.perf_counter() - started
            peak = _status_kib(pid, "VmHWM")
            (new,) = set(done_dir.glob("*.done")) - before_files
            got = int(new.read_text().split()[0])
            if got != size * MiB:
                raise RuntimeError(f"the handler read {got} bytes of {size * MiB}")
            results.setdefault(size, {})  # the warm-up's entry is overwritten or dropped
            results[size] = {
                "rss_growth_mib": max(0, peak - before) / 1024,
                "answered_s": answered,
                "handled_s": handled,
            }
            del body
        return {size: results[size] for size in sizes_mib}
    finally:
        server.stop()
        os.environ.clear()
        os.environ.update(env_before)


# Report ----------------------------------------------------------------------------------------


def _level(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def _curve_table(title: str, curves: dict[str, dict[str, dict[int, float]]], unit: str) -> str:
    levels = sorted({lvl for curve in curves.values() for op in curve.values() for lvl in op})
    head = " | ".join(f"{_level(n)} {unit}" for n in levels)
    lines = [
        f"### {title}",
        "",
        f"| backend | operation | {head} | {_level(levels[-1])} ÷ {_level(levels[0])} | goal |",
        "|---|---|" + "---:|" * len(levels) + "---:|---|",
    ]
    for backend, curve in curves.items():
        for op, points in curve.items():
            values = " | ".join(f"{points[n]:,.1f}" if n in points else "—" for n in levels)
            ratio = points[levels[-1]] / points[levels[0]] if points[levels[0]] else float("nan")
            goal = ("≤ 1.5× " + ("yes" if ratio <= 1.5 else "**no**")) if op in PER_DELIVERY else ""
            lines.append(f"| {backend} | {op} | {values} | {ratio:.2f}× | {goal} |")
    return "\n".join(lines)


def report(results: dict[str, Any], command: str) -> str:
    """The markdown block of one run."""
    parts = [
        f"Run: {results['when']} UTC, `{command}` "
        f"({results['seconds'] / 60:.1f} min; p50 of {SAMPLES} operations per level in "
        f"{ROUNDS} interleaved rounds; purge: {PURGED:,} rows per level, in µs per 1,000 "
        "rows, the pauses between SQLite's batches included; PostgreSQL with "
        "synchronous_commit=off, SQLite with synchronous=NORMAL).",
    ]
    if results["stores"]:
        parts.append(_curve_table("Stores: p50 µs per operation", results["stores"], "µs"))
    if results["inbox"]:
        parts.append(_curve_table("Inbox: p50 µs per operation", results["inbox"], "µs"))
    if results.get("purge_under_load"):
        lines = [
            f"### Purging half of {_level(results['levels'][-1])} rows while another connection"
            " puts",
            "",
            "| backend | rows purged | seconds | puts meanwhile | slowest put ms | p99 put ms |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for backend, found in results["purge_under_load"].items():
            rows = f"{found['rows']:,}" if "rows" in found else f"failed: {found['error']}"
            lines.append(
                f"| {backend} | {rows} | {found['seconds']:.1f} | {found['puts']:,}"
                f" ({found['failed_puts']} failed) | {found['max_put_ms']:.1f}"
                f" | {found['p99_put_ms']:.1f} |"
            )
        parts.append("\n".join(lines))
    if results["attachments"]:
        lines = [
            "### A Documo fax through uvicorn: the server's peak RSS growth",
            "",
            "| mode | " + " | ".join(f"{s} MiB" for s in results["attachment_sizes"]) + " |",
            "|---|" + "---:|" * len(results["attachment_sizes"]) + "",
        ]
        for mode, sizes in results["attachments"].items():
            cells = " | ".join(
                f"{sizes[str(s)]['rss_growth_mib']:.1f} MiB ({sizes[str(s)]['handled_s']:.1f} s)"
                for s in results["attachment_sizes"]
            )
            lines.append(f"| {mode} | {cells} |")
        lines.append("")
        lines.append("(in brackets: from the request's start until the handler had read it all)")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


START, END = "<!-- growth:start -->", "<!-- growth:end -->"


def write_results(block: str, path: Path = BENCH_DIR / "RESULTS.md") -> None:
    """Put ``block`` between the growth markers of ``RESULTS.md`` (the first time: before its
    ``## Targets``, which stays the file's last section, as the README shows it)."""
    text = path.read_text()
    section = f"{START}\n## 6. Growth: 10k / 100k / 1M rows\n\n{block}\n{END}"
    if START in text:
        pattern = re.escape(START) + ".*?" + re.escape(END)
        text = re.sub(pattern, lambda m: section, text, flags=re.S)
    elif "## Targets" in text:
        at = text.index("## Targets")
        text = text[:at] + section + "\n\n" + text[at:]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="10000,100000,1000000")
    parser.add_argument("--stores", default="memory,sqlite,redis,postgres")
    parser.add_argument("--inboxes", default="sqlite,postgres")
    parser.add_argument("--attachments", default="1,10,100", help="MiB; empty for none")
    parser.add_argument(
        "--modes", default="sync,sqlite,postgres", help="the attachments' ack modes / inboxes"
    )
    parser.add_argument("--out", default=str(BENCH_DIR / "results" / "growth.json"))
    parser.add_argument("--update-results", action="store_true", help="write bench/RESULTS.md")
    args = parser.parse_args(argv)
    levels = sorted(int(n) for n in args.rows.split(",") if n)
    sizes = [int(n) for n in args.attachments.split(",") if n]
    started = time.time()
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)),
        "levels": levels,
        "stores": {},
        "inbox": {},
        "purge_under_load": {},
        "attachments": {},
        "attachment_sizes": sizes,
    }
    with tempfile.TemporaryDirectory(prefix="hookreceiver-growth-") as tmp:
        workdir = Path(tmp)
        for backend in [b for b in args.stores.split(",") if b]:
            _say(f"store {backend}")
            results["stores"][backend] = store_curve(backend, levels, workdir)
        for backend in [b for b in args.inboxes.split(",") if b]:
            _say(f"inbox {backend}")
            load: dict[str, Any] = {}
            results["inbox"][backend] = inbox_curve(backend, levels, workdir, load)
            results["purge_under_load"][backend] = load
        if sizes:
            modes = {
                "sync": ("sync (no inbox)", None),
                "sqlite": ("inbox, SQLite", f"sqlite:///{workdir / 'attachments.db'}"),
                "postgres": (
                    "inbox, PostgreSQL",
                    f"{PG_DSN}&table=bench_growth_fax_{secrets.token_hex(4)}",
                ),
            }
            chosen = [modes[m] for m in args.modes.split(",") if m]
            for mode, url in chosen:
                _say(f"attachments: {mode}")
                found = attachment_rss(sizes, url, workdir)
                results["attachments"][mode] = {str(s): v for s, v in found.items()}
                if url is not None and url.startswith("postgresql"):
                    from hookreceiver.inbox import open_inbox

                    box = open_inbox(url)
                    box.drop()  # type: ignore[attr-defined]
                    box.close()
    results["seconds"] = time.time() - started
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    command = "python bench/harness/growth.py" + (
        " " + " ".join(argv if argv is not None else sys.argv[1:]) if (argv or sys.argv[1:]) else ""
    )
    block = report(results, command.replace(" --update-results", ""))
    print(block)
    if args.update_results:
        write_results(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
