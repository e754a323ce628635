"""The ``hookreceiver`` command line: help, errors and exit codes, ``send``, and the demo."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hookreceiver import DeliveryContext, Receiver, providers
from hookreceiver.cli import main
from hookreceiver.security import URLSigner
from hookreceiver.testing import factories
from support.servers import free_port, serve_asgi

ROOT = Path(__file__).resolve().parents[1]
KEY = "cli-test-signing-key-0123456789"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[str]]]:
    """A real server: Documo with basic auth, Updox on signed URLs, a flaky Fax.Plus handler."""
    hooks = Receiver()
    hooks.endpoint(
        "/hooks/documo",
        providers.Documo(basic_auth=[("documo", "s3cret-pass")], allow_ips=["127.0.0.1"]),
    )
    hooks.endpoint("/hooks/updox/{event}", providers.Updox(signed_urls=URLSigner([KEY])))
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    hooks.endpoint("/hooks/zipwhip/{event}", providers.Zipwhip(allow_ips=["127.0.0.1"]))
    seen: list[str] = []

    @hooks.on("*")
    def record(event: Any, ctx: DeliveryContext) -> None:
        seen.append(ctx.event_name)
        if ctx.event_name == "faxplus.fax_sent" and seen.count("faxplus.fax_sent") == 1:
            raise RuntimeError("first attempt fails")

    with serve_asgi(hooks.asgi_app) as base:
        yield base, seen


@pytest.mark.parametrize("command", [[], ["demo"], ["send"], ["events"]])
def test_every_command_has_help(runner: CliRunner, command: list[str]) -> None:
    result = runner.invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")


def test_events_lists_providers_and_refuses_unknown_ones(runner: CliRunner) -> None:
    listed = runner.invoke(main, ["events"])
    assert listed.exit_code == 0
    assert "documo: fax.inbound, fax.outbound" in listed.output
    assert "zipwhip: message.receive" in listed.output
    assert runner.invoke(main, ["events", "kazoo"]).output.startswith("wirecloud: channel_create")
    unknown = runner.invoke(main, ["events", "zipwip"])
    assert unknown.exit_code == 2 and "Did you mean 'zipwhip'" in unknown.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["send", "documoo", "fax.inbound", "--url", "http://x"], "unknown provider 'documoo'"),
        (["send", "documo", "fax.inbond", "--url", "http://x"], "Did you mean 'fax.inbound'"),
        (["send", "documo", "fax.inbound", "--url", "ftp://x"], "not an http(s) URL"),
        (["send", "documo", "fax.inbound", "--url", "http://x", "--method", "GET"], "one method"),
        (["send", "updox", "inbound_fax", "--url", "http://x", "-f", "oops"], "key=value"),
        (["send", "faxplus", "fax_sent", "--url", "http://x", "--no-attachment"], "Documo"),
        (["send", "documo", "fax.inbound", "--url", "http://x", "--basic-auth", "x"], "user:pas"),
    ],
)
def test_send_usage_errors_exit_2_with_a_clear_message(
    runner: CliRunner, args: list[str], message: str
) -> None:
    result = runner.invoke(main, args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_send_delivers_and_exit_codes_follow_the_answer(
    runner: CliRunner, server: tuple[str, list[str]]
) -> None:
    base, seen = server
    url = f"{base}/hooks/documo"
    good = ["send", "documo", "fax.inbound", "--url", url, "--basic-auth", "documo:s3cret-pass"]
    result = runner.invoke(main, [*good, "-f", "pages=2", "-f", "faxNumber=+15550001111"])
    assert result.exit_code == 0, result.output
    assert f"POST {url}  (documo.fax.inbound" in result.output
    assert '-> 200 {"status":"handled"}' in result.output
    assert "documo.fax.inbound" in seen

    wrong = runner.invoke(main, ["send", "documo", "fax.outbound", "--url", url])
    assert wrong.exit_code == 1 and "-> 401" in wrong.output

    closed = f"http://127.0.0.1:{free_port()}/hooks/documo"
    refused = runner.invoke(main, ["send", "faxplus", "fax_sent", "--url", closed])
    assert refused.exit_code == 3 and "no answer" in refused.output


def test_send_signs_the_url_and_passes_context(
    runner: CliRunner, server: tuple[str, list[str]]
) -> None:
    base, seen = server
    url = f"{base}/hooks/updox/inbound_mdn"
    unsigned = runner.invoke(main, ["send", "updox", "inbound_mdn", "--url", url])
    assert unsigned.exit_code == 1 and "token_required" in unsigned.output
    signed = runner.invoke(
        main,
        ["send", "updox", "inbound_mdn", "--url", url, "--signed-url-secret", KEY,
         "--signed-context", "job=7"],
    )  # fmt: skip
    assert signed.exit_code == 0, signed.output
    assert "/hooks/updox/inbound_mdn?token=" in signed.output
    assert seen[-1] == "updox.inbound_mdn"


def test_send_with_a_retry_schedule_retries_until_success(
    runner: CliRunner, server: tuple[str, list[str]]
) -> None:
    base, seen = server
    url = f"{base}/hooks/faxplus"
    result = runner.invoke(
        main, ["send", "faxplus", "fax_sent", "--url", url, "--retry-schedule", "documo"]
    )
    assert result.exit_code == 0, result.output
    assert "attempt 1 at +0s: -> 500" in result.output
    assert "attempt 2 at +5s: -> 200" in result.output
    assert "delivered:" in result.output
    assert seen.count("faxplus.fax_sent") == 2


def test_send_get_with_fields_and_headers(runner: CliRunner, server: tuple[str, list[str]]) -> None:
    base, seen = server
    url = f"{base}/hooks/zipwhip/receive"
    args = ["send", "zipwhip", "receive", "--url", url, "--method", "get", "-f", "body=hi"]
    result = runner.invoke(main, [*args, "-H", "X-Trace: abc"])
    assert result.exit_code == 0, result.output
    assert f"GET {url}?" in result.output and "body=hi" in result.output
    assert seen[-1] == "zipwhip.message.receive"


def test_dry_run_prints_the_request_and_hides_credentials(runner: CliRunner) -> None:
    result = runner.invoke(
        main,
        ["send", "documo", "fax.inbound", "--url", "http://h:1/hooks/documo", "--dry-run",
         "--basic-auth", "u:secret-password", "--attachment", __file__],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.startswith("POST http://h:1/hooks/documo\n")
    assert "authorization: ***" in result.output and "secret-password" not in result.output
    assert 'name="attachment"' in result.output


def _run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-m", "hookreceiver.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_demo_runs_end_to_end_and_every_delivery_goes_as_expected() -> None:
    result = _run_cli("demo", "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # Every event of every provider, then a duplicate and five deliveries that must be refused.
    every = sum(len(module.EVENTS) for module in factories.PROVIDERS.values())
    assert every >= 42
    assert f"{every + 6} of {every + 6} deliveries went as expected." in out
    # The server log (-v) holds the access log, its signed URLs' tokens redacted.
    assert "token(s) reached the server log" not in out
    assert re.search(r'"POST /hooks/wirecloud/channel_create/\[redacted\] HTTP/1.1" 200', out)
    assert re.search(r'"POST /hooks/updox/inbound_fax/\[redacted\] HTTP/1.1" 200', out)
    for provider, module in factories.PROVIDERS.items():
        for event in module.EVENTS:
            assert re.search(rf"^ +\d+ +{re.escape(provider)}\.{re.escape(event)} ", out, re.M), (
                event
            )
    rows = [
        r"documo\.fax\.inbound +multipart, 3-page PDF +200 +200 +handled +fax: inbound, success, "
        r"pages=3, attachment \d+ B",
        r"documo\.fax\.inbound +same again: duplicate +200 +200 +duplicate +-",
        r"zipwhip\.message\.receive +spoofed sender +403 +403 +address_not_allowed",
        r"documo\.fax\.outbound +wrong password +401 +401 +unauthorized",
        r"updox\.inbound_fax +URL signed with a wrong key +403 +403 +invalid_token",
        r"wirecloud\.channel_destroy +URL signed for channel_create +403 +403 +event_mismatch",
        r"faxplus\.fax_sent +1\.06 MiB body +413 +413 +payload_too_large",
        r"wirecloud\.channel_create +bracket form +200 +200 +accepted +call: started",
        r"documo\.user\.create +event named by the URL +200 +200 +handled +other: model=UserCreate",
    ]
    for row in rows:
        assert re.search(row, out), row
    # Where to look: the app's /metrics, scraped while it ran, counted every delivery.
    if importlib.util.find_spec("prometheus_client") is not None:
        counted = re.search(r"/metrics \(while the app runs\) counted (\d+) deliveries", out)
        assert counted is not None, out[-2000:]
        assert int(counted.group(1)) == every + 6
    assert "opentelemetry-instrument" in out


def test_demo_with_an_app_that_does_not_import_exits_4(tmp_path: Path) -> None:
    result = _run_cli("demo", "--app", "no_such_module:app")
    assert result.returncode == 4
    assert "cannot load 'no_such_module:app'" in result.stderr


def test_the_demo_counts_tokens_that_reach_the_server_log() -> None:
    from hookreceiver import URLSigner
    from hookreceiver.security import RedactTokens
    from hookreceiver.testing import updox, wirecloud
    from hookreceiver.testing.demo import Step, _leaked_tokens

    signer = URLSigner("demo-test-key-0123456789abcdef", expires_in=None)
    in_path = wirecloud.channel_create(path="/hooks/kazoo/{event}/{token}", signer=signer)
    in_query = updox.inbound_fax(path="/hooks/updox/{event}", signer=signer)
    steps = [Step("", in_path, 200), Step("", in_query, 200)]
    lines = [f'"POST {d.path}?{d.query} HTTP/1.1" 200' for d in (in_path, in_query)]
    assert _leaked_tokens(steps, lines) == 2
    assert _leaked_tokens(steps, [RedactTokens().redact(line) for line in lines]) == 0
