"""OpenTelemetry spans of deliveries, read back with the SDK's in-memory exporter: the span
tree, its attributes, a failed handler's exception, a host app's server span as the parent,
and the inbox worker's link to the span that received the delivery (also through a TaskQueue)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

from hookreceiver import DeliveryContext, Receiver, providers  # noqa: E402
from hookreceiver.engine import dispatch  # noqa: E402
from hookreceiver.inbox import InboxState, SQLiteInbox, TaskQueue  # noqa: E402
from hookreceiver.security import BasicAuth  # noqa: E402
from hookreceiver.testing import documo, send_http  # noqa: E402
from support.payloads import faxplus_delivery, faxplus_payload  # noqa: E402
from support.servers import serve_asgi  # noqa: E402

SECRET = "trace-test-pass"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    yield InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider


def receiver(provider: TracerProvider, steps: Any = True, **options: Any) -> Receiver:
    hooks = Receiver(**options)
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    user_tracer = provider.get_tracer("user-code")

    @hooks.on("faxplus.*")
    def handle(event: Any, ctx: DeliveryContext) -> None:
        with user_tracer.start_as_current_span("user.work"):
            if "boom" in ctx.idempotency_key:
                raise RuntimeError("handler failed on purpose")

    hooks.enable_tracing(provider, steps=steps)
    return hooks


def by_name(spans: tuple[ReadableSpan, ...] | list[ReadableSpan]) -> dict[str, ReadableSpan]:
    found = {span.name: span for span in spans}
    assert len(found) == len(spans), [s.name for s in spans]  # one of each in these tests
    return found


def children(spans: Any, parent: ReadableSpan) -> list[str]:
    assert parent.context is not None
    return sorted(
        s.name for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id
    )


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_the_span_tree_of_a_handled_delivery(
    provider: TracerProvider, exporter: InMemorySpanExporter, flavour: str
) -> None:
    hooks = receiver(provider)
    delivery = faxplus_delivery(faxplus_payload(hook_id="tree-1"), headers=(("user-agent", "ua"),))
    if flavour == "sync":
        report = dispatch(hooks, delivery)
    else:
        from hookreceiver.engine import adispatch

        report = asyncio.run(adispatch(hooks, delivery))
    assert report.response.status == 200
    spans = exporter.get_finished_spans()
    named = by_name(spans)
    root = named["hookreceiver.delivery"]
    assert root.parent is None and root.kind is SpanKind.SERVER
    assert children(spans, root) == [
        "hookreceiver.handler",
        "hookreceiver.parse",
        "hookreceiver.store.claim",
        "hookreceiver.store.complete",
        "hookreceiver.verify",
    ]
    assert children(spans, named["hookreceiver.verify"]) == []  # reading the body is inside
    # The handler's span is current while it runs: the handler's own span nests under it.
    assert children(spans, named["hookreceiver.handler"]) == ["user.work"]
    assert named["hookreceiver.handler"].attributes["hookreceiver.handler"].endswith("handle")
    assert dict(root.attributes or {}) == {
        "hookreceiver.source": "http",
        "hookreceiver.provider": "faxplus",
        "hookreceiver.event": "faxplus.fax_received",
        "hookreceiver.outcome": "handled",
        "hookreceiver.delivery_id": report.delivery_id,
        "http.route": "/hooks/faxplus",
        "http.request.method": "POST",
        "http.response.status_code": 200,
        "network.peer.address": "127.0.0.1",
        "user_agent.original": "ua",
    }
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}
    # The order: verify, parse, claim, handler, complete.
    order = sorted(spans, key=lambda s: s.start_time or 0)
    assert [s.name for s in order if s.parent and s.parent.span_id == root.context.span_id] == [
        "hookreceiver.verify",
        "hookreceiver.parse",
        "hookreceiver.store.claim",
        "hookreceiver.handler",
        "hookreceiver.store.complete",
    ]


def test_steps_off_or_sampled_out_makes_no_child_span(exporter: InMemorySpanExporter) -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    one = TracerProvider()
    one.add_span_processor(SimpleSpanProcessor(exporter))
    hooks = Receiver()
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    hooks.enable_tracing(one, steps=False)
    dispatch(hooks, faxplus_delivery())
    (span,) = exporter.get_finished_spans()
    assert span.name == "hookreceiver.delivery" and span.attributes["hookreceiver.outcome"]
    exporter.clear()
    dropped = TracerProvider(sampler=ALWAYS_OFF)
    dropped.add_span_processor(SimpleSpanProcessor(exporter))
    sampled_out = receiver(dropped)
    assert dispatch(sampled_out, faxplus_delivery()).response.status == 200
    assert exporter.get_finished_spans() == ()


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_steps_handlers_makes_the_handlers_spans_only(
    provider: TracerProvider, exporter: InMemorySpanExporter, flavour: str
) -> None:
    hooks = receiver(provider, steps="handlers")
    good = faxplus_delivery(faxplus_payload(hook_id="only-1"), headers=(("user-agent", "ua"),))
    bad = faxplus_delivery(faxplus_payload(hook_id="boom-2"))
    if flavour == "sync":
        reports = [dispatch(hooks, good), dispatch(hooks, bad)]
    else:
        from hookreceiver.engine import adispatch

        async def both() -> list[Any]:
            return [await adispatch(hooks, good), await adispatch(hooks, bad)]

        reports = asyncio.run(both())
    assert [r.response.status for r in reports] == [200, 500]
    spans = exporter.get_finished_spans()
    roots = [s for s in spans if s.name == "hookreceiver.delivery"]
    assert len(roots) == 2 and len(spans) == 6  # per delivery: its span, handler, user.work
    for root, report in zip(roots, reports, strict=True):
        assert root.parent is None and root.kind is SpanKind.SERVER
        assert root.attributes["hookreceiver.delivery_id"] == report.delivery_id
        assert root.attributes["hookreceiver.outcome"] == report.outcome.value
        assert root.attributes["http.request.method"] == "POST"
        assert root.attributes["network.peer.address"] == "127.0.0.1"
        assert children(spans, root) == ["hookreceiver.handler"]
        (handler,) = [
            s
            for s in spans
            if s.name == "hookreceiver.handler"
            and s.parent is not None
            and s.parent.span_id == root.context.span_id
        ]
        assert children(spans, handler) == ["user.work"]
    assert roots[0].attributes["user_agent.original"] == "ua"
    failed = next(
        s
        for s in spans
        if s.name == "hookreceiver.handler" and s.status.status_code is StatusCode.ERROR
    )
    (event,) = [e for e in failed.events if e.name == "exception"]
    assert event.attributes["exception.type"] == "RuntimeError"
    assert roots[1].status.status_code is StatusCode.ERROR


def test_steps_handlers_keeps_the_inbox_link(
    tmp_path: Path, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    hooks = receiver(provider, steps="handlers", inbox=inbox, worker=False)
    hooks.endpoint("/hooks/faxplus-inbox", providers.FaxPlus(allow_ips=["127.0.0.1"]), ack="inbox")
    report = dispatch(hooks, faxplus_delivery(path="/hooks/faxplus-inbox"))
    assert report.outcome.value == "accepted"
    (received,) = exporter.get_finished_spans()
    assert received.name == "hookreceiver.delivery"
    record = inbox.get(report.delivery_id or "")
    assert record is not None and record.traceparent is not None
    assert record.traceparent.split("-")[2] == f"{received.context.span_id:016x}"


def test_steps_must_be_a_known_level() -> None:
    from hookreceiver.observability import Tracing

    with pytest.raises(ValueError, match="steps"):
        Tracing(TracerProvider(), steps="all")  # type: ignore[arg-type]


def test_a_failed_handler_records_its_exception(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    hooks = receiver(provider)
    report = dispatch(hooks, faxplus_delivery(faxplus_payload(hook_id="boom-1")))
    assert report.response.status == 500
    spans = exporter.get_finished_spans()
    named = by_name(spans)
    handler = named["hookreceiver.handler"]
    assert handler.status.status_code is StatusCode.ERROR
    (event,) = [e for e in handler.events if e.name == "exception"]
    assert event.attributes["exception.type"] == "RuntimeError"
    assert "handler failed on purpose" in event.attributes["exception.message"]
    root = named["hookreceiver.delivery"]
    assert root.attributes["hookreceiver.outcome"] == "handler_failed"
    assert root.status.status_code is StatusCode.ERROR
    assert "hookreceiver.store.release" in children(spans, root)


def test_a_refused_delivery_ends_in_its_verify_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    hooks = receiver(provider)
    report = dispatch(hooks, faxplus_delivery(peer="203.0.113.50"))
    assert report.response.status == 403
    named = by_name(exporter.get_finished_spans())
    assert set(named) == {"hookreceiver.delivery", "hookreceiver.verify"}
    assert named["hookreceiver.verify"].status.status_code is StatusCode.ERROR
    root = named["hookreceiver.delivery"]
    assert root.attributes["hookreceiver.outcome"] == "rejected"
    assert root.attributes["hookreceiver.refusal"] == "ip"
    assert root.attributes["http.response.status_code"] == 403
    assert root.status.status_code is StatusCode.UNSET  # a 4xx is the sender's error


def test_a_senders_traceparent_is_continued(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    hooks = receiver(provider)
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    dispatch(hooks, faxplus_delivery(headers=(("traceparent", parent),)))
    root = by_name(exporter.get_finished_spans())["hookreceiver.delivery"]
    assert root.parent is not None and root.parent.is_remote
    assert f"{root.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert f"{root.parent.span_id:016x}" == "b7ad6b7169203331"


@pytest.mark.slow
def test_the_host_apps_server_span_is_the_parent(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Starlette under opentelemetry-instrumentation-asgi, over HTTP: our span is a child of
    its server span, and no secret, body or token reaches an attribute."""
    asgi = pytest.importorskip("opentelemetry.instrumentation.asgi")
    from starlette.applications import Starlette
    from starlette.middleware import Middleware

    hooks = receiver(provider)
    hooks.endpoint(
        "/hooks/documo",
        providers.Documo(allow_ips=["127.0.0.1"], guards=[BasicAuth([("documo", SECRET)])]),
    )
    app = Starlette(middleware=[Middleware(hooks.asgi_middleware)])
    instrumented = asgi.OpenTelemetryMiddleware(app, tracer_provider=provider)
    delivery = documo.fax_inbound(sender="127.0.0.1", basic_auth=("documo", SECRET))
    with serve_asgi(instrumented) as base_url:
        assert send_http(delivery, base_url).status == 200
    spans = exporter.get_finished_spans()
    ours = next(s for s in spans if s.name == "hookreceiver.delivery")
    server = next(s for s in spans if s.kind is SpanKind.SERVER)
    assert ours.kind is SpanKind.INTERNAL
    assert ours.parent is not None and ours.parent.span_id == server.context.span_id
    assert ours.attributes["hookreceiver.event"] == "documo.fax.inbound"
    for span in spans:
        if not span.name.startswith("hookreceiver"):
            continue
        text = json.dumps({k: str(v) for k, v in (span.attributes or {}).items()})
        assert SECRET not in text and "authorization" not in text.lower()
        assert delivery.body[:40].decode(errors="ignore") not in text


@pytest.mark.slow
def test_a_wsgi_host_apps_server_span_is_the_parent(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Flask under opentelemetry-instrumentation-wsgi, over HTTP."""
    wsgi = pytest.importorskip("opentelemetry.instrumentation.wsgi")
    from flask import Flask

    from support.servers import serve_wsgi

    hooks = receiver(provider)
    app = Flask(__name__)
    app.wsgi_app = hooks.wsgi_middleware(app.wsgi_app)  # type: ignore[method-assign]
    instrumented = wsgi.OpenTelemetryMiddleware(app.wsgi_app, tracer_provider=provider)
    body = json.dumps(faxplus_payload(hook_id="wsgi-host-1")).encode()
    with serve_wsgi(instrumented) as base_url:
        import httpx

        answered = httpx.post(
            base_url + "/hooks/faxplus", content=body, headers={"content-type": "application/json"}
        )
        assert answered.status_code == 200
    spans = exporter.get_finished_spans()
    ours = next(s for s in spans if s.name == "hookreceiver.delivery")
    server = next(s for s in spans if s.kind is SpanKind.SERVER)
    assert ours.kind is SpanKind.INTERNAL
    assert ours.parent is not None and ours.parent.span_id == server.context.span_id
    handler = next(s for s in spans if s.name == "hookreceiver.handler")
    assert handler.context.trace_id == server.context.trace_id


def test_the_inbox_workers_span_links_to_the_receiving_span(
    tmp_path: Path, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    hooks = receiver(provider, inbox=inbox, worker=False)
    hooks.endpoint("/hooks/faxplus-inbox", providers.FaxPlus(allow_ips=["127.0.0.1"]), ack="inbox")
    done: list[InboxState | None] = []

    def enqueue(record_id: str, delay: float) -> None:  # the task queue's worker: a thread
        thread = threading.Thread(target=lambda: done.append(queue.process_one(record_id)))
        thread.start()
        threads.append(thread)

    threads: list[threading.Thread] = []
    queue = TaskQueue(hooks, enqueue)
    report = dispatch(hooks, faxplus_delivery(path="/hooks/faxplus-inbox"))
    assert report.outcome.value == "accepted"
    for thread in threads:
        thread.join(10)
    assert done == [InboxState.DONE]
    spans = exporter.get_finished_spans()
    received, worked = (s for s in spans if s.name == "hookreceiver.delivery")
    assert received.attributes["hookreceiver.source"] == "http"
    assert received.attributes["hookreceiver.outcome"] == "accepted"
    assert received.attributes["hookreceiver.event"] == "faxplus.fax_received"
    assert "hookreceiver.inbox.keep" in children(spans, received)
    assert worked.attributes["hookreceiver.source"] == "inbox"
    assert worked.kind is SpanKind.CONSUMER
    (link,) = worked.links
    assert link.context.trace_id == received.context.trace_id
    assert link.context.span_id == received.context.span_id
    assert children(spans, worked) == [
        "hookreceiver.handler",
        "hookreceiver.inbox.finish",
        "hookreceiver.parse",
        "hookreceiver.store.claim",
        "hookreceiver.store.complete",
    ]
    assert worked.attributes["hookreceiver.outcome"] == "handled"
    assert worked.attributes["hookreceiver.delivery_id"] == report.delivery_id
    # The record kept the context: a worker in another process finds it there.
    record = inbox.get(report.delivery_id or "")
    assert record is not None and record.traceparent is not None
    assert record.traceparent.split("-")[2] == f"{received.context.span_id:016x}"


def test_the_delivery_log_carries_the_trace_id(
    provider: TracerProvider, exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    hooks = receiver(provider)
    hooks.enable_delivery_log()
    with caplog.at_level(logging.INFO, logger="hookreceiver.events"):
        report = dispatch(hooks, faxplus_delivery())
        dispatch(hooks, faxplus_delivery(peer="203.0.113.50"))
    lines = [json.loads(r.message) for r in caplog.records if r.name == "hookreceiver.events"]
    roots = [s for s in exporter.get_finished_spans() if s.name == "hookreceiver.delivery"]
    assert [line["trace_id"] for line in lines] == [f"{s.context.trace_id:032x}" for s in roots]
    assert lines[0]["delivery_id"] == report.delivery_id
    assert lines[0]["outcome"] == "handled" and lines[0]["status"] == 200
    assert lines[1]["outcome"] == "rejected" and lines[1]["reason"] == "ip"
    assert trace.get_current_span() is trace.INVALID_SPAN  # nothing left attached


def test_the_trace_is_detached_after_each_delivery(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    hooks = receiver(provider)
    for _ in range(3):
        dispatch(hooks, faxplus_delivery())
    roots = [s for s in exporter.get_finished_spans() if s.name == "hookreceiver.delivery"]
    assert len({s.context.trace_id for s in roots}) == 3  # each its own trace, no leak
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_a_receiver_without_tracing_makes_no_span(exporter: InMemorySpanExporter) -> None:
    hooks = Receiver()
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    assert hooks.tracer is None
    assert dispatch(hooks, faxplus_delivery()).response.status == 200
    assert exporter.get_finished_spans() == ()


def test_the_async_worker_links_too(
    tmp_path: Path, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    hooks = receiver(provider, inbox=inbox, worker=False)
    hooks.endpoint("/hooks/faxplus-inbox", providers.FaxPlus(allow_ips=["127.0.0.1"]), ack="inbox")
    queued: list[str] = []
    queue = TaskQueue(hooks, lambda record_id, delay: queued.append(record_id))
    from hookreceiver.engine import adispatch

    asyncio.run(adispatch(hooks, faxplus_delivery(path="/hooks/faxplus-inbox")))
    assert asyncio.run(queue.aprocess_one(queued[0])) is InboxState.DONE
    received, worked = (
        s for s in exporter.get_finished_spans() if s.name == "hookreceiver.delivery"
    )
    (link,) = worked.links
    assert link.context.span_id == received.context.span_id
    assert worked.attributes["hookreceiver.outcome"] == "handled"
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_a_failing_tracer_changes_no_answer(caplog: pytest.LogCaptureFixture) -> None:
    """Like an observer that raises: logged, and the delivery is answered as ever."""

    class Broken(TracerProvider):
        def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
            class Tracer:
                def start_span(self, *args: Any, **kwargs: Any) -> Any:
                    raise RuntimeError("exporter misconfigured")

            return Tracer()

    ran: list[str] = []
    hooks = Receiver()
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    hooks.on("*")(lambda event, ctx: ran.append(ctx.event_name))
    hooks.enable_tracing(Broken())
    with caplog.at_level(logging.ERROR, logger="hookreceiver"):
        assert dispatch(hooks, faxplus_delivery()).response.status == 200
        assert asyncio.run(hooks.ahandle(faxplus_delivery())).status == 200
    assert ran == ["faxplus.fax_received"] * 2
    assert "telemetry failed in start" in caplog.text
    assert trace.get_current_span() is trace.INVALID_SPAN
