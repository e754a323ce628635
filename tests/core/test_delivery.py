"""The delivery value: headers wrapped from ASGI bytes, decoded on demand; delivery ids."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookreceiver.core.outcome import Response
from hookreceiver.delivery import Headers
from hookreceiver.engine import flow
from hookreceiver.engine.flow import new_delivery_id

RAW = [
    (b"content-type", b"application/json"),
    (b"x-forwarded-for", b"203.0.113.9"),
    (b"x-forwarded-for", b"198.51.100.7"),
    (b"authorization", b"Basic c2VjcmV0OnNlY3JldA=="),
    (b"x-note", "caf\u00e9".encode("latin-1")),
]


@pytest.mark.parametrize(
    "make",
    [
        Headers.from_raw,
        lambda raw: Headers((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw),
    ],
    ids=["from_raw", "decoded"],
)
def test_headers_read_the_same_either_way(make: object) -> None:
    headers = make(RAW)  # type: ignore[operator]
    assert headers["Content-Type"] == "application/json"
    assert headers.get("X-FORWARDED-FOR") == "203.0.113.9"
    assert headers.get_all("x-forwarded-for") == ["203.0.113.9", "198.51.100.7"]
    assert headers.get("x-note") == "caf\u00e9"
    assert headers.get("missing") is None
    assert headers.get("missing", "fallback") == "fallback"
    with pytest.raises(KeyError):
        headers["missing"]
    assert list(headers) == ["content-type", "x-forwarded-for", "authorization", "x-note"]
    assert len(headers) == 4
    assert "***" in repr(headers) and "c2VjcmV0" not in repr(headers)


def test_raw_headers_look_up_without_decoding_everything() -> None:
    headers = Headers.from_raw(RAW)
    assert headers.get("content-type") == "application/json"
    assert headers._items is None  # nothing decoded for a single look-up
    # A name that cannot be a latin-1 header is simply absent, not an error.
    assert headers.get("x-\u2603") is None
    assert headers.items_list()[0] == ("content-type", "application/json")
    assert headers._items is not None


def test_response_raw_headers_match_headers() -> None:
    response = Response.json(202, {"ok": True}, headers=(("X-Thing", "v\u00e9"),))
    assert response.raw_headers == tuple(
        (k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers
    )


def test_delivery_ids_are_unique_and_16_hex_digits() -> None:
    ids = {new_delivery_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids)


@given(st.integers(min_value=0, max_value=2**66))
def test_a_delivery_id_is_its_counter_as_16_hex_digits_wrapping_at_64_bits(start: int) -> None:
    saved = flow._id_counter
    try:
        flow._id_counter = itertools.count(start)
        assert new_delivery_id() == format(start % 2**64, "016x")
    finally:
        flow._id_counter = saved


@pytest.mark.parametrize(
    "make",
    [
        Headers.from_raw,
        lambda raw: Headers((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw),
    ],
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([b"content-type", b"content-length", b"x-other", b"content-typo"]),
            st.binary(max_size=12),
        ),
        max_size=6,
    )
)
def test_body_headers_are_the_first_content_type_and_every_length(make, raw) -> None:  # type: ignore[no-untyped-def]
    headers = make(raw)
    assert headers.body_headers() == (
        headers.get("content-type"),
        headers.get_all("content-length"),
    )


def test_delivery_ids_differ_between_processes() -> None:
    code = "from hookreceiver.engine.flow import new_delivery_id; print(new_delivery_id())"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(3)
    }
    assert len(outputs) == 3


FORK_SCRIPT = """
import os
from hookreceiver.engine.flow import new_delivery_id
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(write, new_delivery_id().encode())
    os._exit(0)
os.close(write)
os.waitpid(pid, 0)
print(os.read(read, 64).decode(), new_delivery_id())
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_draws_its_own_id_range() -> None:
    # In a fresh interpreter: forking the (threaded) test process itself is unsafe.
    out = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True, check=True
    ).stdout.split()
    child, parent = (int(i, 16) for i in out)
    # Had the child kept the parent's counter, the two ids would be adjacent numbers.
    assert abs(child - parent) > 1_000_000
