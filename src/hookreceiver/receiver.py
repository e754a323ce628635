"""The receiver: endpoints, handlers and a dedup store, behind ASGI and WSGI adapters.

The facade, on top of every layer: it composes the core, the adapters, the inbox and its
worker. Nothing in the package imports this module; the layers below type a receiver as
:class:`~hookreceiver.core.protocols.ReceiverState` (the inbox as its ``InboxReceiver``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from .core.protocols import ClientResolver
from .errors import ConfigurationError, DeliveryRejected

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .adapters.asgi import ASGIApp, ASGIMiddleware
    from .adapters.wsgi import WSGIApp, WSGIMiddleware
    from .console import ConsoleApp, ConsoleAuth, ConsoleRequest, ConsoleWSGI
    from .core.events import DeliveryContext
    from .core.handlers import Handler, HandlerRegistry, HandlerSpec
    from .core.leases import PendingCompletions
    from .core.lifecycle import WorkerLifecycle
    from .core.outcome import Response
    from .core.routing import Endpoint, Route, Router
    from .delivery import BodySource, Delivery
    from .engine import EventLog, Observer, Tracer
    from .engine import adispatch as _adispatch
    from .engine import dispatch as _dispatch
    from .engine.flow import never_retries
    from .engine.verify import HeadersArg, Verified
    from .inbox.base import Inbox
    from .inbox.feed import InboxFeed
    from .inbox.journal import Journal
    from .inbox.worker import InboxWorker
    from .observability import DeliveryLog, Metrics, Tracing
    from .providers.base import Provider
    from .security.signed_urls import SignedURLGuard
    from .stores.base import Store
    from .stores.memory import MemoryStore

__all__ = ["ClientResolver", "Receiver"]

logger = logging.getLogger("hookreceiver")

E = TypeVar("E")
F = TypeVar("F", bound=Callable[..., Any])

DAY = 86400.0

_loaded = False


def _load() -> None:
    """Import what a receiver works with (the engine, the memory store, the handler registry,
    the leases ...) and bind it in this module: done by the first ``Receiver()``, so importing
    this module costs little (an app pays for asyncio and the engine once it builds a
    receiver, not when it names the class)."""
    global _loaded
    if _loaded:
        return
    from .core.handlers import HandlerRegistry, HandlerSpec
    from .core.leases import PendingCompletions
    from .core.lifecycle import WorkerLifecycle
    from .core.routing import Endpoint, Router
    from .engine import EventLog, adispatch, dispatch
    from .engine.flow import never_retries
    from .stores.memory import MemoryStore

    globals().update(
        HandlerRegistry=HandlerRegistry,
        HandlerSpec=HandlerSpec,
        PendingCompletions=PendingCompletions,
        WorkerLifecycle=WorkerLifecycle,
        Endpoint=Endpoint,
        Router=Router,
        EventLog=EventLog,
        _adispatch=adispatch,
        _dispatch=dispatch,
        never_retries=never_retries,
        MemoryStore=MemoryStore,
    )
    _loaded = True


class Receiver:
    """Holds endpoints, handlers and a dedup store, and handles deliveries to them.

    Args:
        store: the dedup store (a fresh :class:`~hookreceiver.stores.MemoryStore` if omitted;
            use SQLite, Redis or PostgreSQL when more than one process serves webhooks).
        lease: seconds a claim is held while handlers run (renewed every third of it until
            they end); a worker that died frees its claims after this long.
        retain_for: seconds a handled event's key is remembered (7 days by default: longer
            than any provider retries).
        proxies: where the sender's address comes from behind a reverse proxy; by default
            the TCP peer, and forwarding headers are ignored.
        public_base_url: the scheme, host and any prefix senders reach this app at
            (``https://hooks.example.com``), for :meth:`callback_url` behind a proxy.
        log_events: log one JSON line per handled event on the ``hookreceiver.events`` logger.
        inbox: where verified deliveries are kept until handled (``SQLiteInbox``,
            ``PostgresInbox``): endpoints in ``inbox`` mode answer once the delivery is stored,
            and deliveries that do not parse are quarantined there.
        worker: run an inbox worker in the app's process, started with the ASGI lifespan (or
            on the first delivery) and in background threads under WSGI. ``True``, ``False``
            (run ``hookreceiver worker`` instead), or a dict of
            :class:`~hookreceiver.inbox.InboxWorker` options (``{"concurrency": 4}``).
        journal_dir: a local directory (not on a network file system) for the fallback
            journal: a delivery from a sender that never retries (Kazoo) that the inbox cannot
            take (it is unreachable, or there is none for a quarantined delivery) is appended
            there, fsynced, answered 200, and drained into the inbox by the worker once it is
            back. Without one, such a delivery is handled at once (and lost if that fails).
        body_timeout: seconds allowed to receive one delivery's body under ASGI, counted
            from the first read that has to wait for the sender (30 by default; ``None`` for
            no limit). A sender that stalls mid-body is answered 408 and the connection
            closed. Under WSGI the server's own socket timeout applies (gunicorn's
            ``--timeout``).
        completion_retry_for: seconds a handled event's completion, refused by a store that
            went down while its handlers ran, is retried in the background (meanwhile a copy
            of the event reaching this process is answered as a duplicate).
        record_sync: with an inbox, keep the deliveries ``sync`` endpoints handled there too
            (``done``, payload kept; written in batches in the background after the answer),
            so the console shows the receiver's whole history.
    """

    def __init__(
        self,
        *,
        store: Store | None = None,
        lease: float = 300.0,
        retain_for: float = 7 * DAY,
        proxies: ClientResolver | None = None,
        public_base_url: str | None = None,
        log_events: bool = True,
        inbox: Inbox | None = None,
        worker: bool | Mapping[str, Any] = True,
        journal_dir: str | os.PathLike[str] | None = None,
        body_timeout: float | None = 30.0,
        completion_retry_for: float = 3600.0,
        record_sync: bool = True,
    ) -> None:
        if not _loaded:
            _load()
        if body_timeout is not None and not body_timeout > 0:
            raise ConfigurationError(f"body_timeout must be positive or None, not {body_timeout!r}")
        self.body_timeout = body_timeout
        self.store: Store = store if store is not None else MemoryStore()
        self.lease = lease
        self.retain_for = retain_for
        self.proxies = proxies
        self.public_base_url: str | None = None
        if public_base_url is not None:
            from .security.signed_urls import check_base_url

            self.public_base_url = check_base_url(public_base_url)
        self.log_events = log_events
        self.router = Router()
        self.handlers = HandlerRegistry()
        self._event_log = EventLog()
        #: Told of every delivery's report (see :meth:`add_observer`); the event log first.
        self.observers: list[Observer] = [self._event_log] if log_events else []
        #: Told of each delivery's steps (spans, handler timings): set by
        #: :meth:`enable_metrics` and :meth:`enable_tracing`; ``None`` costs nothing.
        self.tracer: Tracer | None = None
        self.metrics: Metrics | None = None
        self.tracing: Tracing | None = None
        self.inbox = inbox
        self.worker_options: Mapping[str, Any] | None = (
            None if worker is False else ({} if worker is True else dict(worker))
        )
        self.dead_letter_handlers: list[HandlerSpec] = []
        # The adapters start it (with the ASGI lifespan, or on the first delivery) while due.
        self.worker_lifecycle: WorkerLifecycle[InboxWorker] = WorkerLifecycle(
            self._new_worker, autostart=inbox is not None and self.worker_options is not None
        )
        self.journal: Journal | None = None
        if journal_dir is not None:
            from .inbox.journal import Journal

            # Records carry the inbox's clock, as if the inbox had stored them at once.
            clock = inbox.clock if inbox is not None else time.time
            self.journal = Journal(journal_dir, clock=clock)
        self.pending_completions = PendingCompletions(retry_for=completion_retry_for)
        if inbox is not None and record_sync:
            from .inbox.recorder import SyncRecorder

            self.add_observer(SyncRecorder(inbox, self.router.endpoint))

    # Configuration ---------------------------------------------------------------------------

    def endpoint(
        self,
        path: str,
        provider: Provider,
        *,
        methods: Iterable[str] | None = None,
        ack: str | None = None,
    ) -> Endpoint:
        """Serve ``provider``'s deliveries at ``path`` (a template such as ``/hooks/{event}``).

        ``ack`` is ``"sync"`` (handlers run before the answer, whose status tells the sender
        to retry on failure) or ``"inbox"`` (the delivery is stored in the inbox and answered
        at once; a worker runs the handlers, with retries). The default is the provider's
        ``default_ack`` when the receiver has an inbox (``inbox`` for Wirecloud/Kazoo, which
        never retries), else ``sync``, with a warning for providers that want an inbox.

        Raises:
            ConfigurationError: the path is taken or malformed, the provider has no sender
                verification and no explicit opt-out, or ``ack="inbox"`` without an inbox.
        """
        provider.check_configuration(path)
        chosen = frozenset(m.upper() for m in (methods or provider.methods))
        endpoint = Endpoint(path, provider, chosen, self._ack_mode(path, provider, ack))
        self.router.add(endpoint)
        return endpoint

    @overload
    def on(self, target: type[E]) -> Callable[[Handler[E]], Handler[E]]: ...

    @overload
    def on(self, target: str = "*") -> Callable[[F], F]: ...

    def on(self, target: str | type = "*") -> Callable[[Any], Any]:
        """Register a handler ``(event, ctx)``, sync or async.

        ``target`` is an event name (``"documo.fax.inbound"``), a normalized name
        (``"fax.received"``), a provider wildcard (``"documo.*"``), ``"*"`` for every event, or
        a model class (the handler then receives events that are instances of it).
        """

        def register(fn: Any) -> Any:
            self.handlers.add(target, fn)
            return fn

        return register

    def on_error(self, fn: F) -> F:
        """Register ``fn(exception, ctx)``, called when a handler raises."""
        self.handlers.add_error_handler(fn)
        return fn

    def on_dead_letter(self, fn: F) -> F:
        """Register ``fn(entry)``, sync or async, called when an inbox delivery has failed its
        last attempt (``entry`` is an :class:`~hookreceiver.inbox.InboxEntry` with its
        ``last_error``). Use it to alert; the delivery stays in the inbox for a replay."""
        self.dead_letter_handlers.append(HandlerSpec.of(fn))
        return fn

    def _ack_mode(self, path: str, provider: Provider, ack: str | None) -> str:
        if self.inbox is not None and self.journal is None and never_retries(provider):
            logger.warning(
                "endpoint %s (%s): the sender never retries and the receiver has no journal: "
                "a delivery that comes while the inbox is unreachable is handled at once, and "
                "lost if that fails; pass Receiver(journal_dir=...)",
                path,
                provider.name,
            )
        if ack is None:
            if provider.default_ack == "inbox" and self.inbox is None:
                logger.warning(
                    "endpoint %s (%s): the sender never retries, so without an inbox an event "
                    "whose handler fails is lost; pass Receiver(inbox=SQLiteInbox(...))",
                    path,
                    provider.name,
                )
            return provider.default_ack if self.inbox is not None else "sync"
        if ack not in ("sync", "inbox"):
            raise ConfigurationError(f"ack must be 'sync' or 'inbox', not {ack!r}")
        if ack == "inbox" and self.inbox is None:
            raise ConfigurationError(f"endpoint {path}: ack='inbox' needs Receiver(inbox=...)")
        return ack

    def callback_url(
        self,
        path_or_endpoint: str | Endpoint,
        *,
        event: str | None = None,
        params: Mapping[str, str] | None = None,
        context: Mapping[str, Any] | None = None,
        expires_in: float | None = None,
        base_url: str | None = None,
    ) -> str:
        """A signed URL for an endpoint whose provider has ``signed_urls=``, to give a sender.

        ``event`` fills the ``{event}`` placeholder (``params`` any others); ``context`` reaches
        handlers as ``ctx.signed``; ``expires_in`` overrides the signer's default lifetime.

        Raises:
            ConfigurationError: no such endpoint, no signed URLs on it, or no base URL.
            ValueError: placeholder values missing or not single path segments.
        """
        path = path_or_endpoint if isinstance(path_or_endpoint, str) else path_or_endpoint.path
        endpoint = self.router.endpoint(path)
        if endpoint is None:
            raise ConfigurationError(f"no endpoint {path!r}")
        from .security.signed_urls import SignedURLGuard

        guard: SignedURLGuard | None = next(
            (g for g in endpoint.provider.guards if isinstance(g, SignedURLGuard)), None
        )
        if guard is None:
            raise ConfigurationError(f"endpoint {path} has no signed URLs (signed_urls=)")
        base = base_url or self.public_base_url
        if base is None:
            raise ConfigurationError("set Receiver(public_base_url=...) or pass base_url=")
        values = {**(params or {}), **({} if event is None else {"event": event})}
        return guard.signer.url(base, endpoint.path, values, context, expires_in=expires_in)

    # Handling --------------------------------------------------------------------------------

    def match(self, path: str) -> Route | None:
        """The endpoint serving ``path``, or ``None`` when the request is not for us."""
        return self.router.match(path)

    def client_address(self, delivery: Delivery) -> str | None:
        """The sender's address: the peer, or what trusted proxies say."""
        if self.proxies is None:
            return delivery.peer
        return self.proxies.client_address(delivery)

    def handle(self, delivery: Delivery) -> Response:
        """Handle one delivery synchronously (WSGI threads, tests). 404 for unknown paths."""
        return _dispatch(self, delivery).response

    async def ahandle(self, delivery: Delivery) -> Response:
        """Handle one delivery on the event loop. 404 for unknown paths."""
        return (await _adispatch(self, delivery)).response

    def verify(
        self,
        method: str,
        path: str,
        headers: HeadersArg,
        body: BodySource | str,
        *,
        client: str | None = None,
        query: str = "",
    ) -> Verified:
        """Verify and parse one delivery your own route received; run no handler.

        The endpoint is found by ``path`` (the query string may follow a ``?``); ``client`` is
        the TCP peer's address (trusted proxies apply, as for the adapters). ``body`` is bytes,
        a ``str`` (sent as its UTF-8 bytes, like Stripe's and svix's libraries) or chunks of
        bytes. Returns the :class:`~hookreceiver.engine.verify.Verified` event; nothing is
        claimed or stored.

        Raises:
            DeliveryRejected: a typed refusal whose ``status``, ``error`` and ``detail`` are
                the answer to send (404 ``not_found`` for a path that is no endpoint).
            TypeError: an argument of the wrong type (``bytes`` for ``method``, a number for
                ``body``...), at the call: never a 500.
        """
        from .engine.verify import delivery_of
        from .engine.verify import verify as run

        return run(self, delivery_of(method, path, headers, body, client=client, query=query))

    async def averify(
        self,
        method: str,
        path: str,
        headers: HeadersArg,
        body: BodySource | str,
        *,
        client: str | None = None,
        query: str = "",
    ) -> Verified:
        """Async :meth:`verify` (``body`` may be an async iterable of chunks)."""
        from .engine.verify import averify as run
        from .engine.verify import delivery_of

        return await run(self, delivery_of(method, path, headers, body, client=client, query=query))

    # Observers --------------------------------------------------------------------------------

    def add_observer(self, observer: Observer) -> Observer:
        """Tell ``observer`` (anything with ``on_report(report)``) of every delivery's
        :class:`~hookreceiver.engine.DeliveryReport`, handled or refused, live or from the inbox.
        It runs before the answer is sent: keep it quick. One that raises is logged, and the
        answer stays the same. Returns ``observer``."""
        self.observers.append(observer)
        return observer

    def on_invalid(self, delivery: Delivery, route: Route, exc: DeliveryRejected) -> None:
        """Called for an authenticated delivery that does not parse or validate (observers
        receive its report too, with the outcome ``INVALID_PAYLOAD``)."""

    def log_handled(self, ctx: DeliveryContext) -> None:
        """Log one JSON line for a handled event (what the event log observer does)."""
        if self.log_events:
            self._event_log.write(ctx)

    # Observability (hookreceiver.observability) ------------------------------------------------

    def enable_metrics(self, *, registry: Any | None = None) -> Metrics:
        """Count every delivery in Prometheus metrics (``pip install 'hookreceiver[prometheus]'``);
        idempotent. ``registry``: a prometheus-client ``CollectorRegistry`` (its default
        ``REGISTRY`` if omitted). Serve them with :meth:`metrics_asgi_app` or
        :meth:`metrics_wsgi_app`; several worker processes: set ``PROMETHEUS_MULTIPROC_DIR``
        (see ``docs/observability.md``)."""
        if self.metrics is None:
            from .observability import Metrics

            self.metrics = Metrics(self, registry=registry)
            self.add_observer(self.metrics)
            self._instrument()
        return self.metrics

    def metrics_asgi_app(self) -> Callable[..., Any]:
        """An ASGI app serving the metrics (mount it at ``/metrics``); enables them if needed."""
        return self.enable_metrics().asgi_app()

    def metrics_wsgi_app(self) -> Callable[..., Any]:
        """A WSGI app serving the metrics (mount it at ``/metrics``); enables them if needed."""
        return self.enable_metrics().wsgi_app()

    def enable_tracing(
        self, tracer_provider: Any | None = None, *, steps: bool | Literal["handlers"] = True
    ) -> Tracing:
        """Trace every delivery with OpenTelemetry (``pip install 'hookreceiver[otel]'``);
        idempotent. ``tracer_provider``: the global one (your SDK set-up, or
        ``opentelemetry-instrument``'s) if omitted; ``steps=False``: one span per delivery,
        without the verify, parse, store and handler spans under it; ``steps="handlers"``:
        with the handlers' spans only."""
        if self.tracing is None:
            from .observability import Tracing

            self.tracing = Tracing(tracer_provider, steps=steps)
            self._instrument()
        return self.tracing

    def enable_delivery_log(self, logger: logging.Logger | None = None) -> DeliveryLog:
        """Log one JSON line per delivery, handled or refused, with its outcome, status and
        trace id, on ``hookreceiver.events``, instead of the line per handled event."""
        from .observability import DeliveryLog

        log = DeliveryLog(logger)
        self.log_events = False
        self.observers[:] = [o for o in self.observers if o is not self._event_log]
        self.observers.insert(0, log)
        return log

    def _instrument(self) -> None:
        from .observability import Telemetry

        self.tracer = Telemetry(metrics=self.metrics, tracing=self.tracing)

    # The in-process inbox worker --------------------------------------------------------------

    def _new_worker(self) -> InboxWorker:
        from .inbox.worker import InboxWorker

        return InboxWorker(self, **(self.worker_options or {}))

    def start_worker(self) -> InboxWorker:
        """Start the inbox worker in background threads now (WSGI apps start it on the first
        delivery); idempotent."""
        return self.worker_lifecycle.start()

    def stop_worker(self, timeout: float = 30.0) -> None:
        """Stop the background worker after its current delivery."""
        self.worker_lifecycle.stop(timeout)

    async def astart_worker(self) -> InboxWorker:
        """Start the inbox worker as tasks on the running loop (the ASGI lifespan does)."""
        return await self.worker_lifecycle.astart()

    async def astop_worker(self, timeout: float = 30.0) -> None:
        """Stop the worker's tasks after their current delivery."""
        await self.worker_lifecycle.astop(timeout)

    # Adapters --------------------------------------------------------------------------------

    def asgi_middleware(self, app: ASGIApp) -> ASGIMiddleware:
        """Wrap an ASGI app: webhook paths are handled here, everything else passes through.

        Use as ``Middleware(receiver.asgi_middleware)`` in Starlette or
        ``app.add_middleware(receiver.asgi_middleware)`` in FastAPI.
        """
        from .adapters.asgi import ASGIMiddleware

        return ASGIMiddleware(app, receiver=self)

    @property
    def asgi_app(self) -> ASGIMiddleware:
        """A mountable ASGI app answering 404 for paths that are not endpoints."""
        from .adapters.asgi import ASGIMiddleware, not_found_app

        return ASGIMiddleware(not_found_app, receiver=self)

    def wsgi_middleware(self, app: WSGIApp) -> WSGIMiddleware:
        """Wrap a WSGI app (``app.wsgi_app = receiver.wsgi_middleware(app.wsgi_app)``)."""
        from .adapters.wsgi import WSGIMiddleware

        return WSGIMiddleware(app, receiver=self)

    @property
    def wsgi_app(self) -> WSGIMiddleware:
        """A mountable WSGI app answering 404 for paths that are not endpoints."""
        from .adapters.wsgi import WSGIMiddleware, not_found_wsgi_app

        return WSGIMiddleware(not_found_wsgi_app, receiver=self)

    def inbox_feed_app(
        self, *, auth: str | Sequence[str], max_page_bytes: int | None = None
    ) -> InboxFeed:
        """An app serving the inbox's deliveries to holders of a bearer token in ``auth``
        (several while rotating), for ``hookreceiver forward`` on a developer's machine:
        ASGI itself, WSGI as its ``.wsgi``. Mount it at a path of its own. A page of
        deliveries weighs at most ``max_page_bytes`` (default 16 MiB) but for a single record.

        Raises:
            ConfigurationError: the receiver has no inbox, or a token is shorter than 16.
        """
        from .inbox.feed import InboxFeed

        if self.inbox is None:
            raise ConfigurationError("the inbox feed needs Receiver(inbox=...)")
        if max_page_bytes is None:
            return InboxFeed(self.inbox, auth=auth)
        return InboxFeed(self.inbox, auth=auth, max_page_bytes=max_page_bytes)

    # The operator console ----------------------------------------------------------------------

    def console_app(
        self,
        *,
        auth: ConsoleAuth | Iterable[tuple[str, str]] | None = None,
        readonly_auth: ConsoleAuth | Iterable[tuple[str, str]] | None = None,
        authorize: Callable[[ConsoleRequest], Any] | None = None,
        secret: str | bytes | None = None,
        trusted_origins: Iterable[str] = (),
    ) -> ConsoleApp:
        """The operator's web console over this receiver's inbox: a pure ASGI app to mount
        (``Mount("/console", app=hooks.console_app(auth=...))``); needs ``hookreceiver[console]``.

        ``auth`` and ``readonly_auth`` are ``(user, password)`` pairs (or a
        :class:`~hookreceiver.console.ConsoleAuth`); ``authorize`` is a callable taking the
        request that returns an identity (or ``None`` to refuse), for apps with their own login.
        See :class:`~hookreceiver.console.ConsoleApp` and ``docs/console.md``.
        """
        from .console import ConsoleApp

        return ConsoleApp(
            self,
            auth=auth,
            readonly_auth=readonly_auth,
            authorize=authorize,
            secret=secret,
            trusted_origins=trusted_origins,
        )

    def console_wsgi_app(self, **options: Any) -> ConsoleWSGI:
        """:meth:`console_app` as a WSGI app, for Flask or Django (Werkzeug's
        ``DispatcherMiddleware(app, {"/console": hooks.console_wsgi_app(auth=...)})``); each
        request runs on the process's background event loop. Takes the same options."""
        from .console import ConsoleWSGI

        return ConsoleWSGI(self.console_app(**options))
