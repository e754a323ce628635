"""The OpenTelemetry Python SDK's own floor: instructions per call of the cheapest span a
library can make, counted by callgrind in process like ``bench/harness/instructions.py``
(two runs, ``short`` and ``long`` calls after the same warm-up; the difference per call).

    python bench/otel_floor.py                  # every case, a table
    python bench/otel_floor.py --cases simple,batch

Cases (each one ``tracer.start_span(name, attributes=...)`` and ``end()``, four attributes):

- ``simple``: ``SimpleSpanProcessor`` with an exporter that drops the spans;
- ``simple_bare``: the same without attributes (what each attribute costs, by difference);
- ``batch``: ``BatchSpanProcessor`` with the same exporter (what ``bench/apps/observed.py`` uses);
- ``sampled_out``: a span the sampler drops (``ALWAYS_OFF``), no processor work;
- ``noop``: the API's no-op tracer (no SDK installed);
- ``attach``: no span made; a dropped span put in a context, attached and detached (what
  making a dropped root span current costs, so that the handlers' spans follow it);
- ``simple_x6``: six recorded spans per call, a parent and five children (a traced delivery's
  tree), under ``SimpleSpanProcessor``.

Compare with ``hookreceiver_asgi_off`` of ``bench/harness/instructions.py`` (a whole delivery):
what fraction of a delivery the SDK's cheapest span costs says whether a 10 % overhead can be
met by any library using it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

CASES = ("noop", "sampled_out", "attach", "simple", "simple_bare", "batch", "simple_x6")
WARMUP = 2000
SHORT = 2000
LONG = 12000
ATTRIBUTES = {
    "hookreceiver.provider": "faxplus",
    "http.route": "/hooks/faxplus",
    "http.request.method": "POST",
    "hookreceiver.source": "http",
}


def _make(case: str) -> Callable[[], None]:
    from opentelemetry import trace

    if case == "noop":
        tracer: Any = trace.NoOpTracer()
    else:
        from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SimpleSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

        class Dropped(SpanExporter):
            def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        dropping = case in ("sampled_out", "attach")
        provider = TracerProvider(sampler=ALWAYS_OFF if dropping else None)
        if case == "batch":
            provider.add_span_processor(BatchSpanProcessor(Dropped()))
        else:
            provider.add_span_processor(SimpleSpanProcessor(Dropped()))
        tracer = provider.get_tracer("hookreceiver")
    start = tracer.start_span

    if case == "attach":
        from opentelemetry import context

        dropped = start("hookreceiver.delivery", attributes=ATTRIBUTES)
        set_span, attach, detach = trace.set_span_in_context, context.attach, context.detach

        def current() -> None:
            detach(attach(set_span(dropped, None)))

        return current

    if case == "simple_x6":
        set_in = trace.set_span_in_context
        names = ("verify", "parse", "claim", "complete", "handler")

        def call() -> None:
            root = start("hookreceiver.delivery", attributes=ATTRIBUTES)
            ctx = set_in(root)
            for name in names:
                start(name, ctx).end()
            root.end()

        return call

    attributes = None if case == "simple_bare" else ATTRIBUTES

    def one() -> None:
        start("hookreceiver.delivery", attributes=attributes).end()

    return one


def drive(case: str, count: int) -> None:
    call = _make(case)
    for _ in range(WARMUP):
        call()
    for _ in range(count):
        call()


def count_instructions(case: str, count: int) -> int:
    """Total instructions of one driver process under callgrind (the harness's runner)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from harness.instructions import callgrind_total

    return callgrind_total(Path(__file__).resolve(), ["--drive", case, str(count)])


def per_call(case: str) -> float:
    return (count_instructions(case, LONG) - count_instructions(case, SHORT)) / (LONG - SHORT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--drive", nargs=2, metavar=("CASE", "COUNT"), help=argparse.SUPPRESS)
    parser.add_argument("--cases", help=f"comma-separated of {', '.join(CASES)}")
    args = parser.parse_args(argv)
    if args.drive:
        drive(args.drive[0], int(args.drive[1]))
        return 0
    cases = args.cases.split(",") if args.cases else list(CASES)
    print("| case | instructions/call |\n|---|---:|")
    for case in cases:
        print(f"| {case} | {per_call(case):,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
