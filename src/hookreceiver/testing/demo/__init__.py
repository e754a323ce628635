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

What to send is in ``plan.py``, the server in ``server.py``, the table in ``table.py``; the
run that ties them together is here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

from ..send import TransportError, WebhookClient, find_receiver
from .metrics import scrape_metrics, where_to_look
from .plan import (
    CONSOLE_USER,
    ORDER,
    DemoError,
    Step,
    demo_environment,
    event_steps,
    load_app,
    plan,
)
from .server import free_port, serve, wait_for_interrupt
from .table import collect, render

__all__ = [
    "CONSOLE_USER",
    "ORDER",
    "DemoError",
    "Step",
    "demo_environment",
    "event_steps",
    "load_app",
    "plan",
    "render",
    "run_demo",
    "scrape_metrics",
    "serve",
    "where_to_look",
]


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
    port = free_port()
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
                collect(steps, lines, wait=15.0, logged=logged)
                scraped = scrape_metrics(base)
                if keep_serving:
                    echo(render(steps))
                    echo(f"\nserving {base} (console {base}/console/) until Ctrl-C")
                    wait_for_interrupt(lines)
            collect([], lines, wait=0, logged=logged)  # what it printed last
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
    echo("\n" + where_to_look(base, scraped))
    leaked = _leaked_tokens(steps, logged)
    if leaked:
        echo(f"\n{leaked} signed URL token(s) reached the server log: redact_access_logs()?")
    if verbose or good != len(steps) or leaked:
        echo("\nserver log:\n" + ("\n".join(logged) or "(empty)"))
    return good == len(steps) and not leaked


def _leaked_tokens(steps: list[Step], logged: list[str]) -> int:
    """How many of the steps' signed-URL tokens (a path segment or ``token=``) the server's log
    shows."""
    from urllib.parse import parse_qs

    from ...security.redact import _SEGMENT_TOKEN

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
