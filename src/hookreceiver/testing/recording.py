"""Seeing which handlers run: a receiver's handler resolver wrapped once, so that the
deliveries a testing client sends record each handler call and the engine's report of them.

Outside a testing send the wrapped resolver returns the usual handlers untouched.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any

from ..core.events import DeliveryContext
from ..core.handlers import HandlerSpec
from ..core.protocols import ReceiverState
from ..engine import DeliveryReport
from .results import CapturedFile, HandlerCall

__all__ = ["find_receiver", "instrument", "recording"]


_recording: ContextVar[list[HandlerCall] | None] = ContextVar(
    "hookreceiver_testing_calls", default=None
)
_reports: ContextVar[list[DeliveryReport] | None] = ContextVar(
    "hookreceiver_testing_reports", default=None
)
_INSTRUMENTED = "_hookreceiver_testing_resolve"


@contextmanager
def recording(calls: list[HandlerCall] | None, reports: list[DeliveryReport]) -> Iterator[None]:
    """While inside: the handler calls of this context's delivery go to ``calls`` (``None``:
    not recorded), and its report to ``reports``."""
    token, reports_token = _recording.set(calls), _reports.set(reports)
    try:
        yield
    finally:
        _recording.reset(token)
        _reports.reset(reports_token)


class _ReportRecorder:
    """The observer that hands a testing send the report of its delivery."""

    def on_report(self, report: DeliveryReport) -> None:
        reports = _reports.get()
        if reports is not None and report.source == "http":
            reports.append(report)


def _capture(ctx: DeliveryContext) -> list[CapturedFile]:
    return [CapturedFile(a.field, a.filename, a.content_type, a.read()) for a in ctx.attachments]


def _recording_spec(spec: HandlerSpec, normalized: bool, calls: list[HandlerCall]) -> HandlerSpec:
    def begin(event: Any, ctx: DeliveryContext) -> HandlerCall:
        call = HandlerCall(spec.fn, spec.name, event, ctx, normalized, _capture(ctx))
        calls.append(call)
        return call

    if spec.is_async:

        @wraps(spec.fn)
        async def run_async(event: Any, ctx: DeliveryContext) -> Any:
            call = begin(event, ctx)
            try:
                return await spec.fn(event, ctx)
            except BaseException as exc:
                call.error = exc
                raise

        return HandlerSpec(run_async, True)

    @wraps(spec.fn)
    def run_sync(event: Any, ctx: DeliveryContext) -> Any:
        call = begin(event, ctx)
        try:
            return spec.fn(event, ctx)
        except BaseException as exc:
            call.error = exc
            raise

    return HandlerSpec(run_sync, False)


def instrument(receiver: ReceiverState) -> None:
    """Let deliveries sent by this module see ``receiver``'s handler calls (done once).

    Outside a testing send, the wrapped resolver returns the usual handlers untouched.
    """
    registry = receiver.handlers
    if getattr(registry, _INSTRUMENTED, False):
        return
    original = registry.resolve

    def resolve(event: Any) -> list[tuple[HandlerSpec, bool]]:
        found = original(event)
        calls = _recording.get()
        if calls is None:
            return found
        return [(_recording_spec(spec, norm, calls), norm) for spec, norm in found]

    setattr(registry, "resolve", resolve)  # noqa: B010 - instance attribute shadows the method
    setattr(registry, _INSTRUMENTED, True)
    receiver.add_observer(_ReportRecorder())


def find_receiver(app: Any, *, depth: int = 8) -> ReceiverState | None:
    """The :class:`~hookreceiver.Receiver` inside ``app``, when it can be found.

    Looks through hookreceiver's middleware, ``app.wsgi_app`` (Flask), Starlette's
    ``user_middleware`` and ``middleware_stack``, and wrapped ``app`` attributes.
    """
    seen: set[int] = set()
    todo: list[tuple[Any, int]] = [(app, 0)]
    while todo:
        item, level = todo.pop(0)
        if item is None or id(item) in seen or level > depth:
            continue
        seen.add(id(item))
        if isinstance(item, ReceiverState):
            return item
        owner = getattr(item, "__self__", None)  # a bound method such as hooks.asgi_middleware
        if isinstance(owner, ReceiverState):
            return owner
        children = [getattr(item, name, None) for name in ("receiver", "wsgi_app", "app")]
        children.append(getattr(item, "middleware_stack", None))
        for entry in getattr(item, "user_middleware", None) or ():
            children.append(getattr(entry, "cls", None))
            kwargs = getattr(entry, "kwargs", None)
            if isinstance(kwargs, Mapping):
                children.extend(kwargs.values())
        todo.extend((child, level + 1) for child in children if child is not None)
    return None
