"""The ``hookreceiver`` command: ``demo``, ``send``, ``events``, ``forward``; the inbox's
``inbox``, ``worker``; ``store cleanup``.

Exit codes: 0 success; 1 a delivery did not go as expected (``demo``) or the provider would not
count it delivered (``send``); 2 a usage error (unknown provider or event, bad option); 3 no HTTP
answer (connection refused, timeout); 4 the demo's app could not be imported or started.

Needs the ``cli`` extra (``pip install 'hookreceiver[cli]'``) for click and uvicorn.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import ipaddress
import json
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

try:
    import click
except ImportError:  # pragma: no cover - depends on the installed extras
    sys.stderr.write(
        "hookreceiver: the command line needs click: pip install 'hookreceiver[cli]'\n"
    )
    raise SystemExit(2) from None

__all__ = ["main"]

EXIT_NOT_DELIVERED = 1
EXIT_NO_ANSWER = 3
EXIT_APP_FAILED = 4

# Commands defined elsewhere, imported only when used (the inbox's need its storage modules).
_LAZY = {
    "inbox": "hookreceiver.inbox.cli:inbox",
    "store": "hookreceiver.stores.cli:store",
    "worker": "hookreceiver.inbox.cli:worker",
}


class _Group(click.Group):
    """A group whose commands from other modules load on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in _LAZY:
            return found
        module, _, name = _LAZY[cmd_name].partition(":")
        try:
            command = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise click.ClickException(f"`{cmd_name}` is unavailable: {exc}") from None
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hookreceiver")
def main() -> None:
    """Receive fax, SMS and telephony webhooks safely, quickly and exactly once.

    Exit codes: 0 success, 1 not delivered as expected, 2 usage error, 3 no HTTP answer,
    4 the app could not start.
    """


# demo ------------------------------------------------------------------------------------------


@main.command(short_help="Run the example app and fire every provider's events at it.")
@click.option(
    "--app",
    "spec",
    default="examples.starlette_app:app",
    show_default=True,
    help="The ASGI app to run, as module:attribute, importable from the current directory.",
)
@click.option("-v", "--verbose", is_flag=True, help="Also print the server's log.")
@click.option(
    "--serve", "keep_serving", is_flag=True, help="Keep the app (and its console) up until Ctrl-C."
)
def demo(spec: str, verbose: bool, keep_serving: bool) -> None:
    """Run the example app on a free loopback port and fire every provider's events at it.

    Real HTTP deliveries, as each provider sends them: Fax.Plus and Zipwhip JSON, a Documo
    multipart fax with a PDF, Updox and Wirecloud (Kazoo) on signed callback URLs; then a
    duplicate, a spoofed sender, wrong credentials, a forged URL token, a token signed for
    another event and an oversized body. The app runs under `uvicorn --no-proxy-headers` with
    its access log on (-v prints it; it must show no signed URL's token). Prints each
    delivery, its expected and actual status, and what the handler saw. Exits 0 when every
    delivery went as expected. Run it from the repository root.

    The example app's operator console is at /console/ (its URL and a fresh password are
    printed); --serve leaves the app running afterwards so the console can be browsed.
    """
    from .testing.demo import DemoError, run_demo

    try:
        good = run_demo(spec, echo=click.echo, verbose=verbose, keep_serving=keep_serving)
    except DemoError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(EXIT_APP_FAILED) from None
    if not good:
        raise SystemExit(EXIT_NOT_DELIVERED)


# events ----------------------------------------------------------------------------------------


@main.command(short_help="List the providers and events `send` can fire.")
@click.argument("provider", required=False)
def events(provider: str | None) -> None:
    """List the providers and the events `send` can fire (all, or PROVIDER's)."""
    from .testing.factories import PROVIDERS, UnknownName, provider_module

    try:
        chosen = [provider_module(provider)] if provider else list(PROVIDERS.values())
    except UnknownName as exc:
        raise click.UsageError(str(exc)) from None
    for module in chosen:
        click.echo(f"{module.PROVIDER}: " + ", ".join(module.EVENTS))


# send ------------------------------------------------------------------------------------------


def _value(text: str) -> Any:
    """A field value: JSON when it parses (numbers, true, null, objects), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _fields(items: tuple[str, ...]) -> dict[str, Any]:
    """``key=value`` pairs into keywords; ``a.b=v`` nests (``hook.event_time=...``)."""
    out: dict[str, Any] = {}
    for item in items:
        key, equals, text = item.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"expected key=value, got {item!r}", param_hint="--field")
        node = out
        *parents, leaf = key.split(".")
        for parent in parents:
            child = node.setdefault(parent, {})
            if not isinstance(child, dict):
                raise click.BadParameter(f"{key!r} nests inside a value", param_hint="--field")
            node = child
        node[leaf] = _value(text)
    return out


# Factory keywords the send command sets with options of its own: not listed as fields.
_PLUMBING = frozenset(
    {"attachment", "basic_auth", "headers", "method", "path", "sender", "signed_context",
     "signer", "url"}
)  # fmt: skip
_PROBE = "__hookreceiver_probe__"


def _where_fields_go(node: Any, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    if isinstance(node, dict):
        if _PROBE in node:
            return path
        for key, value in node.items():
            found = _where_fields_go(value, (*path, key))
            if found is not None:
                return found
    return None


def _known_fields(make: Callable[..., Any]) -> tuple[list[str], list[str]]:
    """``(wire fields, factory options)`` a ``-f`` may set for this event.

    The wire fields are those of the part of the payload the factory merges fields into (found
    by sending it a probe), and the payload's other top-level parts (Fax.Plus's ``hook``).
    """
    options = [
        name
        for name, p in inspect.signature(make).parameters.items()
        if p.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    payload = make().payload
    path = _where_fields_go(make(**{_PROBE: 1}).payload) or ()
    part = payload
    for key in path:
        part = part[key]
    wire = set(part) | ({k for k in payload if k != path[0]} if path else set())
    return sorted(wire, key=str.lower), options


def _check_fields(make: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    wire, options = _known_fields(make)
    known = {*wire, *options}
    for name in kwargs:
        if name in known:
            continue
        more = [o for o in options if o not in _PLUMBING and o not in wire]
        close = difflib.get_close_matches(name, [*wire, *more], n=1)
        raise click.BadParameter(
            f"unknown field {name!r} for this event."
            + (f" Did you mean {close[0]!r}?" if close else "")
            + f" Fields: {', '.join(wire)}."
            + (f" Options: {', '.join(more)}." if more else "")
            + " (--any-field sends it anyway.)",
            param_hint="--field",
        )


def _pair(text: str | None, hint: str) -> tuple[str, str] | None:
    if text is None:
        return None
    user, colon, password = text.partition(":")
    if not colon or not user:
        raise click.BadParameter("expected user:password", param_hint=hint)
    return user, password


def _accepts(make: Callable[..., Any], name: str) -> bool:
    return name in inspect.signature(make).parameters


def _template(url_path: str, url_event: str | None) -> str:
    """The endpoint template a signed URL is made for: the event's segment becomes ``{event}``."""
    head, _, last = url_path.rstrip("/").rpartition("/")
    if url_event is not None and last == url_event:
        return f"{head}/{{event}}"
    return url_path


@main.command(short_help="Fire one realistic delivery at any endpoint.")
@click.argument("provider")
@click.argument("event")
@click.option("--url", required=True, help="The endpoint's full URL (http://host:port/path).")
@click.option(
    "-f",
    "--field",
    "fields",
    multiple=True,
    metavar="KEY=VALUE",
    help="A wire field or factory option (faxNumber=+1555..., pages=3, status=failed); "
    "values are JSON when they parse; a.b=v nests. Repeatable. A field the event does not "
    "have is refused (see --any-field).",
)
@click.option(
    "--any-field",
    is_flag=True,
    help="Let -f set fields the event does not have (to try one the provider adds later).",
)
@click.option("--method", help="HTTP method, for providers that let webhooks choose one.")
@click.option(
    "--attachment",
    type=click.File("rb"),
    help="A file to attach (Documo fax events); default: a generated PDF for fax.inbound.",
)
@click.option("--no-attachment", is_flag=True, help="Send a Documo fax event without its file.")
@click.option("--basic-auth", metavar="USER:PASSWORD", help="HTTP basic auth credentials.")
@click.option(
    "--signed-url-secret",
    metavar="KEY",
    help="Sign the URL as a hookreceiver signed callback URL with this key.",
)
@click.option(
    "--endpoint",
    metavar="TEMPLATE",
    help="The endpoint's path template for signing (default: the URL's path, its last segment "
    "as {event} when it names the event).",
)
@click.option(
    "--signed-context", multiple=True, metavar="KEY=VALUE", help="Context in the signed URL."
)
@click.option("-H", "--header", "headers", multiple=True, metavar="NAME:VALUE", help="Header.")
@click.option("--sender", metavar="IP", help="The sender address (see --forward-header).")
@click.option(
    "--forward-header",
    metavar="NAME",
    help="Send the sender address in this header (X-Forwarded-For) to a server trusting us.",
)
@click.option(
    "--retry-schedule",
    metavar="PROVIDER|none",
    default="none",
    show_default=True,
    help="Retry as this provider would until it stops (attempts are sent back to back; the "
    "output shows when the provider would send each). 'provider' uses PROVIDER's own.",
)
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds.")
@click.option("--dry-run", is_flag=True, help="Print the request instead of sending it.")
def send(
    provider: str,
    event: str,
    url: str,
    fields: tuple[str, ...],
    any_field: bool,
    method: str | None,
    attachment: Any,
    no_attachment: bool,
    basic_auth: str | None,
    signed_url_secret: str | None,
    endpoint: str | None,
    signed_context: tuple[str, ...],
    headers: tuple[str, ...],
    sender: str | None,
    forward_header: str | None,
    retry_schedule: str,
    timeout: float,
    dry_run: bool,
) -> None:
    """Fire one realistic PROVIDER EVENT delivery at URL, exactly as the provider sends it.

    \b
    Examples:
      hookreceiver send documo fax.inbound --url http://127.0.0.1:8000/hooks/documo \\
          --basic-auth documo:s3cret -f pages=3
      hookreceiver send zipwhip receive --url http://127.0.0.1:8000/hooks/zipwhip/receive
      hookreceiver send updox inbound_fax --url http://127.0.0.1:8000/hooks/updox/inbound_fax \\
          --endpoint '/hooks/updox/{event}/{token}' --signed-url-secret "$UPDOX_URL_KEYS" \\
          --retry-schedule provider

    Exits 0 when the provider would count the delivery as delivered, 1 when not, 3 when no
    answer came. `hookreceiver events` lists the providers and events.
    """
    from .testing.factories import UnknownName, factory

    try:
        make = factory(provider, event)
    except UnknownName as exc:
        raise click.UsageError(str(exc)) from None
    if not any_field:
        _check_fields(make, _fields(fields))
    kwargs = _send_options(
        make, fields, method, attachment, no_attachment, basic_auth, headers, sender
    )
    delivery = _build(make, kwargs, url, signed_url_secret, endpoint, signed_context)
    if dry_run:
        _print_request(delivery, url)
        return
    _deliver(delivery, url, retry_schedule, forward_header, timeout)


def _send_options(
    make: Callable[..., Any],
    fields: tuple[str, ...],
    method: str | None,
    attachment: Any,
    no_attachment: bool,
    basic_auth: str | None,
    headers: tuple[str, ...],
    sender: str | None,
) -> dict[str, Any]:
    kwargs = _fields(fields)
    if method is not None:
        if not _accepts(make, "method"):
            raise click.UsageError("this provider sends every event with one method")
        kwargs["method"] = method.upper()
    if attachment is not None or no_attachment:
        if not _accepts(make, "attachment"):
            raise click.UsageError("only Documo fax events carry an attachment")
        kwargs["attachment"] = False if no_attachment else attachment.read()
    credentials = _pair(basic_auth, "--basic-auth")
    if credentials is not None:
        kwargs["basic_auth"] = credentials
    if headers:
        pairs = [h.partition(":") for h in headers]
        if any(not sep or not name.strip() for name, sep, _ in pairs):
            raise click.BadParameter("expected NAME:VALUE", param_hint="--header")
        kwargs["headers"] = [(name.strip(), value.strip()) for name, _, value in pairs]
    if sender is not None:
        kwargs["sender"] = sender
    return kwargs


def _build(
    make: Callable[..., Any],
    kwargs: dict[str, Any],
    url: str,
    secret: str | None,
    endpoint: str | None,
    context: tuple[str, ...],
) -> Any:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"not an http(s) URL: {url!r}", param_hint="--url")
    try:
        delivery = make(**kwargs, url=url)
        if secret is not None:
            from .security.signed_urls import URLSigner

            template = endpoint or _template(parts.path or "/", delivery.url_event)
            signer = URLSigner([secret], expires_in=None)  # signs for sending, not serving
            delivery = make(
                **kwargs, path=template, signer=signer, signed_context=_fields(context) or None
            )
    except (TypeError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    return delivery


def _base(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _provider_name(name: str) -> str:
    from .testing.factories import UnknownName, provider_module

    try:
        provider: str = provider_module(name).PROVIDER
        return provider
    except UnknownName as exc:
        raise click.BadParameter(str(exc), param_hint="--retry-schedule") from None


def _print_request(delivery: Any, url: str) -> None:
    click.echo(f"{delivery.method} {delivery.url(_base(url))}")
    for name, value in delivery.headers:
        click.echo(f"{name}: {'***' if name.lower() == 'authorization' else value}")
    click.echo()
    body: bytes = delivery.body
    text = body[:2000].decode("utf-8", "replace")
    click.echo(text + (f"\n... ({len(body)} bytes in all)" if len(body) > 2000 else ""))


def _deliver(
    delivery: Any, url: str, schedule_name: str, forward_header: str | None, timeout: float
) -> None:
    from .testing.retries import schedule_for, send_with_retries
    from .testing.send import WebhookClient

    client = WebhookClient(_base(url), forward_sender=forward_header, timeout=timeout)
    chosen = None if schedule_name == "none" else schedule_name
    if chosen == "provider":
        chosen = delivery.provider
    if chosen is None:  # one attempt, judged by the provider's own idea of success
        schedule = dataclasses.replace(schedule_for(delivery.provider), delays=())
    else:
        schedule = schedule_for(_provider_name(chosen))
    click.echo(
        f"{delivery.method} {delivery.url(_base(url))}  ({delivery.event}, "
        f"{len(delivery.body)} bytes, from {delivery.sender})"
    )
    if delivery.sender:
        click.echo(_simulated(delivery.sender, forward_header))
    run = send_with_retries(delivery, client, schedule=schedule)
    for attempt in run.attempts:
        when = f"attempt {attempt.number} at +{attempt.at:g}s: " if chosen is not None else ""
        if attempt.result is None:
            click.echo(f"{when}no answer: {attempt.error}")
        else:
            body = attempt.result.body.decode("utf-8", "replace")[:500]
            click.echo(f"{when}-> {attempt.result.status} {body}")
    if chosen is not None:
        click.echo(f"{run.stopped}: {run.reason}")
    last = run.attempts[-1]
    hint = _loopback_hint(url, last.result, delivery.sender if forward_header else None)
    if hint is not None:
        click.echo(hint)
    if run.delivered:
        return
    raise SystemExit(EXIT_NO_ANSWER if last.result is None else EXIT_NOT_DELIVERED)


def _simulated(sender: str, forward_header: str | None) -> str:
    # Over HTTP the receiver sees the socket's address, this machine's: the provider's address
    # reaches it only in a header, and only a receiver trusting us as its proxy believes that.
    if forward_header is None:
        return (
            f"sender address {sender} is simulated: the receiver sees this machine's address "
            f"(--forward-header X-Forwarded-For sends {sender}, for a receiver that trusts "
            "this machine as its proxy)"
        )
    return (
        f"sender address {sender} is simulated: sent in {forward_header}, which the receiver "
        "believes only from trusted proxies (Receiver(proxies=TrustedProxies([...])), with "
        "the server's own proxy handling off: uvicorn --no-proxy-headers)"
    )


def _loopback_hint(url: str, result: Any, forwarded: str | None = None) -> str | None:
    """A hint when a receiver on this machine refused the loopback address (403), or the
    sender address sent in a forwarding header (``forwarded``)."""
    if result is None or result.status != 403:
        return None
    try:
        answer = json.loads(result.body)
        error, detail = answer.get("error"), str(answer.get("detail", ""))
    except (ValueError, AttributeError):
        return None
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if error != "address_not_allowed" or not loopback:
        return None
    address = "::1" if ":" in host else "127.0.0.1"
    if forwarded and "forwarding header" in detail:
        return (
            f"hint: the server took the sender address {forwarded} from the forwarding header "
            f"(uvicorn does for {address} by default) while the receiver trusts no proxies, so "
            f'it was refused: give the receiver proxies=TrustedProxies(["{address}"]) and run '
            "uvicorn with --no-proxy-headers"
        )
    if forwarded:
        return (
            f"hint: the receiver saw this request from {forwarded} (the forwarded sender, if it "
            f"trusts this machine as its proxy) or from {address} (if not); neither is one of the "
            "provider's allowed addresses"
        )
    return (
        f"hint: the receiver saw this request from {address} (this machine), not from the "
        f"provider's addresses: for local tests add allow_ips=[\"{address}\"] to the endpoint's "
        "provider (the examples: HOOKRECEIVER_ALLOW_IPS=127.0.0.1)"
    )


# forward ---------------------------------------------------------------------------------------


@main.command(short_help="Send a deployed receiver's deliveries to your local app.")
@click.option(
    "--from",
    "source",
    required=True,
    envvar="HOOKRECEIVER_FORWARD_FROM",
    metavar="INBOX_URL|FEED_URL",
    help="The deployed receiver's inbox (sqlite:///..., postgresql://...) or its inbox feed "
    "(https://host/path where hooks.inbox_feed_app is mounted).",
)
@click.option(
    "--to", required=True, metavar="URL", help="Your local app's base URL (http://127.0.0.1:8000)."
)
@click.option(
    "--token",
    envvar="HOOKRECEIVER_FEED_TOKEN",
    metavar="TOKEN",
    help="The feed's bearer token (or HOOKRECEIVER_FEED_TOKEN).",
)
@click.option(
    "--id", "record_ids", multiple=True, metavar="ID", help="Send these stored deliveries, exit."
)
@click.option("--from-start", is_flag=True, help="Start at the oldest stored delivery.")
@click.option("--once", is_flag=True, help="Send what is there, then exit (with --from-start).")
@click.option("--count", type=int, default=None, help="Exit after forwarding this many.")
@click.option(
    "--basic-auth",
    envvar="HOOKRECEIVER_FORWARD_BASIC_AUTH",
    metavar="USER:PASSWORD",
    help="Basic auth for the local app, sent only to deliveries that came with basic auth "
    "(or HOOKRECEIVER_FORWARD_BASIC_AUTH).",
)
@click.option(
    "--url-keys",
    envvar="HOOKRECEIVER_FORWARD_URL_KEYS",
    metavar="KEYS",
    help="The local app's signed-URL keys, newest first, comma-separated: tokens are signed "
    "again with them (or HOOKRECEIVER_FORWARD_URL_KEYS).",
)
@click.option("--url-param", default="token", show_default=True, help="The token's parameter.")
@click.option(
    "--webhook-secret",
    envvar="HOOKRECEIVER_FORWARD_WEBHOOK_SECRET",
    metavar="SECRET",
    help="The local app's Standard Webhooks secret: signatures are made again with it.",
)
@click.option(
    "--forward-header", metavar="NAME", help="Send the original sender's address in this header."
)
@click.option("--poll-interval", type=float, default=1.0, show_default=True, help="Seconds.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds.")
def forward(
    source: str,
    to: str,
    token: str | None,
    record_ids: tuple[str, ...],
    from_start: bool,
    once: bool,
    count: int | None,
    basic_auth: str | None,
    url_keys: str | None,
    url_param: str,
    webhook_secret: str | None,
    forward_header: str | None,
    poll_interval: float,
    timeout: float,
) -> None:
    """Send every new delivery of a deployed receiver to your local app, byte for byte.

    \b
    Examples:
      hookreceiver forward --from postgresql://ro@db/app --to http://127.0.0.1:8000
      HOOKRECEIVER_FEED_TOKEN=... hookreceiver forward \\
          --from https://hooks.example.com/_hookreceiver/feed --to http://127.0.0.1:8000 \\
          --url-keys "$UPDOX_URL_KEYS" --basic-auth documo:local-pass
      hookreceiver forward --from sqlite:///hooks.db --to http://127.0.0.1:8000 --id 1a2b3c

    The inbox keeps no credential: --basic-auth, --url-keys and --webhook-secret make the
    local app's own again (--basic-auth only for deliveries that came with basic auth,
    --url-keys only for those that came signed). Prints one row per delivery and the local
    answer; secrets never. Exits 0, or 1 when a delivery given by --id was not answered 2xx,
    3 when the source cannot be read.
    """
    import threading

    from .errors import StoreUnavailable
    from .testing.forward import FeedError, Forwarder, LocalGuards

    guards = LocalGuards(
        _pair(basic_auth, "--basic-auth"),
        _url_signer(url_keys, url_param),
        _webhook_signer(webhook_secret),
        forward_header,
    )
    feed = _source(source, token, timeout)
    try:
        forwarder = Forwarder(feed, to, guards, timeout=timeout)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--to") from None
    try:
        # The position is taken before the header shows: what comes after it is forwarded.
        cursor = "" if from_start or record_ids else feed.last()
        _table_header(feed, to)
        if record_ids:
            results = []
            for record_id in record_ids:
                try:
                    results.append(forwarder.forward_id(record_id))
                except LookupError as exc:
                    raise click.ClickException(str(exc)) from None
                _table_row(results[-1])
            if not all(result.ok for result in results):
                raise SystemExit(EXIT_NOT_DELIVERED)
            return
        stop = threading.Event()
        sent = 0
        follow = forwarder.follow(
            cursor=cursor,
            poll_interval=poll_interval,
            stop=stop,
            once=once,
            on_unavailable=_unavailable,
        )
        try:
            for result in follow:
                _table_row(result)
                sent += 1
                if count is not None and sent >= count:
                    break
        except KeyboardInterrupt:
            click.echo(f"forwarded {sent}", err=True)
    except (FeedError, StoreUnavailable) as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(EXIT_NO_ANSWER) from None


def _unavailable(error: Exception) -> None:
    click.echo(f"source unavailable ({error}); trying again", err=True)


def _source(source: str, token: str | None, timeout: float) -> Any:
    from .testing.forward import FeedSource, InboxSource

    scheme = urlsplit(source).scheme
    if scheme in ("http", "https"):
        if not token:
            raise click.UsageError("a feed needs its token: --token or HOOKRECEIVER_FEED_TOKEN")
        try:
            return FeedSource(source, token, timeout=timeout)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--from") from None
    from .inbox.cli import open_inbox

    return InboxSource(open_inbox(source))


def _url_signer(keys: str | None, param: str) -> Any:
    if not keys:
        return None
    from .errors import ConfigurationError
    from .security.signed_urls import URLSigner

    try:  # an hour: tokens signed to forward, not to hand out
        return URLSigner([k.strip() for k in keys.split(",")], param=param, expires_in=3600)
    except ConfigurationError as exc:
        raise click.BadParameter(str(exc), param_hint="--url-keys") from None


def _webhook_signer(secret: str | None) -> Any:
    if not secret:
        return None
    from .errors import ConfigurationError
    from .security.hmac import StandardWebhooks

    try:
        return StandardWebhooks([secret])
    except ConfigurationError as exc:
        raise click.BadParameter(str(exc), param_hint="--webhook-secret") from None


_COLUMNS = "{:<8} {:<18} {:<30} {:<42} {:>5} {:<18} {:>7}"


def _table_header(feed: Any, to: str) -> None:
    click.echo(f"forwarding {feed!r} -> {to}  (Ctrl-C to stop)", err=True)
    click.echo(_COLUMNS.format("TIME", "ID", "EVENT", "REQUEST", "LOCAL", "OUTCOME", "MS"))


def _table_row(result: Any) -> None:
    import time as _time

    record = result.record
    request = f"{record.method} {record.path}" + (f"?{record.query}" if record.query else "")
    if len(request) > 42:
        request = request[:41] + "…"
    status = "-" if result.status is None else str(result.status)
    outcome = result.outcome or (result.error or "")[:18]
    click.echo(
        _COLUMNS.format(
            _time.strftime("%H:%M:%S"),
            record.id,
            (record.event_name or record.provider + ".?")[:30],
            request,
            status,
            outcome[:18],
            f"{result.elapsed * 1000:.0f}",
        )
    )


if __name__ == "__main__":  # pragma: no cover
    main()
