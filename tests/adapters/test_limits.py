"""Body limits at the door: a declared length over the limit is refused before a byte is read
(and before uvicorn's ``100 Continue``), a malformed ``Content-Length`` is a 400, and a stalled
upload under ASGI is answered 408 when its read deadline passes."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookreceiver import Receiver, providers
from hookreceiver.errors import MalformedBody, PayloadTooLarge
from hookreceiver.parsing.body import check_declared_length
from support.payloads import faxplus_payload
from support.servers import exchange, final_status, serve_asgi, serve_gunicorn, serve_wsgi

LIMIT = 1000
MULTIPART_LIMIT = 5000
HUGE = 100 * 1024 * 1024


class Multipart(providers.FaxPlus):
    """Fax.Plus's parsing, but accepting multipart bodies too (to test their own limit)."""

    content_types = frozenset({"application/json", "multipart/form-data"})


def make_receiver(**receiver_options: Any) -> Receiver:
    hooks = Receiver(**receiver_options)
    limits = {"max_body": LIMIT, "max_multipart_body": MULTIPART_LIMIT}
    hooks.endpoint("/hooks/faxplus", Multipart(allow_ips=["127.0.0.1"], **limits))
    hooks.endpoint("/hooks/closed", Multipart(allow_ips=["192.0.2.1"], **limits))
    hooks.endpoint(
        "/hooks/auth", Multipart(basic_auth=[("user", "pass-word")], ip_preset=False, **limits)
    )
    hooks.on("*")(lambda event, ctx: None)
    return hooks


def head(
    length: str | bytes,
    *,
    path: str = "/hooks/faxplus",
    content_type: str = "application/json",
    expect: bool = False,
) -> bytes:
    value = length if isinstance(length, bytes) else length.encode()
    lines = [
        f"POST {path} HTTP/1.1".encode(),
        b"Host: test",
        f"Content-Type: {content_type}".encode(),
        b"Content-Length: " + value,
    ]
    if expect:
        lines.append(b"Expect: 100-continue")
    return b"\r\n".join(lines) + b"\r\n\r\n"


# In process: how much of the body each adapter pulls ---------------------------------------------


def asgi_call(
    hooks: Receiver,
    headers: list[tuple[bytes, bytes]],
    path: str = "/hooks/faxplus",
    client: str = "127.0.0.1",
) -> tuple[int, dict[str, Any], int]:
    """Call the ASGI app with a body that never ends; return status, JSON body, receives."""
    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b" " * 100, "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": headers,
        "client": (client, 1),
    }
    asyncio.run(hooks.asgi_app(scope, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"]), received


class Untouchable(io.RawIOBase):
    def read(self, *args: object) -> bytes:
        raise AssertionError("the body was read")


def wsgi_call(
    hooks: Receiver, length: str, content_type: str = "application/json"
) -> tuple[int, dict[str, Any]]:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/hooks/faxplus",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": length,
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": Untouchable(),
    }
    statuses: list[str] = []
    body = b"".join(hooks.wsgi_app(environ, lambda status, headers: statuses.append(status)))
    return int(statuses[0].split()[0]), json.loads(body)


JSON = (b"content-type", b"application/json")
MULTIPART = (b"content-type", b"multipart/form-data; boundary=xyz")


@pytest.mark.parametrize(
    ("content_type", "length"),
    [(JSON, LIMIT + 1), (JSON, HUGE), (MULTIPART, MULTIPART_LIMIT + 1), (JSON, 10**30)],
)
def test_asgi_refuses_a_declared_length_over_the_limit_without_receiving(
    content_type: tuple[bytes, bytes], length: int
) -> None:
    status, body, received = asgi_call(
        make_receiver(), [content_type, (b"content-length", str(length).encode())]
    )
    assert (status, body["error"], received) == (413, "payload_too_large", 0)


def test_the_multipart_limit_applies_to_multipart_bodies_only() -> None:
    # Over max_body but under max_multipart_body: a multipart body is read (spaces that never
    # end here, so refused once it is read past its limit), not refused by its declared length.
    status, _, received = asgi_call(
        make_receiver(), [MULTIPART, (b"content-length", str(LIMIT + 1).encode())]
    )
    assert status in (400, 413) and received > 0


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/hooks/closed", [], 403),
        ("/hooks/auth", [], 401),
        ("/hooks/auth", [(b"authorization", b"Basic d3Jvbmc6d3Jvbmc=")], 401),
    ],
)
def test_guards_answer_before_the_length_is_judged(
    path: str, headers: list[tuple[bytes, bytes]], status: int
) -> None:
    answered, _, received = asgi_call(
        make_receiver(), [JSON, (b"content-length", str(HUGE).encode()), *headers], path
    )
    assert (answered, received) == (status, 0)


BAD_LENGTHS = ["-1", "abc", "1e3", "0x10", "³", "١٢", "10, 20", " ", "+5"]


@pytest.mark.parametrize("length", BAD_LENGTHS)
def test_asgi_malformed_content_length_is_a_400(length: str) -> None:
    status, body, received = asgi_call(
        make_receiver(), [JSON, (b"content-length", length.encode("utf-8"))]
    )
    assert (status, body["error"], received) == (400, "bad_content_length", 0)


def test_asgi_several_differing_content_lengths_are_a_400() -> None:
    headers = [JSON, (b"content-length", b"10"), (b"content-length", b"20")]
    status, body, received = asgi_call(make_receiver(), headers)
    assert (status, body["error"], received) == (400, "bad_content_length", 0)


def test_asgi_repeated_identical_content_length_is_accepted() -> None:
    payload = json.dumps(faxplus_payload()).encode()
    length = str(len(payload)).encode()
    messages = [{"type": "http.request", "body": payload, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/hooks/faxplus",
        "query_string": b"",
        "headers": [JSON, (b"content-length", length), (b"content-length", length)],
        "client": ("127.0.0.1", 1),
    }
    asyncio.run(make_receiver().asgi_app(scope, receive, send))
    assert sent[0]["status"] == 200


@pytest.mark.parametrize("length", [str(LIMIT + 1), str(HUGE), "9" * 5000])
def test_wsgi_refuses_a_declared_length_over_the_limit_without_reading(length: str) -> None:
    assert wsgi_call(make_receiver(), length) == (
        413,
        {"error": "payload_too_large", "detail": f"body is larger than the limit of {LIMIT} bytes"},
    )


def test_wsgi_multipart_length_over_its_own_limit_is_refused_unread() -> None:
    status, body = wsgi_call(
        make_receiver(), str(MULTIPART_LIMIT + 1), "multipart/form-data; boundary=xyz"
    )
    assert (status, body["error"]) == (413, "payload_too_large")


@pytest.mark.parametrize("length", BAD_LENGTHS)
def test_wsgi_malformed_content_length_is_a_400(length: str) -> None:
    status, body = wsgi_call(make_receiver(), length)
    assert (status, body["error"]) == (400, "bad_content_length")


# Over real sockets ----------------------------------------------------------------------------


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_uvicorn_answers_413_before_100_continue_and_before_the_body(http: str) -> None:
    with serve_asgi(make_receiver().asgi_app, http=http) as url:
        started = time.monotonic()
        raw = exchange(url, head(str(HUGE), expect=True), timeout=10)
        elapsed = time.monotonic() - started
        multipart = exchange(
            url,
            head(
                str(MULTIPART_LIMIT + 1),
                content_type="multipart/form-data; boundary=xyz",
                expect=True,
            ),
            timeout=10,
        )
        refused = exchange(url, head(str(HUGE), path="/hooks/closed", expect=True), timeout=10)
    status, interim, body = final_status(raw)
    assert (status, interim) == (413, [])
    assert json.loads(body)["error"] == "payload_too_large"
    assert elapsed < 5
    assert final_status(multipart)[:2] == (413, [])
    assert final_status(refused)[:2] == (403, [])


def test_uvicorn_still_sends_100_continue_for_a_body_within_the_limit() -> None:
    payload = json.dumps(faxplus_payload()).encode()
    assert len(payload) < LIMIT
    with serve_asgi(make_receiver().asgi_app) as url:
        raw = exchange(url, head(str(len(payload)), expect=True) + payload, timeout=10)
    assert final_status(raw)[:2] == (200, [100])


def test_wsgi_server_answers_413_without_waiting_for_the_body() -> None:
    with serve_wsgi(make_receiver().wsgi_app) as url:
        started = time.monotonic()
        raw = exchange(url, head(str(HUGE)), timeout=10)
        elapsed = time.monotonic() - started
    status, _, body = final_status(raw)
    assert status == 413 and json.loads(body)["error"] == "payload_too_large"
    assert elapsed < 5


def test_wsgi_server_answers_400_to_a_latin1_digit_length() -> None:
    # b"\xb3" is "³" in latin-1, as WSGI servers decode headers: str.isdigit() accepts it,
    # int() does not (this was a 500).
    with serve_wsgi(make_receiver().wsgi_app) as url:
        raw = exchange(url, head(b"\xb3"), timeout=10)
    status, _, body = final_status(raw)
    assert (status, json.loads(body)["error"]) == (400, "bad_content_length")


# The ASGI read deadline --------------------------------------------------------------------------


def test_body_timeout_defaults_to_30_seconds_and_can_be_turned_off() -> None:
    assert Receiver().body_timeout == 30.0
    assert Receiver(body_timeout=None).body_timeout is None


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_a_stalled_upload_is_answered_408_and_logged(
    caplog: pytest.LogCaptureFixture, http: str
) -> None:
    caplog.set_level(logging.WARNING, logger="hookreceiver")
    payload = json.dumps(faxplus_payload()).encode()
    with serve_asgi(make_receiver(body_timeout=0.5).asgi_app, http=http) as url:
        started = time.monotonic()
        # Half the body, then nothing: the sender stalls with the connection open.
        raw = exchange(url, head(str(len(payload))) + payload[: len(payload) // 2], timeout=15)
        elapsed = time.monotonic() - started
        after = exchange(url, head(str(len(payload))) + payload, timeout=10)
    status, _, body = final_status(raw)
    assert json.loads(body) == {
        "error": "request_timeout",
        "detail": "the body did not arrive within 0.5 s",
    }
    assert status == 408
    assert b"connection: close" in raw.lower()
    assert 0.4 < elapsed < 10
    assert final_status(after)[0] == 200  # the server goes on serving
    assert any("408" in record.getMessage() for record in caplog.records)


def test_a_stalled_multipart_upload_is_answered_408_and_its_files_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hookreceiver.parsing.multipart import MultipartSink

    aborted: list[str] = []
    abort = MultipartSink.abort

    def recording_abort(self: MultipartSink) -> None:
        partial = self._file
        abort(self)
        aborted.append("file" if partial is not None and partial.closed else "nothing")

    monkeypatch.setattr(MultipartSink, "abort", recording_abort)
    boundary = "xyz"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n%PDF-1.4 "
    ).encode()
    with serve_asgi(make_receiver(body_timeout=0.5).asgi_app) as url:
        raw = exchange(
            url,
            head("4000", content_type=f"multipart/form-data; boundary={boundary}") + part,
            timeout=15,
        )
    assert final_status(raw)[0] == 408
    assert aborted == ["file"]  # the partly written attachment was closed (and so deleted)


def test_the_deadline_covers_the_whole_read_in_process() -> None:
    hooks = make_receiver(body_timeout=0.2)
    calls = 0

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)  # each chunk in time, the whole body too slow
        return {"type": "http.request", "body": b" ", "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/hooks/faxplus",
        "query_string": b"",
        "headers": [JSON],
        "client": ("127.0.0.1", 1),
    }
    started = time.monotonic()
    asyncio.run(hooks.asgi_app(scope, receive, send))
    assert sent[0]["status"] == 408
    assert 0.15 < time.monotonic() - started < 5
    assert 2 <= calls < 50


# Under gunicorn -----------------------------------------------------------------------------------


def test_gunicorn_answers_413_without_reading_the_body() -> None:
    # The app's default limit is 1 MiB. gunicorn itself answers "Expect: 100-continue" before
    # the app runs (nothing a WSGI app can change); the 413 still comes without the body.
    with serve_gunicorn("support.mount_apps:plain_wsgi_app()") as url:
        started = time.monotonic()
        plain = exchange(url, head(str(HUGE)), timeout=10)
        expecting = exchange(url, head(str(HUGE), expect=True), timeout=10)
        elapsed = time.monotonic() - started
        bad = exchange(url, head(b"\xb3"), timeout=10)
    assert final_status(plain)[0] == 413
    assert final_status(expecting)[0] == 413
    assert elapsed < 10
    assert final_status(bad)[0] == 400


def test_gunicorn_timeout_ends_a_stalled_upload_under_wsgi() -> None:
    # Under WSGI the read deadline is the server's: gunicorn's sync worker is replaced after
    # --timeout seconds without progress, and the stalled connection is closed.
    payload = json.dumps(faxplus_payload()).encode()
    with serve_gunicorn("support.mount_apps:plain_wsgi_app()", "--timeout", "2") as url:
        started = time.monotonic()
        raw = exchange(url, head(str(len(payload))) + payload[:50], timeout=30)
        elapsed = time.monotonic() - started
        deadline = time.monotonic() + 30
        while True:  # the replacement worker serves the next delivery
            after = exchange(url, head(str(len(payload))) + payload, timeout=10)
            if after or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert b" 200 " not in raw
    assert 1.5 < elapsed < 25
    assert final_status(after)[0] == 200


def _stalling_scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/hooks/faxplus",
        "query_string": b"",
        "headers": [JSON],
        "client": ("127.0.0.1", 1),
    }


def test_each_stalled_read_expires_on_its_own_deadline_and_others_finish() -> None:
    hooks = make_receiver(body_timeout=0.3)
    payload = json.dumps(faxplus_payload()).encode()

    async def deliver(stall: bool, delay: float) -> tuple[int, float]:
        await asyncio.sleep(delay)
        started = time.monotonic()
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if stall:
                await asyncio.sleep(3600)
            return {"type": "http.request", "body": payload, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await hooks.asgi_app(_stalling_scope(), receive, send)
        return sent[0]["status"], time.monotonic() - started

    async def main() -> list[tuple[int, float]]:
        return await asyncio.gather(
            deliver(True, 0), deliver(False, 0.05), deliver(True, 0.2), deliver(False, 0.4)
        )

    results = asyncio.run(main())
    assert [status for status, _ in results] == [408, 200, 408, 200]
    for status, elapsed in results:
        if status == 408:  # each at its own deadline, the second well after the first's
            assert 0.25 < elapsed < 3


def test_a_server_cancelling_a_read_is_not_turned_into_a_408() -> None:
    hooks = make_receiver(body_timeout=30)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def main() -> None:
        task = asyncio.ensure_future(hooks.asgi_app(_stalling_scope(), receive, send))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert sent == []


# The declared-length check itself, over any text -------------------------------------------------


@given(st.lists(st.text(max_size=30), min_size=1, max_size=3), st.integers(0, 10**9))
def test_any_declared_length_is_accepted_or_refused_with_a_4xx(
    values: list[str], limit: int
) -> None:
    try:
        check_declared_length(values, limit)
    except (MalformedBody, PayloadTooLarge) as exc:
        assert exc.status in (400, 413)
    else:
        numbers = {int(part.strip()) for value in values for part in value.split(",")}
        assert len(numbers) == 1 and numbers.pop() <= limit


@given(st.integers(0, 10**40), st.integers(0, 10**9), st.integers(1, 3))
def test_a_well_formed_length_is_judged_by_its_value(length: int, limit: int, copies: int) -> None:
    values = [str(length)] * copies
    if length > limit:
        try:
            check_declared_length(values, limit)
        except PayloadTooLarge:
            return
        raise AssertionError("not refused")
    check_declared_length(values, limit)


# A body the server cannot read ---------------------------------------------------------------


class Broken(io.RawIOBase):
    """``wsgi.input`` of a server that fails mid-body, as gunicorn does on a broken chunked
    encoding (``NoMoreData``, ``InvalidChunkSize``: ``IOError``) or a client gone early."""

    def __init__(self, error: Exception, first: bytes = b"") -> None:
        self.error, self.first = error, first

    def read(self, *args: object) -> bytes:
        if self.first:
            chunk, self.first = self.first, b""
            return chunk
        raise self.error


@pytest.mark.parametrize(
    "error", [OSError("No more data"), ValueError("Invalid chunk size"), RuntimeError("x")]
)
@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data; boundary=xyz"])
def test_wsgi_a_body_the_server_cannot_read_is_a_400(error: Exception, content_type: str) -> None:
    hooks = make_receiver()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/hooks/faxplus",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": "",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": Broken(error, first=b"--xyz\r\n"),
        "wsgi.input_terminated": True,  # chunked: read until the server says it is over
    }
    statuses: list[str] = []
    body = b"".join(hooks.wsgi_app(environ, lambda status, headers: statuses.append(status)))
    assert int(statuses[0].split()[0]) == 400, body
    assert json.loads(body)["error"] == "malformed_body"


@pytest.mark.parametrize(
    "chunked",
    [b"zz\r\n{}\r\n0\r\n\r\n", b'5\r\n{"a":1}\r\n0\r\n\r\n'],
    ids=["bad-size", "missing-terminator"],
)
def test_gunicorn_a_broken_chunked_body_is_a_400_not_a_500(chunked: bytes) -> None:
    # Found by fuzzing from outside: gunicorn raises from wsgi.input.read() on a broken chunked
    # body, and the exception escaped as the last-resort 500.
    request = (
        b"POST /hooks/faxplus HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked
    )
    with serve_gunicorn("support.mount_apps:plain_wsgi_app()") as url:
        raw = exchange(url, request, timeout=10)
        after = exchange(url, head(str(len(b"{}"))) + b"{}", timeout=10)
    assert final_status(raw)[0] == 400, raw
    assert b"Traceback" not in raw
    assert final_status(after)[0] in (400, 200)  # the worker still serves
