"""Task queues end to end: accepted/s and acceptance-to-handler latency, per integration against
the in-process worker, in one run.

Each target is 2 uvicorn receivers (inbox mode, a PostgreSQL inbox and dedup table in a schema
of the run's own) and its workers: 2 Celery workers (RabbitMQ, 4 threads each), 2 Dramatiq
workers (RabbitMQ, 1 process x 4 threads), 2 arq workers (Redis, max_jobs 16, poll_delay 0.1 s),
or, for the baseline, the in-process worker of each receiver (4 tasks each) and no broker. The
app is ``tests/integrations/queue_app.py``, the same the integration tests run; its handler
does nothing but write its JSON line.

Two phases per target:

- **saturate**: ``--deliveries`` unique deliveries sent as fast as ``--threads`` keep-alive
  client threads can (alternating receivers): accepted/s is deliveries / seconds until the last
  200; handled/s is deliveries / seconds from the first acceptance to the last handler start;
  the latency percentiles are those of this backlog.
- **paced**: ``--paced`` deliveries at ``--rate`` per second: the latency from acceptance (the
  inbox row's ``received_at``) to the handler's start when nothing queues up.

Run from the repository root (RabbitMQ, Redis and PostgreSQL as in the tests)::

    python bench/queues_bench.py --update-results
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integrations"))

from queue_kit import (  # noqa: E402
    Fleet,
    Schema,
    delete_arq_queue,
    delete_rabbitmq_queues,
    faxplus_body,
    rabbitmq_names,
    send_all,
)

AMQP = os.environ.get("HOOKRECEIVER_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
REDIS = os.environ.get("HOOKRECEIVER_REDIS_URL", "redis://127.0.0.1:6379/0")
DSN = os.environ.get("HOOKRECEIVER_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
TARGETS = ("in-process", "celery", "dramatiq", "arq")
START = "<!-- queues:start -->"
END = "<!-- queues:end -->"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def latencies(schema: Schema, fleet: Fleet, ids: set[str]) -> list[float]:
    received = dict(schema.query("SELECT id, received_at FROM hookreceiver_inbox"))
    starts: dict[str, float] = {}
    for line in fleet.lines("start"):
        if line["delivery_id"] in ids:
            starts.setdefault(line["delivery_id"], line["t"])
    return [(starts[i] - float(received[i])) * 1000 for i in ids if i in starts]


def send_paced(urls: list[str], count: int, rate: float) -> list[str]:
    """Send ``count`` deliveries at ``rate`` per second from a few threads; their hook ids."""
    events = [secrets.token_hex(8) for _ in range(count)]
    start = time.monotonic()
    lock = threading.Lock()
    index = iter(range(count))

    def run() -> None:
        while True:
            with lock:
                n = next(index, None)
            if n is None:
                return
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            assert send_all([(urls[n % 2], faxplus_body(events[n]))], threads=1) == [200]

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return events


def run_target(target: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    schema = Schema(DSN)
    queue = f"hrq_bench_{secrets.token_hex(4)}"
    tool = "celery" if target == "in-process" else target
    broker = REDIS if tool == "arq" else AMQP
    fleet = Fleet.create(
        tool,
        workdir,
        inbox=schema.url,
        store=schema.url,
        broker=broker,
        queue=queue,
        grace=60.0,
        sweep_every=30,
        in_process=target == "in-process",
    )
    try:
        if target != "in-process":
            fleet.start_workers(2)
        fleet.start_receivers(2)
        # Warm up: every process has its connections before the clock starts.
        warm = [secrets.token_hex(8) for _ in range(40)]
        send_all([(fleet.urls[n % 2], faxplus_body(e)) for n, e in enumerate(warm)])
        assert fleet.wait_done({f"faxplus:fax_received:{e}" for e in warm}, 120), fleet.logs()

        events = [secrets.token_hex(8) for _ in range(args.deliveries)]
        bodies = [(fleet.urls[n % 2], faxplus_body(e)) for n, e in enumerate(events)]
        started = time.monotonic()
        statuses = send_all(bodies, threads=args.threads)
        accept_seconds = time.monotonic() - started
        assert statuses == [200] * len(bodies), set(statuses)
        keys = {f"faxplus:fax_received:{e}" for e in events}
        assert fleet.wait_done(keys, 600), fleet.logs()
        rows = schema.query("SELECT id, event_key, received_at FROM hookreceiver_inbox")
        ids = {row[0] for row in rows if row[1] in keys}
        first = min(float(row[2]) for row in rows if row[0] in ids)
        last_start = max(x["t"] for x in fleet.lines("start") if x["delivery_id"] in ids)
        saturated = latencies(schema, fleet, ids)

        paced = send_paced(fleet.urls, args.paced, args.rate)
        paced_keys = {f"faxplus:fax_received:{e}" for e in paced}
        assert fleet.wait_done(paced_keys, 120), fleet.logs()
        rows = schema.query("SELECT id, event_key FROM hookreceiver_inbox")
        quiet = latencies(schema, fleet, {row[0] for row in rows if row[1] in paced_keys})
        return {
            "target": target,
            "deliveries": args.deliveries,
            "accepted_per_s": args.deliveries / accept_seconds,
            "handled_per_s": args.deliveries / (last_start - first),
            "saturated_p50_ms": percentile(saturated, 0.5),
            "saturated_p99_ms": percentile(saturated, 0.99),
            "paced": args.paced,
            "rate": args.rate,
            "paced_p50_ms": percentile(quiet, 0.5),
            "paced_p99_ms": percentile(quiet, 0.99),
            "paced_mean_ms": statistics.fmean(quiet),
        }
    finally:
        fleet.stop()
        if target in ("celery", "dramatiq"):
            delete_rabbitmq_queues(AMQP, rabbitmq_names(tool, queue))
        elif target == "arq":
            delete_arq_queue(REDIS, queue)
        schema.drop()


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the rounds."""
    merged = dict(runs[0])
    for name, value in runs[0].items():
        if isinstance(value, float):
            merged[name] = statistics.median(r[name] for r in runs)
    merged["rounds"] = len(runs)
    return merged


def table(results: list[dict[str, Any]], command: str) -> str:
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    first = results[0]
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine}, shared with "
        "other work; command: `" + command + "`.",
        "",
        f"Medians of {first['rounds']} interleaved rounds. Saturated: {first['deliveries']} "
        f"deliveries from {ARGS.threads} client threads (same machine); paced: "
        f"{first['paced']} deliveries at {first['rate']:g}/s. Latency: acceptance (the inbox "
        "row's `received_at`) to the handler's start.",
        "",
        "| target | accepted/s | handled/s | saturated p50 / p99 | paced p50 / p99 |",
        "|---|---:|---:|---:|---:|",
    ]
    base = first["accepted_per_s"]
    for r in results:
        lines.append(
            f"| {r['target']} | {r['accepted_per_s']:.0f} ({r['accepted_per_s'] / base:.2f}x) "
            f"| {r['handled_per_s']:.0f} "
            f"| {r['saturated_p50_ms']:.0f} / {r['saturated_p99_ms']:.0f} ms "
            f"| {r['paced_p50_ms']:.1f} / {r['paced_p99_ms']:.1f} ms |"
        )
    return "\n".join(lines)


def update_results(text: str) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    current = path.read_text()
    block = f"{START}\n{text}\n{END}"
    if START in current:
        before, rest = current.split(START, 1)
        current = before + block + rest.split(END, 1)[1]
    else:
        current = current.rstrip() + "\n\n## Task queues (bench/queues_bench.py)\n\n" + block + "\n"
    path.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--paced", type=int, default=300)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--update-results", action="store_true")
    global ARGS
    ARGS = args = parser.parse_args()
    targets = args.targets.split(",")
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    with tempfile.TemporaryDirectory(prefix="hrq-bench-") as tmp:
        for round_ in range(args.rounds):
            # Interleaved, in a rotating order: a slow moment of a shared machine is spread over
            # every target instead of landing on one.
            order = targets[round_ % len(targets) :] + targets[: round_ % len(targets)]
            for target in order:
                workdir = Path(tmp) / f"{target}-{round_}"
                workdir.mkdir()
                print(f"round {round_ + 1}: {target} ...", file=sys.stderr, flush=True)
                result = run_target(target, args, workdir)
                print(json.dumps(result), file=sys.stderr, flush=True)
                runs[target].append(result)
    results = [median_of(runs[t]) for t in targets]
    command = "python bench/queues_bench.py " + " ".join(sys.argv[1:])
    text = table(results, command.strip())
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "queues.json").write_text(json.dumps({"medians": results, "runs": runs}, indent=2))
    print(text)
    if args.update_results:
        update_results(text)


ARGS: argparse.Namespace

if __name__ == "__main__":
    main()
