"""A stored delivery as a pytest test: ``hookreceiver inbox export ID --as-test``.

A delivery that failed in production becomes a regression test in one command. The test
holds the delivery as the inbox kept it (method, path, query, the provider's headers, the
sender's address, the body or multipart parts), re-signs what the inbox does not keep with the
app's own keys (:meth:`hookreceiver.testing.StoredDelivery.for_app`), and sends it through the
pytest plugin's ``deliver`` fixture; it passes when the app's handlers handle it.
"""

from __future__ import annotations

import base64
import re

from .records import InboxRecord

__all__ = ["pytest_source"]

_WIDTH = 88


def _bytes_literal(data: bytes, indent: str) -> str:
    """``data`` as Python source: a bytes literal in lines for text, base64 for binary."""
    try:
        text = data.decode("utf-8")
        printable = all(c.isprintable() or c in "\r\n\t" for c in text)
    except UnicodeDecodeError:
        printable = False
    if not printable:
        encoded = base64.b64encode(data).decode("ascii")
        lines = [encoded[i : i + 76] for i in range(0, len(encoded), 76)] or [""]
        body = "\n".join(f'{indent}    "{line}"' for line in lines)
        return f"decode_b64(\n{body}\n{indent})"
    if len(data) <= _WIDTH - len(indent):
        return repr(data)
    pieces = [data[i : i + 64] for i in range(0, len(data), 64)]
    body = "\n".join(f"{indent}    {piece!r}" for piece in pieces)
    return f"(\n{body}\n{indent})"


def _name(record: InboxRecord) -> str:
    event = record.event_name or record.provider
    slug = re.sub(r"[^0-9A-Za-z]+", "_", f"{event}_{record.id}").strip("_").lower()
    return f"test_delivery_{slug}_is_handled"


def pytest_source(record: InboxRecord, *, app: str | None = None) -> str:
    """The source of a pytest module replaying ``record`` through the plugin's fixtures.

    ``app`` (``module:attribute``, as ``--app`` takes it) defines the ``webhook_app`` fixture;
    without it the test uses the ``webhook_app`` of your ``conftest.py``.
    """
    event = _safe(record.event_name or "unparsed")
    lines = [
        f'"""Regression test: delivery {record.id} ({event}) as the',
        f"inbox kept it on {_iso(record.received_at)}, state {record.state.value}"
        + _safe((f": {record.last_error}" if record.last_error else "")[:60])
        + ".",
        "",
        f"Written by `hookreceiver inbox export {record.id} --as-test`. The inbox keeps no",
        "credential: a signed URL's token and a Standard Webhooks signature are made again",
        "with the app's own keys; basic auth is read from HOOKRECEIVER_TEST_BASIC_AUTH",
        '(user:password) when the endpoint needs it."""',
        "",
        "from __future__ import annotations",
        "",
        "import os",
        "",
    ]
    if app is not None:
        lines += ["import pytest", ""]
    body_text = _bytes_literal(record.body, "    ")
    file_texts = [_bytes_literal(f.data, "            ") for f in record.files]
    if record.files:
        lines.append("from hookreceiver.inbox import StoredFile")
    lines.append("from hookreceiver.testing import StoredDelivery")
    if any(text.startswith("decode_b64(") for text in [body_text, *file_texts]):
        lines.append("from hookreceiver.testing.forward import decode_b64")
    lines.append("")
    if app is not None:
        module, _, attribute = app.partition(":")
        lines += [
            "",
            "@pytest.fixture",
            "def webhook_app():",
            f"    from {module} import {attribute.split('.')[0]} as app",
            "",
            f"    return app{''.join('.' + part for part in attribute.split('.')[1:])}",
            "",
        ]
    headers = "".join(f"        ({k!r}, {v!r}),\n" for k, v in record.headers)
    files = "".join(
        f"        StoredFile(\n"
        f"            {f.field!r},\n"
        f"            {f.filename!r},\n"
        f"            {f.content_type!r},\n"
        f"            {text},\n"
        f"        ),\n"
        for f, text in zip(record.files, file_texts, strict=True)
    )
    lines += [
        "",
        "DELIVERY = StoredDelivery(",
        f"    id={record.id!r},",
        f"    provider={record.provider!r},",
        f"    event={record.event_name!r},",
        f"    endpoint={record.endpoint!r},",
        f"    method={record.method!r},",
        f"    path={record.path!r},",
        f"    query={record.query!r},",
        f"    headers=(\n{headers}    )," if headers else "    headers=(),",
        f"    client={record.client!r},",
        f"    params={record.params!r},",
        f"    signed={record.signed!r},",
        f"    content_type={record.content_type!r},",
        f"    body={body_text},",
        f"    fields={record.fields!r},",
        f"    files=(\n{files}    )," if files else "    files=(),",
        ")",
        "",
        "",
        f"def {_name(record)}(deliver, webhook_app):",
        "    delivery = DELIVERY.for_app(",
        '        webhook_app, basic_auth=os.environ.get("HOOKRECEIVER_TEST_BASIC_AUTH")',
        "    )",
        "    result = deliver(delivery)",
        '    assert result.outcome == "handled", result.body',
        "    assert result.ok",
        "",
    ]
    return "\n".join(lines)


def _safe(text: str) -> str:
    """Text of the delivery (an error naming a form key) as docstring text: it can neither
    close the docstring nor hold an escape or control character."""
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _iso(timestamp: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
