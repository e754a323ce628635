"""The body sink a provider picks: the buffered sink (JSON and form bodies) builds what
``Body``'s own constructor builds, chunk by chunk, and refuses a body over the limit; a declared
``Content-Length`` is judged by the provider as :func:`check_declared_length` judges it, the
common case included (which the provider decides without the call)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookreceiver import DeliveryRejected, PayloadTooLarge, providers
from hookreceiver.delivery import Delivery, Headers
from hookreceiver.parsing.body import Body, BufferedSink, check_declared_length


@given(st.lists(st.binary(max_size=64), max_size=6), st.sampled_from(["application/json", ""]))
def test_finish_builds_the_body_its_constructor_builds(chunks: list[bytes], kind: str) -> None:
    sink = BufferedSink(10_000, kind)
    for chunk in chunks:
        sink.feed(chunk)
    body = sink.finish()
    assert body == Body(raw=b"".join(chunks), content_type=kind)
    # Its own containers, never shared with another body.
    other = BufferedSink(10_000, kind).finish()
    assert body.fields is not other.fields and body.files is not other.files
    body.fields["a"] = "b"
    assert other.fields == {}


def test_a_body_over_the_limit_is_refused() -> None:
    sink = BufferedSink(4, "application/json")
    sink.feed(b"1234")
    with pytest.raises(PayloadTooLarge):
        sink.feed(b"5")


_LENGTH = st.one_of(
    st.integers(min_value=0, max_value=10**25).map(str),
    st.from_regex(r"[0-9 ,+_-]{0,24}", fullmatch=True),
    st.sampled_from(
        ["42, 42", "42,43", "٣", "³", "0x10", " 7", "1e3", "-1", "00000000000000000001"]
    ),
)


def _outcome(call: object) -> str:
    try:
        call()  # type: ignore[operator]
    except DeliveryRejected as exc:
        return f"{type(exc).__name__}: {exc}"
    return "read"


@given(st.lists(_LENGTH, min_size=1, max_size=3), st.integers(min_value=0, max_value=10**6))
def test_a_declared_length_is_judged_as_check_declared_length_judges_it(
    lengths: list[str], limit: int
) -> None:
    provider = providers.FaxPlus(max_body=limit)
    headers = Headers(
        [("content-type", "application/json")] + [("content-length", v) for v in lengths]
    )
    delivery = Delivery("POST", "/hooks/faxplus", headers=headers, body=b"")
    expected = _outcome(lambda: check_declared_length(lengths, limit))
    assert _outcome(lambda: provider.body_sink(delivery)) == expected
