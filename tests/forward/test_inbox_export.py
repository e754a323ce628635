"""``hookreceiver inbox export ID --as-test``: a stored delivery becomes a pytest test that
replays it through the plugin's ``deliver`` fixture, passing while the app handles it and
failing once its handler breaks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hookreceiver import Receiver, URLSigner, providers
from hookreceiver.inbox import SQLiteInbox
from hookreceiver.testing import WebhookClient, documo, faxplus, updox

pytestmark = pytest.mark.slow

PROD_KEY = "prod-key-" + "p" * 24

LOCAL_APP = """
import os
from hookreceiver import Receiver, URLSigner, providers

hooks = Receiver(log_events=False)
hooks.endpoint("/hooks/documo", providers.Documo(basic_auth=[("documo", "local-pass")]))
hooks.endpoint("/hooks/faxplus", providers.FaxPlus())
hooks.endpoint("/hooks/updox/{event}/{token}", providers.Updox(
    signed_urls=URLSigner(["local-key-" + "l" * 24], expires_in=None)))


@hooks.on("*")
def handle(event, ctx):
    if os.environ.get("BREAK_HANDLER"):
        raise RuntimeError("the handler broke")
    if ctx.provider == "updox":
        assert ctx.signed == {"job": 7}
    if ctx.provider == "documo":
        assert ctx.attachments[0].read().startswith(b"%PDF")
"""


def stored_deliveries(db: Path) -> dict[str, str]:
    """Deliveries kept by a "production" receiver (its own keys): provider -> inbox id."""
    inbox = SQLiteInbox(db)
    hooks = Receiver(inbox=inbox, worker=False, log_events=False)
    hooks.endpoint("/hooks/documo", providers.Documo(basic_auth=[("documo", "prod")]), ack="inbox")
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(), ack="inbox")
    signer = URLSigner([PROD_KEY], expires_in=None)
    hooks.endpoint("/hooks/updox/{event}/{token}", providers.Updox(signed_urls=signer), ack="inbox")
    url = hooks.callback_url(
        "/hooks/updox/{event}/{token}",
        event="inbound_fax",
        context={"job": 7},
        base_url="https://hooks.example.com",
    )
    client = WebhookClient(hooks)
    ids = {}
    for delivery in (
        documo.fax_inbound(pages=2, basic_auth=("documo", "prod")),
        faxplus.fax_received(),
        updox.inbound_fax(url=url),
    ):
        result = client.send(delivery)
        assert result.outcome == "accepted", result
        assert result.report is not None and result.report.delivery_id
        ids[delivery.provider] = result.report.delivery_id
    inbox.close()
    return ids


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, env={**os.environ, **env}, timeout=120
    )


def test_exported_deliveries_pass_while_handled_and_fail_when_the_handler_breaks(
    tmp_path: Path,
) -> None:
    (tmp_path / "localapp.py").write_text(LOCAL_APP)
    ids = stored_deliveries(tmp_path / "prod.db")
    for provider, record_id in ids.items():
        exported = run(
            [
                sys.executable,
                "-m",
                "hookreceiver.cli",
                "inbox",
                "--inbox",
                f"sqlite:///{tmp_path / 'prod.db'}",
                "--app",
                "localapp:hooks",
                "export",
                record_id,
                "--as-test",
                "-o",
                f"test_{provider}.py",
            ],
            tmp_path,
        )
        assert exported.returncode == 0, exported.stderr
    source = (tmp_path / "test_updox.py").read_text()
    assert "/hooks/updox/inbound_fax/***" in source and PROD_KEY not in source
    assert "decode_b64(" in (tmp_path / "test_documo.py").read_text()  # the PDF, as base64
    pytest_args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "."]
    passed = run(pytest_args, tmp_path, HOOKRECEIVER_TEST_BASIC_AUTH="documo:local-pass")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "3 passed" in passed.stdout
    broken = run(
        pytest_args, tmp_path, HOOKRECEIVER_TEST_BASIC_AUTH="documo:local-pass", BREAK_HANDLER="1"
    )
    assert broken.returncode == 1
    assert "3 failed" in broken.stdout and "handler_failed" in broken.stdout
    no_auth = run([*pytest_args[:-1], "test_documo.py"], tmp_path)
    assert no_auth.returncode == 1 and "HOOKRECEIVER_TEST_BASIC_AUTH" in no_auth.stdout


def test_export_to_stdout_and_of_a_missing_delivery(tmp_path: Path) -> None:
    ids = stored_deliveries(tmp_path / "prod.db")
    inbox = f"sqlite:///{tmp_path / 'prod.db'}"
    shown = run(
        [
            sys.executable,
            "-m",
            "hookreceiver.cli",
            "inbox",
            "--inbox",
            inbox,
            "export",
            ids["faxplus"],
            "--as-test",
            "-o",
            "-",
        ],
        tmp_path,
    )
    assert shown.returncode == 0
    compile(shown.stdout, "exported.py", "exec")
    assert "def webhook_app" not in shown.stdout  # no --app: the conftest's fixture
    missing = run(
        [
            sys.executable,
            "-m",
            "hookreceiver.cli",
            "inbox",
            "--inbox",
            inbox,
            "export",
            "nope",
            "--as-test",
        ],
        tmp_path,
    )
    assert missing.returncode == 1 and "no delivery nope" in missing.stderr


def test_text_of_the_delivery_cannot_break_out_of_the_exported_docstring(tmp_path: Path) -> None:
    # A form key comes back in the quarantine's error: it closed the module's docstring and
    # became code of the exported test (here a SyntaxError; code in general).
    import ast
    import dataclasses
    from urllib.parse import quote

    from hookreceiver.inbox.export import pytest_source
    from hookreceiver.testing import wirecloud

    inbox = SQLiteInbox(tmp_path / "q.db")
    hooks = Receiver(inbox=inbox, worker=False, log_events=False)
    hooks.endpoint("/hooks/kazoo", providers.Kazoo(allow_ips=["127.0.0.1"]))
    key = quote('x\'"""+print(1)+"""')
    form = wirecloud.channel_create(sender="127.0.0.1")
    body = form.body + f"&{key}[]=1&{key}=2".encode()
    sent = WebhookClient(hooks).send(dataclasses.replace(form, body=body))
    assert sent.outcome == "quarantined", sent
    assert sent.report is not None
    record = inbox.get(sent.report.delivery_id)
    assert record is not None and '"""' in (record.last_error or "")
    source = pytest_source(record)
    compile(source, "exported.py", "exec")
    module = ast.parse(source)
    docstring = ast.get_docstring(module) or ""
    assert "form key" in docstring
    assert [type(node).__name__ for node in module.body[:2]] == ["Expr", "ImportFrom"]
    inbox.close()
