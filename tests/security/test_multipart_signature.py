"""A body-signature guard on a multipart sender: a Documo fax signed with Standard Webhooks.

The signature covers the exact multipart bytes. They are spooled while the body streams in (on
disk past 1 MiB, beside the attachment's own spooled file) and the HMAC reads them in chunks,
so a 20 MiB fax is never held in memory, once or twice.
"""

from __future__ import annotations

import io
import os
import time
import tracemalloc
from typing import Any

import pytest
from security_support import HMAC_SECRET

from hookreceiver import PayloadTooLarge, Receiver, StandardWebhooks, providers
from hookreceiver.parsing.attachment import SPOOL_IN_MEMORY
from hookreceiver.parsing.multipart import MultipartSink, multipart_boundary
from hookreceiver.security import GuardRequest
from hookreceiver.testing import WebhookClient, documo, send_http
from hookreceiver.testing.factories import SimulatedDelivery
from support.servers import serve_asgi, serve_wsgi

MiB = 1024 * 1024


def signed(guard: StandardWebhooks, delivery: SimulatedDelivery) -> SimulatedDelivery:
    """``delivery`` with Standard Webhooks headers over its exact body bytes."""
    msg_id, ts = f"msg_{delivery.payload['messageId']}", int(time.time())
    return delivery.with_headers(
        ("webhook-id", msg_id),
        ("webhook-timestamp", str(ts)),
        ("webhook-signature", guard.sign(msg_id, ts, delivery.body)),
    )


def tampered(delivery: SimulatedDelivery) -> SimulatedDelivery:
    """The same delivery, headers and length unchanged, with one byte of the fax changed."""
    assert delivery.attachment is not None
    at = delivery.body.index(delivery.attachment) + len(delivery.attachment) // 2
    flipped = bytes([delivery.body[at] ^ 0x01])
    return delivery.with_body(delivery.body[:at] + flipped + delivery.body[at + 1 :])


def receiver(guard: StandardWebhooks) -> tuple[Receiver, list[Any]]:
    hooks = Receiver()
    # Only the signature verifies: the test client is not at Documo's address.
    hooks.endpoint("/hooks/documo", providers.Documo(ip_preset=False, guards=[guard]))
    faxes: list[Any] = []

    @hooks.on("documo.fax.inbound")
    def keep(event: Any, ctx: Any) -> None:
        faxes.append((event.attachment.sha256, event.attachment.size))

    return hooks, faxes


@pytest.mark.parametrize("interface", ["asgi", "wsgi"])
def test_a_signed_documo_fax_passes_and_a_tampered_one_is_refused(interface: str) -> None:
    guard = StandardWebhooks(HMAC_SECRET)
    hooks, faxes = receiver(guard)
    app = hooks.asgi_app if interface == "asgi" else hooks.wsgi_app
    client = WebhookClient(app, receiver=hooks, interface=interface)
    fax = signed(guard, documo.fax_inbound(attachment=os.urandom(3 * MiB)))
    assert (fax.header("content-type") or "").startswith("multipart/form-data")

    bad = client.send(tampered(fax))
    good = client.send(fax)

    assert (bad.status, bad.json()["error"]) == (403, "invalid_signature")
    assert good.status == 200
    assert len(faxes) == 1 and faxes[0][1] == 3 * MiB


@pytest.mark.parametrize("server", ["uvicorn", "wsgiref"])
def test_over_a_real_server(server: str) -> None:
    guard = StandardWebhooks(HMAC_SECRET)
    hooks, faxes = receiver(guard)
    fax = signed(guard, documo.fax_inbound(attachment=os.urandom(2 * MiB + 17)))
    other = signed(guard, documo.fax_inbound(attachment=b"%PDF-1.4 tiny"))
    serve = serve_asgi(hooks.asgi_app) if server == "uvicorn" else serve_wsgi(hooks.wsgi_app)
    with serve as base:
        results = [send_http(d, base) for d in (fax, tampered(fax), tampered(other), other)]
    assert [r.status for r in results] == [200, 403, 403, 200]
    assert {r.json()["error"] for r in results[1:3]} == {"invalid_signature"}
    assert [size for _, size in faxes] == [2 * MiB + 17, len(b"%PDF-1.4 tiny")]


def test_a_signature_over_other_bytes_than_received_is_refused() -> None:
    # Same parts, another boundary: the parsed fax is identical, the bytes are not.
    guard = StandardWebhooks(HMAC_SECRET)
    hooks, faxes = receiver(guard)
    fax = signed(guard, documo.fax_inbound(attachment=b"%PDF-1.4 x"))
    boundary = multipart_boundary(fax.header("content-type") or "").decode()
    moved = fax.with_body(
        fax.body.replace(boundary.encode(), b"X" * len(boundary)),
        f"multipart/form-data; boundary={'X' * len(boundary)}",
    )
    result = WebhookClient(hooks.asgi_app, receiver=hooks, interface="asgi").send(moved)
    assert (result.status, result.json()["error"], faxes) == (403, "invalid_signature", [])


def test_the_raw_bytes_are_kept_only_when_a_guard_checks_the_body() -> None:
    fax = documo.fax_inbound(attachment=b"%PDF-1.4 x")
    delivery = fax.to_delivery()
    plain = providers.Documo().body_sink(delivery)
    checked = providers.Documo(guards=[StandardWebhooks(HMAC_SECRET)]).body_sink(delivery)
    bodies = []
    for sink in (plain, checked):
        assert isinstance(sink, MultipartSink)
        sink.feed(fax.body)
        bodies.append(sink.finish())
    assert bodies[0].raw_file is None
    assert b"".join(bodies[1].raw_chunks()) == fax.body
    for body in bodies:
        body.close()
    assert bodies[1].raw_file is not None and bodies[1].raw_file.closed


def test_a_20_mib_fax_is_spooled_to_disk_and_checked_with_flat_memory() -> None:
    guard = StandardWebhooks(HMAC_SECRET)
    fax = signed(guard, documo.fax_inbound(attachment=os.urandom(20 * MiB)))
    boundary = multipart_boundary(fax.header("content-type") or "")
    request = GuardRequest(fax.to_delivery(), "/hooks/documo", {}, None)
    chunk = 64 * 1024

    tracemalloc.start()
    try:
        sink = MultipartSink(boundary, limit=25 * MiB, keep_raw=True)
        for start in range(0, len(fax.body), chunk):
            sink.feed(fax.body[start : start + chunk])
        body = sink.finish()
        guard.check_body_stream(request, body.raw_chunks())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    try:
        assert body.raw_file is not None
        assert body.raw_file._rolled  # type: ignore[attr-defined]  # on disk, not in memory
        assert not body.files[0].in_memory
        # Neither the body nor the fax is held whole: what stays in memory is the spool
        # thresholds (1 MiB each, before rolling over) and a few chunks.
        assert peak < 2 * SPOOL_IN_MEMORY + 4 * MiB, peak
        print(f"peak traced memory for a 20 MiB fax: {peak / MiB:.2f} MiB")
    finally:
        body.close()


def test_the_size_limit_holds_while_the_raw_bytes_are_spooled() -> None:
    fax = documo.fax_inbound(attachment=os.urandom(3 * MiB))
    boundary = multipart_boundary(fax.header("content-type") or "")
    sink = MultipartSink(boundary, limit=2 * MiB, keep_raw=True)
    with pytest.raises(PayloadTooLarge):
        for start in range(0, len(fax.body), 64 * 1024):
            sink.feed(fax.body[start : start + 64 * 1024])
    assert sink._raw is not None and sink._raw.closed


def wsgi_post(app: Any, delivery: SimulatedDelivery) -> str:
    """POST ``delivery`` to a WSGI app as a server would, streaming its body from a file-like
    input (the testing client is not used: it keeps attachments to show them to tests)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": delivery.path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
        "wsgi.input": io.BytesIO(delivery.body),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
    }
    for name, value in delivery.headers:
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    status: list[str] = []
    b"".join(app(environ, lambda line, headers, exc=None: status.append(line)))
    return status[0]


def test_through_the_receiver_the_fax_is_not_held_whole_in_memory() -> None:
    guard = StandardWebhooks(HMAC_SECRET)
    hooks, faxes = receiver(guard)
    fax = signed(guard, documo.fax_inbound(attachment=os.urandom(20 * MiB)))
    warm_up = signed(guard, documo.fax_inbound(attachment=b"%PDF warm-up"))
    assert wsgi_post(hooks.wsgi_app, warm_up) == "200 OK"  # imports, caches: not counted below

    tracemalloc.start()
    try:
        status = wsgi_post(hooks.wsgi_app, fax)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == "200 OK" and faxes[-1][1] == 20 * MiB
    print(f"peak traced memory for a 20 MiB fax through WSGI: {peak / MiB:.2f} MiB")
    assert peak < 2 * SPOOL_IN_MEMORY + 4 * MiB, peak  # one copy of the fax would be 20 MiB
