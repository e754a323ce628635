"""``hookreceiver inbox list|show|replay|export|purge`` and ``hookreceiver worker``.

Every command finds the receiver with ``--app module:attribute`` (or ``HOOKRECEIVER_APP``): the
attribute is your :class:`~hookreceiver.Receiver` (or an object whose ``receiver`` is one).
``inbox list``, ``inbox show``, ``inbox purge`` and ``inbox replay --requeue`` also work with
``--inbox URL`` (``sqlite:///hooks.db``, ``postgresql://user@host/db``; add ``?table=name`` for
another table), which needs no handlers. ``HOOKRECEIVER_INBOX`` is the same URL, read by
:func:`hookreceiver.inbox.open_inbox` (the example apps use it too).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import json
import os
import re
import signal
import sys
import warnings
from datetime import datetime, timezone
from typing import Any

import click

from ..errors import HookReceiverError, StoreUnavailable
from .base import Inbox
from .listing import SearchQuery
from .protocols import InboxReceiver
from .records import InboxEntry, InboxRecord, InboxState
from .replay import NEEDS_ATTENTION, ReplayResult, replay, replay_many
from .urls import open_inbox as _open_inbox
from .worker import InboxWorker

__all__ = ["inbox", "load_receiver", "open_inbox", "parse_duration", "worker"]

STATES = [state.value for state in InboxState]


class _Unusable(click.ClickException):
    """A configuration that cannot work (a bad inbox URL, a missing directory): one line, 2."""

    exit_code = 2


class _OneLineErrors(click.Group):
    """An unreachable inbox is one ``Error:`` line (exit 1), not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StoreUnavailable as exc:
            raise click.ClickException(str(exc)) from None


def load_receiver(spec: str) -> InboxReceiver:
    """Import ``module:attribute`` (dots allowed in both) and return the receiver it names."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise click.BadParameter(f"expected module:attribute, got {spec!r}", param_hint="--app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as uvicorn does: the app is usually beside you
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as exc:
        message = f"cannot import {module_name!r}: {exc}"
        raise click.BadParameter(message, param_hint="--app") from None
    except (ValueError, HookReceiverError) as exc:  # the app's settings (its environment)
        raise _Unusable(f"importing {module_name!r} failed: {exc}") from None
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            message = f"{spec!r}: no attribute {part!r}"
            raise click.BadParameter(message, param_hint="--app") from None
    value = getattr(value, "receiver", value)
    if not isinstance(value, InboxReceiver):
        raise click.BadParameter(f"{spec!r} is not a hookreceiver Receiver", param_hint="--app")
    return value


def open_inbox(url: str) -> Inbox:
    """:func:`hookreceiver.inbox.open_inbox`, its errors and warnings as one line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FutureWarning)
        try:
            found = _open_inbox(url)
        except ValueError as exc:
            raise _Unusable(f"--inbox (HOOKRECEIVER_INBOX): {exc}") from None
    for warning in caught:
        click.echo(f"Warning: {warning.message}", err=True)
    return found


class _Target:
    """What ``--app`` / ``--inbox`` named; loaded when a command needs it."""

    def __init__(self, app: str | None, inbox_url: str | None) -> None:
        self.app, self.inbox_url = app, inbox_url

    def receiver(self) -> InboxReceiver:
        if self.app is None:
            raise click.UsageError("this command runs handlers: name the app with --app")
        return load_receiver(self.app)

    def inbox(self) -> Inbox:
        if self.inbox_url is not None:
            return open_inbox(self.inbox_url)
        if self.app is None:
            raise click.UsageError("name the app with --app, or the inbox with --inbox URL")
        found = self.receiver().inbox
        if found is None:
            raise click.UsageError(f"{self.app} has no inbox: pass Receiver(inbox=...)")
        return found


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _line(entry: InboxEntry) -> str:
    error = (entry.last_error or "")[:60]
    return (
        f"{entry.id:<18} {entry.state.value:<11} {_when(entry.received_at)}  "
        f"{entry.attempts:>3}  {entry.event_name or entry.provider + '?':<32} {error}"
    ).rstrip()


_app_option = click.option(
    "--app", envvar="HOOKRECEIVER_APP", help="module:attribute of your Receiver."
)
_inbox_option = click.option(
    "--inbox", "inbox_url", envvar="HOOKRECEIVER_INBOX", help="Inbox URL (no handlers needed)."
)
_filters = [
    click.option("--state", "states", multiple=True, type=click.Choice(STATES), help="Repeatable."),
    click.option("--provider", help="Provider name (wirecloud, documo, ...)."),
    click.option("--event", help="Full event name; a trailing * matches a prefix."),
]


def _with_filters(fn: Any) -> Any:
    for option in reversed(_filters):
        fn = option(fn)
    return fn


@click.group(cls=_OneLineErrors)
@_app_option
@_inbox_option
@click.pass_context
def inbox(ctx: click.Context, app: str | None, inbox_url: str | None) -> None:
    """List, show and replay the deliveries kept in the inbox."""
    ctx.obj = _Target(app, inbox_url)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float:
    """Seconds in ``30d``, ``12h``, ``15m``, ``90s``, ``2w`` or a plain number of seconds."""
    value = text.strip().lower()
    number, unit = (value[:-1], _UNITS[value[-1]]) if value[-1:] in _UNITS else (value, 1.0)
    try:
        seconds = float(number) * unit
    except ValueError:
        raise ValueError(f"{text!r} is not a duration such as 30d, 12h, 15m or 90s") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"{text!r} is not a duration such as 30d, 12h, 15m or 90s")
    return seconds


_PURGEABLE = [InboxState.DONE.value, InboxState.FAILED.value, InboxState.QUARANTINED.value]


def parse_time(value: str | None, name: str, now: float) -> float | None:
    """A time option: ISO 8601 (UTC unless it says otherwise) or an age (``2h``, ``30d``)."""
    if value is None:
        return None
    age = _DURATION.fullmatch(value.strip())
    if age is not None:
        return now - parse_duration(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        message = "expected an ISO time (2026-01-31T14:00) or an age (2h, 30d)"
        raise click.BadParameter(message, param_hint=f"--{name}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


@inbox.command("list")
@_with_filters
@click.option("--since", help="Received at or after: ISO time (UTC) or an age (2h, 30d).")
@click.option("--until", help="Received before: ISO time (UTC) or an age.")
@click.option("--search", "text", help="A delivery id, idempotency key, or fax/message id.")
@click.option("--newest", is_flag=True, help="Newest first (default: oldest first).")
@click.option("--cursor", help="Continue after the page that printed this cursor.")
@click.option("--limit", default=100, show_default=True, help="Entries per page.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def list_command(
    target: _Target,
    states: tuple[str, ...],
    provider: str | None,
    event: str | None,
    since: str | None,
    until: str | None,
    text: str | None,
    newest: bool,
    cursor: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List stored deliveries, oldest first (or --newest), one page at a time.

    A page that is not the last ends with the --cursor option that prints the next one
    (keyset paging: any page is as fast as the first)."""
    box = target.inbox()
    now = box.clock()
    try:
        query = SearchQuery.of(
            states=states or None,
            provider=provider,
            event=event,
            since=parse_time(since, "since", now),
            until=parse_time(until, "until", now),
            text=text,
            cursor=cursor,
            newest=newest,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--cursor") from None
    page = box.search(query, limit=limit)
    for entry in page.entries:
        click.echo(json.dumps(entry.summary()) if as_json else _line(entry))
    count = len(page.entries)
    more = f"; more: --cursor {page.cursor}" if page.cursor else ""
    click.echo(f"{count} deliver{'y' if count == 1 else 'ies'}{more}", err=True)


def _record_json(record: InboxRecord) -> dict[str, Any]:
    return record.details(
        body=lambda raw: raw.decode("utf-8", "replace"), file=lambda f: {"size": f.size}
    )


@inbox.command("show")
@click.argument("record_id")
@click.option("--json", "as_json", is_flag=True, help="As one JSON object.")
@click.pass_obj
def show_command(target: _Target, record_id: str, as_json: bool) -> None:
    """Show one stored delivery: its state, request and body."""
    box = target.inbox()
    record = box.get(record_id)
    if record is None:
        raise click.ClickException(f"no delivery {record_id}")
    data = _record_json(record)
    history = box.attempts(record_id)
    data["attempts_history"] = [dataclasses.asdict(a) for a in history]
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for name in ("id", "state", "provider", "endpoint", "event", "key", "attempts", "last_error"):
        click.echo(f"{name + ':':<12} {data[name]}")
    click.echo(f"{'received:':<12} {_when(record.received_at)} UTC from {record.client}")
    click.echo(
        f"{'request:':<12} {record.method} {record.path}"
        + (f"?{record.query}" if record.query else "")
    )
    for name, value in record.headers:
        click.echo(f"  {name}: {value}")
    for f in data["files"]:
        click.echo(f"file:        {f['field']} {f['filename']} {f['content_type']} {f['size']} B")
    for name, value in record.fields.items():
        click.echo(f"field:       {name} = {value[:200]}")
    for a in history:
        took = "" if a.duration is None else f" {a.duration * 1000:.0f} ms"
        who = f" by {a.actor}" if a.actor else ""
        click.echo(f"attempt:     {a.attempt} {_when(a.at)}{took} {a.outcome}{who} {a.error or ''}")
    if record.body:
        click.echo("")
        click.echo(data["body"])


@inbox.command("export")
@click.argument("record_id")
@click.option("--as-test", "as_test", is_flag=True, required=True, help="As a pytest test.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="The file to write (default: test_delivery_<ID>.py here; - for standard output).",
)
@click.pass_obj
def export_command(target: _Target, record_id: str, as_test: bool, output: str | None) -> None:
    """Write a pytest test that replays stored delivery RECORD_ID through your app.

    The test sends the delivery as the inbox kept it (body, headers, sender, transport)
    through the pytest plugin's `deliver` fixture, to the receiver --app names (or your
    conftest's `webhook_app`), and passes when its handlers handle it.
    """
    from .export import pytest_source

    record = target.inbox().get(record_id)
    if record is None:
        raise click.ClickException(f"no delivery {record_id}")
    if record.not_replayable is not None:
        why = record.not_replayable
        raise click.ClickException(f"delivery {record_id} cannot be replayed: {why}")
    source = pytest_source(record, app=target.app)
    if output == "-":
        click.echo(source, nl=False)
        return
    path = output or f"test_delivery_{record_id}.py"
    with open(path, "w", encoding="utf-8") as file:
        file.write(source)
    click.echo(f"wrote {path}: run it with `pytest {path}`", err=True)


def _report(results: list[ReplayResult]) -> None:
    for result in results:
        state = result.state.value if result.state is not None else "skipped"
        click.echo(f"{result.id:<18} {state:<11} {result.detail or ''}".rstrip())


@inbox.command("replay")
@click.argument("record_ids", nargs=-1)
@click.option("--failed", is_flag=True, help="Every failed and quarantined delivery.")
@_with_filters
@click.option("--limit", type=int, default=None, help="Deliveries at most.")
@click.option("--force", is_flag=True, help="Run handlers even for events already handled.")
@click.option("--requeue", is_flag=True, help="Hand them to running workers instead.")
@click.pass_obj
def replay_command(
    target: _Target,
    record_ids: tuple[str, ...],
    failed: bool,
    states: tuple[str, ...],
    provider: str | None,
    event: str | None,
    limit: int | None,
    force: bool,
    requeue: bool,
) -> None:
    """Process deliveries again: given ids, a filter, or --failed.

    The parser and the handlers run again in this process, through the dedup rules (an event
    already handled is skipped unless --force). Exits 1 when any is not handled.
    """
    filtered = failed or bool(states or provider or event)
    if not record_ids and not filtered:
        raise click.UsageError("name deliveries, a filter, or --failed")
    if record_ids and filtered:
        raise click.UsageError("give ids or a filter, not both")
    chosen = tuple(InboxState(s) for s in states) or NEEDS_ATTENTION
    if requeue:
        box = target.inbox()
        ids = list(record_ids) or [
            e.id for e in box.list(states=chosen, provider=provider, event=event, limit=limit)
        ]
        click.echo(f"requeued {box.requeue(ids)} of {len(ids)}")
        return
    receiver = target.receiver()
    if record_ids:
        results = [replay(receiver, record_id, force=force) for record_id in record_ids]
    else:
        results = replay_many(
            receiver, states=chosen, provider=provider, event=event, limit=limit, force=force
        )
    _report(results)
    if any(result.state is not InboxState.DONE for result in results):
        sys.exit(1)


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@inbox.command("purge")
@click.option(
    "--older-than",
    required=True,
    callback=_duration,
    help="Not updated for this long: 30d, 12h, 15m, 90s.",
)
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(_PURGEABLE),
    help="Repeatable; done by default.",
)
@click.pass_obj
def purge_command(target: _Target, older_than: float, states: tuple[str, ...]) -> None:
    """Delete old handled (or failed, quarantined) deliveries, a batch at a time.

    Each batch of about 1,000 is its own short transaction, so deliveries keep being
    accepted while a large purge runs. Pending and processing deliveries are never purged.
    """
    chosen = [InboxState(s) for s in states] or [InboxState.DONE]
    removed = target.inbox().purge(older_than=older_than, states=chosen)
    click.echo(f"purged {removed} deliver{'y' if removed == 1 else 'ies'}")


@click.command()
@_app_option
@click.option("--concurrency", default=1, show_default=True, help="Deliveries at once.")
@click.option("--poll-interval", default=1.0, show_default=True, help="Seconds between polls.")
@click.option("--once", is_flag=True, help="Process what is due, then exit.")
def worker(app: str | None, concurrency: int, poll_interval: float, once: bool) -> None:
    """Process the inbox in this process until SIGTERM or Ctrl-C (run as many as you like).

    The receiver's fallback journal, if it has one, is drained into the inbox first."""
    receiver = _Target(app, None).receiver()
    if receiver.inbox is None:
        raise click.UsageError(f"{app} has no inbox: pass Receiver(inbox=...)")
    runner = InboxWorker(receiver, concurrency=concurrency, poll_interval=poll_interval)
    if once:
        try:
            processed = runner.run_until_idle()
        except StoreUnavailable as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"processed {processed}", err=True)
        return
    asyncio.run(_serve(runner))


async def _serve(runner: InboxWorker) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, runner.request_stop)
    click.echo(
        f"hookreceiver worker {os.getpid()}: processing {runner.inbox!r} "
        f"with {runner.concurrency} at once",
        err=True,
    )
    try:
        await runner.arun()
    finally:
        await asyncio.to_thread(runner.inbox.close)
