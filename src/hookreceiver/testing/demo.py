"""``hookreceiver demo``: run an example app on loopback and fire every provider's events at it.

The app runs under uvicorn in a subprocess, over real HTTP, configured through the environment
variables the examples read (demo credentials, fresh signing keys, a memory store, and loopback as
a trusted proxy so the demo can send each provider's real sender address in
``X-Forwarded-For``, and show a spoofed one refused; uvicorn's own proxy handling is off, as the
README says to run it). The same app is imported in this process
only to read its endpoints: which path serves each provider, and the URL signer of the
endpoints that take signed URLs (each factory signs its URL for its own event with it).
Handler output is the JSON lines the app prints on stdout; the rest of what it prints (its access
log, with signed URLs' tokens redacted) is the server log, which must hold no token.
"""

from __future__ import annotations

import importlib
import json
import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..core.protocols import ReceiverState
from . import factories
from .factories import documo, faxplus, updox, wirecloud, zipwhip
from .factories._base import SimulatedDelivery
from .send import DeliveryResult, TransportError, WebhookClient, find_receiver

__all__ = [
    "ORDER",
    "DemoError",
    "Step",
    "demo_environment",
    "event_steps",
    "load_app",
    "plan",
    "run_demo",
]

DEMO_USER = "demo"
#: The largest body an endpoint takes by default is 1 MiB; this one is over it.
OVERSIZED = 1024 * 1024 + 64 * 1024


class DemoError(Exception):
    """The demo could not run (the app would not import or start); the message says why."""


@dataclass
class Step:
    """One delivery of the demo and what should become of it."""

    case: str
    delivery: SimulatedDelivery
    expect: int
    runs_handler: bool = True
    result: DeliveryResult | None = None
    error: str | None = None
    saw: list[dict[str, Any]] = field(default_factory=list)

    @property
    def got(self) -> int | None:
        """The status answered, or ``None`` when no answer came."""
        return None if self.result is None else self.result.status

    @property
    def ok(self) -> bool:
        """Whether the status is the expected one, and handlers ran only when they should."""
        return self.got == self.expect and (bool(self.saw) or not self.runs_handler)


#: The demo console's user (its password is fresh each run, and printed).
CONSOLE_USER = "operator"


def demo_environment(port: int, workdir: str) -> dict[str, str]:
    """The environment variables that configure the example apps for the demo."""
    return {
        "DOCUMO_BASIC_AUTH": f"{DEMO_USER}:{secrets.token_urlsafe(12)}",
        "UPDOX_URL_KEYS": secrets.token_urlsafe(32),
        "WIRECLOUD_URL_KEYS": secrets.token_urlsafe(32),
        "HOOKRECEIVER_STORE": "memory",
        "HOOKRECEIVER_INBOX": "sqlite:///" + os.path.join(workdir, "inbox.db"),
        "HOOKRECEIVER_TRUSTED_PROXIES": "127.0.0.1",
        "HOOKRECEIVER_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "HOOKRECEIVER_CONSOLE_AUTH": f"{CONSOLE_USER}:{secrets.token_urlsafe(12)}",
    }


def load_app(spec: str) -> Any:
    """Import ``module:attribute`` from the current directory, as uvicorn does.

    Raises:
        DemoError: not ``module:attribute``, or it does not import.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise DemoError(f"--app must be module:attribute, not {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        value: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise DemoError(f"importing {spec!r} failed: {exc}") from None  # a dependency
        raise DemoError(
            f"cannot load {spec!r} ({exc}); run the demo from the repository root, where "
            "examples/ is, or pass --app module:attribute"
        ) from None
    except AttributeError as exc:
        raise DemoError(f"cannot load {spec!r}: {exc}") from None
    except Exception as exc:  # the app's own start-up failed: say how
        raise DemoError(f"importing {spec!r} failed: {type(exc).__name__}: {exc}") from None
    return value


def _place(
    hooks: ReceiverState, provider: str, *, forged: bool = False, named: bool = False
) -> dict[str, Any]:
    """Where a provider's delivery goes: ``path=`` the endpoint, and for an endpoint behind
    signed URLs the app's own ``signer=``, with which the factory signs the URL for its event
    (``forged``: a signer with a key the app does not have; ``named``: an endpoint whose path
    names the event, for events whose body does not).

    Raises:
        DemoError: the app serves no such endpoint for ``provider``.
    """
    from ..security.signed_urls import SignedURLGuard, URLSigner

    for endpoint in hooks.router.endpoints:
        if endpoint.provider.name != provider or (named and "{event}" not in endpoint.path):
            continue
        place: dict[str, Any] = {"path": endpoint.path}
        for guard in endpoint.provider.guards:
            if isinstance(guard, SignedURLGuard):
                stranger = URLSigner(secrets.token_urlsafe(32), expires_in=None) if forged else None
                place["signer"] = stranger or guard.signer
        return place
    if named:
        raise DemoError(f"the app has no {provider} endpoint with {{event}} in its path")
    raise DemoError(f"the app has no {provider} endpoint; the demo needs all five providers")


#: Where the built-in providers appear in the demo (by what verifies them: the sender's address,
#: then basic auth, then signed URLs); any other provider the app serves follows, by name.
ORDER = ("faxplus", "zipwhip", "documo", "updox", "wirecloud")


def _served(hooks: ReceiverState) -> list[str]:
    """The providers ``hooks`` serves that have factories (found in the registry), in
    :data:`ORDER`."""
    names = {endpoint.provider.name for endpoint in hooks.router.endpoints}
    return sorted(
        (name for name in names if name in factories.PROVIDERS),
        key=lambda name: (ORDER.index(name) if name in ORDER else len(ORDER), name),
    )


def _case(named: bool, place: dict[str, Any]) -> str:
    if named:
        return "event named by the URL"
    return "signed URL" if "signer" in place else ""


def event_steps(
    hooks: ReceiverState, credentials: Mapping[str, tuple[str, str]] | None = None
) -> list[Step]:
    """A delivery of every event of every provider ``hooks`` serves, found in the registry of
    providers (each factory module's ``EVENTS``, ``DEMO_VARIANTS`` and ``NAMED_BY_URL``), all
    expected to be handled. ``credentials``: the basic-auth pair to send, by provider."""
    steps: list[Step] = []
    for provider in _served(hooks):
        module = factories.PROVIDERS[provider]
        variants: Mapping[str, tuple[str, dict[str, Any]]] = getattr(module, "DEMO_VARIANTS", {})
        named_by_url: frozenset[str] = getattr(module, "NAMED_BY_URL", frozenset())
        for event, make in module.EVENTS.items():
            named = event in named_by_url
            place = _place(hooks, provider, named=named)
            case, kwargs = variants.get(event, (_case(named, place), {}))
            if credentials and provider in credentials:
                kwargs = {"basic_auth": credentials[provider], **kwargs}
            steps.append(Step(case, make(**kwargs, **place), 200))
    return steps


def plan(hooks: ReceiverState, documo_auth: tuple[str, str]) -> list[Step]:
    """The demo's deliveries: every event of every provider, then the ones that must be
    refused."""
    steps = event_steps(hooks, {"documo": documo_auth})
    at_documo = _place(hooks, "documo")  # the refusals need their providers: DemoError if not
    fax_in = next(step.delivery for step in steps if step.delivery.event == "documo.fax.inbound")
    forged = updox.inbound_fax(**_place(hooks, "updox", forged=True))
    kazoo = _place(hooks, "wirecloud", named=True)
    # A token signed for channel_create carrying a channel_destroy: a signed URL binds its event.
    other_event = kazoo["signer"].url(
        "http://demo.invalid", kazoo["path"], {"event": "channel_create"}
    )
    wrong_password = (documo_auth[0], "guess")
    return [
        *steps,
        Step("same again: duplicate", fax_in, 200, runs_handler=False),
        Step(
            "spoofed sender",
            zipwhip.receive(sender="203.0.113.66", **_place(hooks, "zipwhip")),
            403,
            runs_handler=False,
        ),
        Step(
            "wrong password",
            documo.fax_outbound(basic_auth=wrong_password, **at_documo),
            401,
            runs_handler=False,
        ),
        Step("URL signed with a wrong key", forged, 403, runs_handler=False),
        Step(
            "URL signed for channel_create",
            wirecloud.channel_destroy(url=other_event),
            403,
            runs_handler=False,
        ),
        Step(
            "1.06 MiB body",
            faxplus.fax_sent(file_name="x" * OVERSIZED, **_place(hooks, "faxplus")),
            413,
            runs_handler=False,
        ),
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pump(stream: Any, into: queue.Queue[str]) -> None:
    for line in iter(stream.readline, ""):
        into.put(line.rstrip("\n"))
    stream.close()


@contextmanager
def serve(
    spec: str, port: int, env: dict[str, str]
) -> Iterator[tuple[queue.Queue[str], list[str]]]:
    """Run ``spec`` under uvicorn on ``127.0.0.1:port``; yield its stdout lines and its log.

    Raises:
        DemoError: the server exited or did not listen within 15 seconds.
    """
    command = [sys.executable, "-m", "uvicorn", "--no-proxy-headers", spec]
    command += ["--host", "127.0.0.1", "--port", str(port), "--app-dir", os.getcwd()]
    command += ["--log-level", "info"]  # the access log too: it must show no token
    process = subprocess.Popen(
        command,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    log: queue.Queue[str] = queue.Queue()
    threads = [
        threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True),
        threading.Thread(target=_pump, args=(process.stderr, log), daemon=True),
    ]
    for thread in threads:
        thread.start()
    logged: list[str] = []
    try:
        _wait_listening(process, port, log, logged)
        yield lines, logged
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        for thread in threads:
            thread.join(5)
        _drain(log, logged)


def _drain(source: queue.Queue[str], into: list[str]) -> None:
    while True:
        try:
            into.append(source.get_nowait())
        except queue.Empty:
            return


def _wait_listening(
    process: subprocess.Popen[str], port: int, log: queue.Queue[str], logged: list[str]
) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            time.sleep(0.2)
            _drain(log, logged)
            tail = "\n".join(logged[-15:])
            raise DemoError(f"the app exited with status {process.returncode}:\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise DemoError("the app did not start listening within 15 seconds")


def _collect(
    steps: list[Step], lines: queue.Queue[str], wait: float, logged: list[str] | None = None
) -> None:
    """Give each step the handler lines of its event, in order; wait for missing ones. Other
    lines (the access log) go to ``logged``."""
    pending = {id(s): s for s in steps if s.runs_handler and s.got is not None and s.got < 300}
    extra: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait
    while True:
        timeout = deadline - time.monotonic() if pending else 0.05
        if timeout <= 0 and pending:
            break
        try:
            line = lines.get(timeout=max(timeout, 0.01))
        except queue.Empty:
            break
        seen = _parse(line)
        if seen is None and logged is not None:
            logged.append(line)
        if seen is None or "handler" not in seen:
            continue
        owner = next(
            (s for s in steps if id(s) in pending and s.delivery.event == seen["event"]), None
        )
        if owner is None:
            extra.append(seen)
            continue
        owner.saw.append(seen)
        del pending[id(owner)]
    for seen in extra:  # a handler ran for a delivery that should not run one (a duplicate?)
        for step in steps:
            if not step.runs_handler and step.delivery.event == seen.get("event"):
                step.saw.append(seen)
                step.error = "a handler ran again"
                break


def _parse(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _describe(seen: dict[str, Any]) -> str:
    # Ids are long and random: the table shows what varies between events instead.
    details = {
        k: v
        for k, v in seen.items()
        if k not in ("handler", "event") and not k.endswith("_id") and v is not None
    }
    words = [
        str(v) if k in _BARE else f"{k} {v} B" if k == "attachment" else f"{k}={v}"
        for k, v in details.items()
    ]
    return f"{seen['handler']}: " + ", ".join(words)


_BARE = frozenset({"direction", "status", "phase"})


def render(steps: list[Step]) -> str:
    """The table of deliveries: expected and got status, outcome, what the handler saw."""
    rows = [("#", "event", "case", "expect", "got", "outcome", "handler saw")]
    for number, step in enumerate(steps, start=1):
        if step.result is None:
            got, outcome = "-", step.error or "no answer"
        else:
            got, outcome = str(step.got), step.result.outcome or ""
        saw = "; ".join(_describe(s) for s in step.saw) or ("-" if not step.runs_handler else "")
        if step.error and step.result is not None:
            saw = f"{step.error}: {saw}"
        mark = " " if step.ok else "!"
        event = step.delivery.event
        rows.append((f"{mark}{number}", event, step.case, str(step.expect), got, outcome, saw))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    out = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:6])) + f"  {row[6]}"
        for row in rows
    ]
    out.insert(1, "-" * max(len(line) for line in out))
    return "\n".join(line.rstrip() for line in out)


def run_demo(
    spec: str = "examples.starlette_app:app",
    *,
    echo: Callable[[str], None] = print,
    verbose: bool = False,
    keep_serving: bool = False,
) -> bool:
    """Run the demo, print its table, and return whether every delivery went as expected.

    ``keep_serving``: leave the app (and its console) running until Ctrl-C afterwards.

    Raises:
        DemoError: the app could not be imported or started.
    """
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="hookreceiver-demo-") as workdir:
        env = demo_environment(port, workdir)
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            # Imported here too, with the same settings, only to read its endpoints; first,
            # so that an app that does not import is reported before a server is started.
            hooks = find_receiver(load_app(spec))
            if hooks is None:
                raise DemoError(f"{spec!r} holds no hookreceiver Receiver")
            user, _, password = env["DOCUMO_BASIC_AUTH"].partition(":")
            steps = plan(hooks, (user, password))
            with serve(spec, port, env) as (lines, logged):
                echo(f"hookreceiver demo: {spec} on {base}, {len(steps)} deliveries over HTTP")
                _, _, password = env["HOOKRECEIVER_CONSOLE_AUTH"].partition(":")
                echo(f"console: {base}/console/ (user {CONSOLE_USER}, password {password})\n")
                _fire(steps, WebhookClient(base, forward_sender="X-Forwarded-For"))
                _collect(steps, lines, wait=15.0, logged=logged)
                if keep_serving:
                    echo(render(steps))
                    echo(f"\nserving {base} (console {base}/console/) until Ctrl-C")
                    _wait_for_interrupt(lines)
            _collect([], lines, wait=0, logged=logged)  # what it printed last
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    if not keep_serving:
        echo(render(steps))
    good = sum(step.ok for step in steps)
    echo(f"\n{good} of {len(steps)} deliveries went as expected.")
    leaked = _leaked_tokens(steps, logged)
    if leaked:
        echo(f"\n{leaked} signed URL token(s) reached the server log: redact_access_logs()?")
    if verbose or good != len(steps) or leaked:
        echo("\nserver log:\n" + ("\n".join(logged) or "(empty)"))
    return good == len(steps) and not leaked


def _wait_for_interrupt(lines: queue.Queue[str]) -> None:
    """Until Ctrl-C (or SIGTERM), print what the app prints (handlers run by console
    replays); the server is stopped on the way out either way."""

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        while True:
            try:
                print(lines.get(timeout=1.0), flush=True)
            except queue.Empty:
                continue
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _leaked_tokens(steps: list[Step], logged: list[str]) -> int:
    """How many of the steps' signed-URL tokens (a path segment or ``token=``) the server's log
    shows."""
    from urllib.parse import parse_qs

    from ..security.redact import _SEGMENT_TOKEN

    tokens: set[str] = set()
    for step in steps:
        tokens.update(_SEGMENT_TOKEN.findall(step.delivery.path))
        tokens.update(parse_qs(step.delivery.query.partition("?")[0]).get("token", []))
    log = "\n".join(logged)
    return sum(token in log for token in tokens)


def _fire(steps: list[Step], client: WebhookClient) -> None:
    for step in steps:
        try:
            step.result = client.send(step.delivery)
        except TransportError as exc:
            step.error = str(exc)
