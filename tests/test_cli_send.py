"""``hookreceiver send`` says what it simulates, explains a loopback 403, refuses unknown fields."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from hookreceiver import DeliveryContext, Receiver, providers
from hookreceiver.cli import main
from hookreceiver.security import TrustedProxies, URLSigner
from support.servers import serve_asgi

KEY = "cli-send-signing-key-0123456789"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[Any]]]:
    """Fax.Plus with its published addresses only, and with loopback allowed; Updox signed."""
    hooks = Receiver()
    hooks.endpoint("/preset/faxplus", providers.FaxPlus())
    hooks.endpoint("/local/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    hooks.endpoint("/hooks/updox/{event}", providers.Updox(signed_urls=URLSigner([KEY])))
    seen: list[Any] = []

    @hooks.on("*")
    def record(event: Any, ctx: DeliveryContext) -> None:
        seen.append(event)

    with serve_asgi(hooks.asgi_app) as base:
        yield base, seen


def send(*args: str) -> Any:
    return CliRunner().invoke(main, ["send", *args])


def test_the_sender_address_is_said_to_be_simulated(server: tuple[str, list[Any]]) -> None:
    base, _ = server
    result = send("faxplus", "fax_sent", "--url", f"{base}/local/faxplus")
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.output.splitlines() if "simulated" in x]
    sender = line.split("sender address ", 1)[1].split()[0]
    assert sender in ("34.65.253.117", "34.65.146.131")  # Fax.Plus's own, as the header said
    assert "the receiver sees this machine's address" in line
    assert "--forward-header" in line

    url = f"{base}/local/faxplus"
    forwarded = send("faxplus", "fax_sent", "--url", url, "--forward-header", "X-Forwarded-For")
    (line,) = [x for x in forwarded.output.splitlines() if "simulated" in x]
    assert "sent in X-Forwarded-For" in line and "trusted prox" in line
    assert "--no-proxy-headers" in line
    # This uvicorn runs with its default proxy handling: it took the address from the header,
    # and a receiver trusting no proxies refuses such an address (issue 13, item 3).
    assert forwarded.exit_code == 1 and "-> 403" in forwarded.output, forwarded.output
    (hint,) = [x for x in forwarded.output.splitlines() if x.startswith("hint:")]
    assert "took the sender address" in hint and "--no-proxy-headers" in hint, hint


def test_a_loopback_403_explains_allow_ips(server: tuple[str, list[Any]]) -> None:
    base, _ = server
    result = send("faxplus", "fax_sent", "--url", f"{base}/preset/faxplus")
    assert result.exit_code == 1, result.output
    assert "-> 403" in result.output and "address_not_allowed" in result.output
    (hint,) = [x for x in result.output.splitlines() if x.startswith("hint:")]
    assert 'allow_ips=["127.0.0.1"]' in hint and "127.0.0.1" in hint

    # A 403 for another reason (a bad signed-URL token) gets no allow_ips hint.
    url = f"{base}/hooks/updox/inbound_fax"
    forged = send("updox", "inbound_fax", "--url", url, "--signed-url-secret", "x" * 32)
    assert forged.exit_code == 1 and "-> 403" in forged.output
    assert "allow_ips" not in forged.output


def test_unknown_fields_are_refused_listing_the_known_ones(
    server: tuple[str, list[Any]],
) -> None:
    base, seen = server
    before = len(seen)
    url = f"{base}/local/faxplus"
    result = send("faxplus", "fax_sent", "--url", url, "-f", "pgaes=3")
    assert result.exit_code == 2, result.output
    assert "unknown field 'pgaes'" in result.output
    assert "Did you mean 'pages'?" in result.output
    assert "file_name" in result.output and "hook" in result.output  # the known ones
    assert "--any-field" in result.output
    assert len(seen) == before  # nothing was sent

    nested = send("wirecloud", "channel_create", "--url", url, "-f", "nope.x=1")
    assert nested.exit_code == 2 and "unknown field 'nope'" in nested.output

    # Known ones pass: wire fields, nested ones, factory options; --any-field lets any through.
    for fields in (["pages=2", "hook.event_time=2024-01-01 10:00:00"], ["status=failed"]):
        args = [arg for field in fields for arg in ("-f", field)]
        ok = send("faxplus", "fax_sent", "--url", url, *args)
        assert ok.exit_code == 0, ok.output
    drift = send("faxplus", "fax_sent", "--url", url, "-f", "newField=1", "--any-field")
    assert drift.exit_code == 0, drift.output
    assert seen[-1].data.model_extra["newField"] == 1


def test_a_forwarded_sender_403_hint_names_the_forwarded_address() -> None:
    """With --forward-header the receiver may have seen the forwarded sender (it trusts this
    machine as its proxy): the hint must not say it saw only 127.0.0.1."""
    hooks = Receiver(proxies=TrustedProxies(["127.0.0.1"]))
    hooks.endpoint("/preset/faxplus", providers.FaxPlus())
    with serve_asgi(hooks.asgi_app) as base:
        result = send(
            "faxplus", "fax_sent", "--url", f"{base}/preset/faxplus",
            "--sender", "10.9.9.9", "--forward-header", "X-Forwarded-For",
        )  # fmt: skip
    assert result.exit_code == 1 and "-> 403" in result.output, result.output
    (hint,) = [x for x in result.output.splitlines() if x.startswith("hint:")]
    assert "10.9.9.9" in hint, hint
    assert "saw this request from 127.0.0.1 (this machine), not" not in hint
