"""The observability section's targets: the same Fax.Plus receiver under ASGI (Starlette) and
WSGI (Flask, sync handler), each served alone, with

- ``off``: neither metrics nor tracing (what an app without the extras runs);
- ``metrics``: ``enable_metrics()`` only;
- ``on``: metrics and ``enable_tracing()`` with the OpenTelemetry SDK (batch span processor, an
  exporter that drops the spans), every delivery traced with its child spans;
- ``delivery_span``: the same with ``enable_tracing(steps=False)``: the delivery's span only;
- ``handler_spans``: ``enable_tracing(steps="handlers")``: the delivery's span and its
  handler's;
- ``sampled``: metrics and full tracing with the SDK's ``ParentBased(TraceIdRatioBased(0.1))``
  sampler, as production set-ups trace a share of the traffic; ``sampled_1``: 1 %;
- ``sampled_out``: the same with ``ParentBased(ALWAYS_OFF)``: every delivery goes the way of the
  nine in ten a 10 % sampler drops (deterministic, for ``bench/harness/instructions.py``).

``bare_<mode>`` is the receiver's own ASGI app of each mode, without Starlette around it: what
``bench/harness/instructions.py`` counts beside ``hookreceiver_asgi_app``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Flask
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hookreceiver import DeliveryContext, Receiver, providers

__all__ = ["BARE_MODES", "MODES"]


async def _noop(event: object, ctx: DeliveryContext) -> None:
    """The handler: does nothing, so only the receiver's own cost is measured."""


def _sync_noop(event: object, ctx: DeliveryContext) -> None:
    """The same, sync (what a WSGI app registers)."""


TRACED = (
    "on", "handler_spans", "delivery_span", "sampled", "sampled_1", "sampled_out", "traced_only",
)  # fmt: skip


def _receiver(handler: Any, mode: str) -> Receiver:
    hooks = Receiver()
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    hooks.on("*")(handler)
    if mode not in ("off", "traced_only"):
        from prometheus_client import CollectorRegistry

        hooks.enable_metrics(registry=CollectorRegistry())
    if mode in TRACED:
        from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased

        class Dropped(SpanExporter):
            """Exports nowhere: the spans are made, batched and handed over, then dropped."""

            def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        sampler = None
        if mode == "sampled":
            sampler = ParentBased(TraceIdRatioBased(0.1))
        elif mode == "sampled_1":
            sampler = ParentBased(TraceIdRatioBased(0.01))
        elif mode == "sampled_out":
            sampler = ParentBased(ALWAYS_OFF)
        provider = TracerProvider(sampler=sampler)
        provider.add_span_processor(BatchSpanProcessor(Dropped()))
        steps = {"delivery_span": False, "handler_spans": "handlers"}.get(mode, True)
        hooks.enable_tracing(provider, steps=steps)
    return hooks


async def _home(request: Any) -> Response:
    return PlainTextResponse("the app the receiver is mounted in")


def _asgi(mode: str) -> Starlette:
    hooks = _receiver(_noop, mode)
    routes = [Route("/", _home)]
    if mode != "off":
        routes.append(Route("/metrics", hooks.metrics_asgi_app()))
    return Starlette(routes=routes, middleware=[Middleware(hooks.asgi_middleware)])


def _wsgi(mode: str) -> Flask:
    hooks = _receiver(_sync_noop, mode)
    app = Flask(f"observed_{mode}")
    app.add_url_rule("/", view_func=lambda: "the app the receiver is mounted in")
    app.wsgi_app = hooks.wsgi_middleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


MODES = ("off", "metrics", "on", "handler_spans", "delivery_span", "sampled", "sampled_1")
#: The modes counted in process by bench/harness/instructions.py.
BARE_MODES = (*MODES, "sampled_out", "traced_only")
_BUILD = {
    **{f"bare_{mode}": (lambda mode=mode: _receiver(_noop, mode).asgi_app) for mode in BARE_MODES},
    **{f"asgi_{mode}": (lambda mode=mode: _asgi(mode)) for mode in MODES},
    **{f"wsgi_{mode}": (lambda mode=mode: _wsgi(mode)) for mode in MODES},
}


def __getattr__(name: str) -> Any:
    """Each target is built when its server asks for it: a process serves one, and builds
    only that one (no span processor thread in the plain targets' processes)."""
    build = _BUILD.get(name)
    if build is None:
        raise AttributeError(name)
    app = build()
    globals()[name] = app
    return app
