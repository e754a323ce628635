"""A signed URL binds its event: a token signed for one ``{event}`` carries no other.

Kazoo names its event in the body (``hook_event``) and only ever calls a URL with the event it
was registered for, so a body naming another event on a URL signed for one is a forgery (or a
hook registered with the wrong URL): 403 ``event_mismatch``, no handler, a loud log line.
Genuine deliveries of every event, on a URL signed for that event (also under the aliases the
URL segment may use), pass, whichever way they are read (Kazoo's ``hook_event``, the payload's
shape, or the URL itself for Updox).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from security_support import URL_KEYS

from hookreceiver import Receiver, URLSigner, providers
from hookreceiver.inbox import SQLiteInbox
from hookreceiver.testing import deliver, updox, wirecloud

KAZOO_PATH = "/hooks/kazoo/{event}/{token}"
UPDOX_PATH = "/hooks/updox/{event}/{token}"
CHANNEL = ("channel_create", "channel_answer", "channel_bridge", "channel_destroy")


def build(inbox: SQLiteInbox | None = None) -> tuple[Receiver, list[str]]:
    seen: list[str] = []
    hooks = Receiver(inbox=inbox, worker=False, public_base_url="https://hooks.example.com")
    signer = URLSigner(URL_KEYS, expires_in=None)
    hooks.endpoint(KAZOO_PATH, providers.Wirecloud(signed_urls=signer), ack="sync")
    hooks.endpoint(UPDOX_PATH, providers.Updox(signed_urls=signer))

    @hooks.on("*")
    def record(event: Any, ctx: Any) -> None:
        seen.append(ctx.event_name)

    return hooks, seen


@pytest.mark.parametrize("event", sorted(wirecloud.EVENTS))
@pytest.mark.parametrize("how", ["form", "json", "get"])
def test_every_kazoo_event_passes_on_a_url_signed_for_it(event: str, how: str) -> None:
    hooks, seen = build()
    options: dict[str, Any] = {"format": "json"} if how == "json" else {}
    if how == "get":
        options["method"] = "GET"
    url = hooks.callback_url(KAZOO_PATH, event=event)
    result = deliver(wirecloud.EVENTS[event](url=url, **options), hooks)
    assert result.status == 200, result.body
    assert seen == [f"wirecloud.{event}"]


@pytest.mark.parametrize("event", sorted(updox.EVENTS))
def test_every_updox_event_passes_on_a_url_signed_for_it(event: str) -> None:
    hooks, seen = build()
    result = deliver(updox.EVENTS[event](url=hooks.callback_url(UPDOX_PATH, event=event)), hooks)
    assert result.status == 200, result.body
    assert seen == [f"updox.{event}"]


@pytest.mark.parametrize(
    "path, segment, factory, name",
    [
        (KAZOO_PATH, "channel-create", wirecloud.channel_create, "wirecloud.channel_create"),
        (KAZOO_PATH, "notification", wirecloud.notifications, "wirecloud.notifications"),
        (KAZOO_PATH, "CHANNEL_DESTROY", wirecloud.channel_destroy, "wirecloud.channel_destroy"),
        (UPDOX_PATH, "outbound-fax", updox.outbound_fax, "updox.outbound_fax"),
        (UPDOX_PATH, "Inbound_Fax", updox.inbound_fax, "updox.inbound_fax"),
    ],
)
def test_a_url_signed_with_an_alias_of_the_event_passes(
    path: str, segment: str, factory: Any, name: str
) -> None:
    hooks, seen = build()
    result = deliver(factory(url=hooks.callback_url(path, event=segment)), hooks)
    assert result.status == 200, result.body
    assert seen == [name]


MISMATCHES = [(signed, sent) for signed in CHANNEL for sent in CHANNEL if signed != sent] + [
    ("object", "channel_destroy"),
    ("notifications", "channel_create"),
    ("parking", "channel_answer"),
]


@pytest.mark.parametrize("signed, sent", MISMATCHES)
def test_a_kazoo_body_naming_another_event_is_refused_and_runs_nothing(
    signed: str, sent: str, caplog: pytest.LogCaptureFixture
) -> None:
    hooks, seen = build()
    url = hooks.callback_url(KAZOO_PATH, event=signed)
    with caplog.at_level(logging.WARNING, logger="hookreceiver"):
        result = deliver(wirecloud.EVENTS[sent](url=url), hooks)
    assert result.status == 403
    assert result.json()["error"] == "event_mismatch"
    assert seen == []
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(loud) == 1
    message = loud[0].getMessage()
    assert f"wirecloud.{signed}" in message and f"wirecloud.{sent}" in message
    token = url.rsplit("/", 1)[1]
    assert token not in caplog.text and URL_KEYS[0] not in caplog.text


def test_the_mismatch_is_refused_on_get_and_json_too() -> None:
    hooks, seen = build()
    url = hooks.callback_url(KAZOO_PATH, event="channel_create")
    for options in ({"method": "GET"}, {"format": "json"}, {"method": "PUT"}):
        result = deliver(wirecloud.channel_destroy(url=url, **options), hooks)
        assert (result.status, result.json()["error"]) == (403, "event_mismatch"), options
    assert seen == []


def test_a_refused_mismatch_is_not_kept_in_the_inbox(tmp_path: Path) -> None:
    inbox = SQLiteInbox(str(tmp_path / "inbox.db"))
    hooks, seen = build(inbox)
    url = hooks.callback_url(KAZOO_PATH, event="channel_create")
    result = deliver(wirecloud.channel_destroy(url=url), hooks)
    assert result.status == 403
    assert inbox.list() == [] and seen == []
    inbox.close()


def test_a_url_without_an_event_binds_none() -> None:
    # Signed for the endpoint only: the body names the event, as before.
    hooks = Receiver(public_base_url="https://hooks.example.com")
    seen: list[str] = []
    hooks.endpoint(
        "/hooks/kazoo/{token}",
        providers.Wirecloud(signed_urls=URLSigner(URL_KEYS, expires_in=None)),
    )
    hooks.on("*")(lambda event, ctx: seen.append(ctx.event_name))
    url = hooks.callback_url("/hooks/kazoo/{token}")
    for event in CHANNEL:
        assert deliver(wirecloud.EVENTS[event](url=url), hooks).status == 200
    assert seen == [f"wirecloud.{event}" for event in CHANNEL]
