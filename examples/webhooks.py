"""The receiver both example apps mount: all five providers, secured the way each allows.

Settings come from environment variables (the apps' docstrings list them):

- Fax.Plus and Zipwhip: their published sender addresses (on by default).
- Documo: its sender address and HTTP basic auth (``DOCUMO_BASIC_AUTH``); fax webhooks at
  ``/hooks/documo``, account webhooks (whose body names no event) at ``/hooks/documo/<event>``.
- Updox and Wirecloud (Kazoo): neither sends from fixed addresses nor authenticates, so their
  endpoints take signed callback URLs (``UPDOX_URL_KEYS``, ``WIRECLOUD_URL_KEYS``). Print the
  URLs to register with them with ``python -m examples.webhooks`` (they are credentials: they
  are never logged). Kazoo never retries a non-200, so its deliveries go
  to a durable inbox first and are handled from there, with retries.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
from typing import Any

from hookreceiver import DeliveryContext, GenericEvent, Receiver, providers
from hookreceiver.inbox import open_inbox
from hookreceiver.providers import CallEvent, FaxEvent, MessageEvent
from hookreceiver.security import BasicAuth, TrustedProxies, URLSigner, redact_access_logs
from hookreceiver.stores import Store, open_store

__all__ = ["build_receiver", "observe", "registration_urls"]

UPDOX_PATH = "/hooks/updox/{event}/{token}"
WIRECLOUD_PATH = "/hooks/wirecloud/{event}/{token}"  # Kazoo appends ?fields to GET URLs

log = logging.getLogger("examples")


def _list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _store(spec: str) -> Store:
    # A store URL, read as `hookreceiver store cleanup --store` reads it: sqlite:///path (or a
    # bare path), postgresql://...?table=, redis://...?prefix=, memory. Redis and PostgreSQL
    # need the [redis] and [postgres] extras: imported only when chosen.
    return open_store(spec)


def _json_lines_to_stdout() -> None:
    # Signed URLs are credentials, and servers log every URL: the access logs of uvicorn,
    # gunicorn and werkzeug (on the stream the event lines go to) show their tokens redacted.
    redact_access_logs()
    # One JSON line per handled event: hookreceiver logs it on "hookreceiver.events".
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    events = logging.getLogger("hookreceiver.events")
    events.handlers[:] = [handler]
    events.setLevel(logging.INFO)
    events.propagate = False
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def build_receiver(*, worker: bool = True, ack: str | None = None) -> Receiver:
    """Build the receiver from the environment, with all five providers mounted.

    ``worker=False`` and ``ack="inbox"``: every delivery goes to the inbox and is handled by
    task-queue workers (``examples/queued.py``).
    """
    _json_lines_to_stdout()
    proxies = _list("HOOKRECEIVER_TRUSTED_PROXIES")
    hooks = Receiver(
        worker=worker,
        store=_store(os.environ.get("HOOKRECEIVER_STORE", "hookreceiver-dedup.db")),
        inbox=open_inbox(os.environ.get("HOOKRECEIVER_INBOX", "sqlite:///hookreceiver-inbox.db")),
        proxies=TrustedProxies(proxies) if proxies else None,
        public_base_url=os.environ.get("HOOKRECEIVER_PUBLIC_URL", "http://127.0.0.1:8000"),
        # Kazoo never retries: what the inbox cannot take waits here (fsynced) until it can.
        journal_dir=os.environ.get("HOOKRECEIVER_JOURNAL", "hookreceiver-journal"),
    )
    extra_ips = _list("HOOKRECEIVER_ALLOW_IPS")
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=extra_ips), ack=ack)
    hooks.endpoint("/hooks/zipwhip/{event}", providers.Zipwhip(allow_ips=extra_ips), ack=ack)
    documo_auth = BasicAuth.from_env("DOCUMO_BASIC_AUTH", realm="documo")
    documo = providers.Documo(allow_ips=extra_ips, guards=[documo_auth])
    hooks.endpoint("/hooks/documo", documo, ack=ack)
    # Documo's account events (user.create, number.add, ...) carry no event name: register
    # their webhooks at /hooks/documo/<event>, and the URL names the event.
    hooks.endpoint(
        "/hooks/documo/{event}",
        providers.Documo(allow_ips=extra_ips, guards=[documo_auth]),
        ack=ack,
    )
    # The URLs are registered once with Updox and Kazoo, so they do not expire (expires_in=None
    # says so knowingly): rotate the keys to retire them.
    hooks.endpoint(
        UPDOX_PATH,
        providers.Updox(signed_urls=URLSigner.from_env("UPDOX_URL_KEYS", expires_in=None)),
        ack=ack,
    )
    hooks.endpoint(
        WIRECLOUD_PATH,
        providers.Wirecloud(signed_urls=URLSigner.from_env("WIRECLOUD_URL_KEYS", expires_in=None)),
        ack=ack,
    )
    _handlers(hooks)
    return hooks


def observe(hooks: Receiver) -> bool:
    """Turn on what is installed: Prometheus metrics (``hookreceiver[prometheus]``; whether
    the app should serve ``/metrics``) and OpenTelemetry spans (``hookreceiver[otel]``: they go
    wherever your SDK set-up or ``opentelemetry-instrument`` sends them)."""
    if importlib.util.find_spec("opentelemetry") is not None:
        hooks.enable_tracing()
    if importlib.util.find_spec("prometheus_client") is None:
        return False
    hooks.enable_metrics()
    return True


def registration_urls(hooks: Receiver) -> dict[str, str]:
    """The signed URLs to register with Updox and Wirecloud, by ``"provider event"``."""
    updox = ("inbound_fax", "outbound_fax", "inbound_direct", "inbound_mdn")
    kazoo = ("channel_create", "channel_answer", "channel_bridge", "channel_destroy")
    return {
        **{f"updox {e}": hooks.callback_url(UPDOX_PATH, event=e) for e in updox},
        **{f"wirecloud {e}": hooks.callback_url(WIRECLOUD_PATH, event=e) for e in kazoo},
    }


def _handlers(hooks: Receiver) -> None:
    @hooks.on(FaxEvent)
    def fax(event: FaxEvent, ctx: DeliveryContext) -> None:
        attachment = event.attachment
        _say(
            ctx,
            kind="fax",
            direction=event.direction,
            fax_id=event.fax_id,
            status=event.status,
            pages=event.pages,
            attachment=None if attachment is None else attachment.size,
        )

    @hooks.on(MessageEvent)
    def message(event: MessageEvent, ctx: DeliveryContext) -> None:
        _say(ctx, kind="message", message_id=event.message_id, status=event.status)

    @hooks.on(CallEvent)
    async def call(event: CallEvent, ctx: DeliveryContext) -> None:
        _say(ctx, kind="call", call_id=event.call_id, phase=event.phase)

    @hooks.on("*")
    def other(event: Any, ctx: DeliveryContext) -> None:
        if isinstance(event, GenericEvent) or ctx.event.normalized is None:
            _say(ctx, kind="other", model=type(event).__name__)

    @hooks.on_error
    def failed(exc: BaseException, ctx: DeliveryContext) -> None:
        log.error("handler failed for %s (delivery %s): %r", ctx.event_name, ctx.delivery_id, exc)


def _say(ctx: DeliveryContext, **seen: Any) -> None:
    # What the handler saw, for people reading the demo; the JSON event line comes from the
    # receiver itself.
    seen = {"handler": seen.pop("kind"), "event": ctx.event_name, **seen}
    # One write per line: print() writes the text and its newline separately, and a sync
    # handler runs in a thread, so the server's access log could land between the two.
    sys.stdout.write(json.dumps(seen, default=str) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    for name, url in registration_urls(build_receiver()).items():
        print(f"{name:28} {url}")
