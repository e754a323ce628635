"""Prometheus metrics of every delivery, with prometheus-client (``pip install
'hookreceiver[prometheus]'``).

:class:`Metrics` is a report observer (deliveries, refusals, durations, inbox attempts) and
the counter of the per-step figures the engine's tracer hook gives (each handler's duration,
store errors); the inbox's gauges are read from the inbox when ``/metrics`` is scraped.
:meth:`Metrics.asgi_app` and :meth:`Metrics.wsgi_app` serve the text format. Several worker
processes (gunicorn, ``uvicorn --workers``) share their figures through prometheus-client's
multiprocess mode: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before the app
starts, and every process answers ``/metrics`` with the sum of all of them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from ..core.outcome import Outcome
from .labels import EventNames, refusal_reason

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

    from ..core.handlers import HandlerSpec
    from ..core.protocols import ReceiverState
    from ..engine import DeliveryReport

__all__ = [
    "DURATION_BUCKETS",
    "InboxCollector",
    "InboxCounter",
    "Metrics",
    "MetricsASGIApp",
    "multiprocess_mode",
]

logger = logging.getLogger("hookreceiver")

#: Histogram buckets (seconds) of delivery and handler durations: webhooks are answered in
#: milliseconds, handlers may take seconds.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: The inbox states the ``hookreceiver_inbox_records`` gauge reports, by attribute of
#: :class:`~hookreceiver.inbox.InboxCounts`.
_INBOX_STATES = {
    "pending": "pending",
    "retrying": "retrying",
    "processing": "processing",
    "dead": "failed",
    "quarantined": "quarantined",
}


class InboxCounter(Protocol):
    """What the metrics read of the receiver's inbox at scrape time (``hookreceiver.inbox.Inbox``
    is one): the observability package is the inbox's sibling, so it holds it by this shape."""

    @property
    def clock(self) -> Callable[[], float]:
        """Wall-clock seconds, the inbox's own."""

    def counts(self) -> Any:
        """An ``InboxCounts``: deliveries by state and ``oldest_pending_at``."""


def multiprocess_mode() -> bool:
    """Whether prometheus-client writes its figures to ``PROMETHEUS_MULTIPROC_DIR`` (several
    worker processes)."""
    return bool(
        os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")
    )


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "hookreceiver's metrics need prometheus-client: pip install 'hookreceiver[prometheus]'"
        ) from exc
    return prometheus_client


class Metrics:
    """The receiver's Prometheus metrics (see ``docs/observability.md`` for each one).

    Usually made by :meth:`Receiver.enable_metrics <hookreceiver.Receiver.enable_metrics>`.

    Args:
        receiver: the receiver whose deliveries are counted (for its providers' event names
            and its inbox).
        registry: where the metrics are registered (prometheus-client's default ``REGISTRY``
            if omitted; pass a fresh ``CollectorRegistry`` for a second receiver in one process).
        inbox: read at scrape time for the inbox gauges (the receiver's inbox by default).
    """

    def __init__(
        self,
        receiver: ReceiverState,
        *,
        registry: CollectorRegistry | None = None,
        inbox: InboxCounter | None = None,
    ) -> None:
        prom = _prometheus()
        self.registry: CollectorRegistry = registry if registry is not None else prom.REGISTRY
        self.events = EventNames(receiver)
        self.inbox: InboxCounter | None = (
            inbox if inbox is not None else getattr(receiver, "inbox", None)
        )
        families = _families(prom, self.registry)
        self.deliveries = families["deliveries"]
        self.refusals = families["refusals"]
        self.delivery_duration = families["delivery_duration"]
        self.handler_duration = families["handler_duration"]
        self.store_errors = families["store_errors"]
        self.inbox_attempts = families["inbox_attempts"]
        # prometheus-client's labelled children, looked up once per label set.
        self._delivered: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}
        self._attempts: dict[tuple[str, str, str], Any] = {}
        self._refused: dict[tuple[str, str], Any] = {}
        self._handlers_ok: dict[int, tuple[HandlerSpec, Any]] = {}
        self._handlers_failed: dict[int, tuple[HandlerSpec, Any]] = {}
        self.inbox_collector: InboxCollector | None = None
        if self.inbox is not None:
            self.inbox_collector = InboxCollector(self.inbox)
            # One inbox per registry: a second receiver in the process shares the first's
            # families (counted by provider) and its inbox gauges.
            if not multiprocess_mode() and "inbox" not in families:
                families["inbox"] = self.inbox_collector
                self.registry.register(self.inbox_collector)

    # The report observer ---------------------------------------------------------------------

    def on_report(self, report: DeliveryReport) -> None:
        """Count one delivery (a live one, or one attempt of the inbox worker)."""
        provider = report.provider
        if provider is None:  # a path that is no endpoint: no bounded label to count it by
            return
        outcome = report.outcome._value_  # .value is a property: a call per delivery
        event = self.events.of(report)
        if report.source != "http":
            attempt = (provider, event, outcome)
            child = self._attempts.get(attempt)
            if child is None:
                child = self._attempts[attempt] = self.inbox_attempts.labels(*attempt)
            child.inc()
            return
        status = report.response.status
        # Every label is bounded (configured providers, documented events or "other", the
        # outcomes, the providers' statuses): so is this cache of prometheus-client's children.
        key = (provider, event, outcome, status)
        children = self._delivered.get(key)
        if children is None:
            children = self._delivered[key] = (
                self.deliveries.labels(provider, event, outcome, str(status)),
                self.delivery_duration.labels(provider, outcome),
            )
        children[0].inc()
        children[1].observe(report.duration)
        if report.outcome is Outcome.REJECTED:
            refusal = (provider, refusal_reason(report.error))
            child = self._refused.get(refusal)
            if child is None:
                child = self._refused[refusal] = self.refusals.labels(*refusal)
            child.inc()

    # What the tracer hook gives --------------------------------------------------------------

    def handler_ran(self, handler: str, seconds: float, failed: bool) -> None:
        """One handler (by name) ran for ``seconds``."""
        self.handler_duration.labels(handler, "error" if failed else "ok").observe(seconds)

    def spec_ran(self, spec: HandlerSpec, seconds: float, failed: bool) -> None:
        """The handler ``spec`` ran for ``seconds`` (its child looked up by the spec's
        identity: no name built per call)."""
        children = self._handlers_failed if failed else self._handlers_ok
        found = children.get(id(spec))
        if found is None or found[0] is not spec:
            child = self.handler_duration.labels(spec.name, "error" if failed else "ok")
            found = children[id(spec)] = (spec, child)  # the spec kept: its id stays its own
        found[1].observe(seconds)

    def store_failed(self, store: str) -> None:
        """A call to the store (or inbox) named ``store`` failed."""
        self.store_errors.labels(store).inc()

    # Serving /metrics ------------------------------------------------------------------------

    def scrape_registry(self) -> Any:
        """The registry ``/metrics`` serves: in multiprocess mode, a registry that sums every
        process's files (plus the inbox's gauges); else :attr:`registry`."""
        if not multiprocess_mode():
            return self.registry
        prom = _prometheus()
        from prometheus_client import multiprocess

        registry = prom.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        if self.inbox_collector is not None:
            registry.register(self.inbox_collector)
        return registry

    def asgi_app(self) -> MetricsASGIApp:
        """An ASGI app answering any GET with the metrics in Prometheus' text format (route
        ``/metrics`` to it: ``Route("/metrics", app)`` in Starlette, ``app.mount(...)``)."""
        return MetricsASGIApp(_prometheus().make_asgi_app(self.scrape_registry()))

    def wsgi_app(self) -> Callable[..., Any]:
        """A WSGI app answering any GET with the metrics in Prometheus' text format."""
        return _prometheus().make_wsgi_app(self.scrape_registry())  # type: ignore[no-any-return]


#: The metric families of each registry, made once: a second receiver in one process (an app
#: and a worker, an example imported twice) counts into the same ones.
_FAMILIES: dict[int, tuple[Any, dict[str, Any]]] = {}


def _families(prom: Any, registry: Any) -> dict[str, Any]:
    kept = _FAMILIES.get(id(registry))
    if kept is not None and kept[0] is registry:
        return kept[1]
    buckets = DURATION_BUCKETS
    families: dict[str, Any] = {
        "deliveries": prom.Counter(
            "hookreceiver_deliveries_total",
            "Deliveries answered, by provider, full event name, outcome and HTTP status.",
            ["provider", "event", "outcome", "status"],
            registry=registry,
        ),
        "refusals": prom.Counter(
            "hookreceiver_refusals_total",
            "Deliveries refused before parsing, by provider and reason.",
            ["provider", "reason"],
            registry=registry,
        ),
        "delivery_duration": prom.Histogram(
            "hookreceiver_delivery_duration_seconds",
            "Seconds from taking a delivery to its answer, by provider and outcome.",
            ["provider", "outcome"],
            buckets=buckets,
            registry=registry,
        ),
        "handler_duration": prom.Histogram(
            "hookreceiver_handler_duration_seconds",
            "Seconds each handler ran, by handler and outcome (ok, error).",
            ["handler", "outcome"],
            buckets=buckets,
            registry=registry,
        ),
        "store_errors": prom.Counter(
            "hookreceiver_store_errors_total",
            "Calls to the dedup store or the inbox that failed (backend unreachable), by store.",
            ["store"],
            registry=registry,
        ),
        "inbox_attempts": prom.Counter(
            "hookreceiver_inbox_attempts_total",
            "Attempts of the inbox worker at a stored delivery, by provider, event and outcome.",
            ["provider", "event", "outcome"],
            registry=registry,
        ),
    }
    _FAMILIES[id(registry)] = (registry, families)
    return families


class MetricsASGIApp:
    """prometheus-client's ASGI app as an object, so that Starlette's ``Route`` serves it as
    an ASGI app rather than calling it as a request handler."""

    __slots__ = ("app",)

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Answer one request."""
        await self.app(scope, receive, send)


class InboxCollector:
    """Reads the inbox's gauges when ``/metrics`` is scraped: ``hookreceiver_inbox_records``
    by state, ``hookreceiver_inbox_oldest_pending_seconds`` and ``hookreceiver_inbox_up``."""

    def __init__(self, inbox: InboxCounter) -> None:
        self.inbox = inbox

    def describe(self) -> list[Any]:
        """Nothing up front: registering must not query the inbox."""
        return []

    def collect(self) -> Iterator[Any]:
        """The gauges, read now (one query)."""
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily(
            "hookreceiver_inbox_up", "1 when the inbox answered the last scrape, else 0."
        )
        started = time.perf_counter()
        try:
            counts = self.inbox.counts()
            now = self.inbox.clock()
        except Exception as exc:
            logger.warning("metrics: could not read the inbox's counts: %s", exc)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        records = GaugeMetricFamily(
            "hookreceiver_inbox_records",
            "Deliveries in the inbox by state (pending: never tried; retrying: pending after a"
            " failed attempt; dead: failed their last attempt).",
            labels=["state"],
        )
        for label, attribute in _INBOX_STATES.items():
            records.add_metric([label], float(getattr(counts, attribute)))
        yield records
        oldest = counts.oldest_pending_at
        yield GaugeMetricFamily(
            "hookreceiver_inbox_oldest_pending_seconds",
            "Age of the oldest delivery waiting to be handled (0 when none waits).",
            value=0.0 if oldest is None else max(0.0, now - oldest),
        )
        yield GaugeMetricFamily(
            "hookreceiver_inbox_scrape_seconds",
            "Seconds the inbox took to count its deliveries for this scrape.",
            value=time.perf_counter() - started,
        )
