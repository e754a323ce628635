"""The body parsers under arbitrary input: JSON, Kazoo's bracket forms, multipart.

Each either decodes or refuses with a :class:`~hookreceiver.DeliveryRejected` (a 4xx): no other
exception, whatever the bytes. Where an encoder exists (the factories'), decoding what it
encodes gives the value back.
"""

from __future__ import annotations

import json
from typing import Any

from bad_input_support import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from mutations import json_literals, mutate_bytes, mutate_form_text, mutate_json_text

from hookreceiver.errors import DeliveryRejected, MalformedBody
from hookreceiver.parsing.form import MAX_DEPTH, decode_bracket_form
from hookreceiver.parsing.json import decode_json, decode_json_object
from hookreceiver.parsing.multipart import MultipartSink, multipart_boundary
from hookreceiver.testing.factories._base import bracket_form, multipart_body

# JSON ------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.binary(max_size=300))
def test_json_decodes_or_refuses_any_bytes(raw: bytes) -> None:
    try:
        decode_json(raw)
    except MalformedBody:
        pass


@settings(max_examples=examples(200))
@given(st.data(), json_values.filter(lambda v: isinstance(v, dict)))
def test_json_decodes_or_refuses_mutated_documents(data: st.DataObject, value: Any) -> None:
    text = mutate_json_text(data.draw, json.dumps(value))
    try:
        decoded = decode_json_object(text.encode("utf-8", "surrogatepass"))
    except MalformedBody as exc:
        assert exc.status == 400 and exc.detail
    else:
        assert isinstance(decoded, dict)


@given(json_literals)
def test_json_literals_decode_or_are_refused_as_malformed(literal: str) -> None:
    try:
        decode_json(literal)
    except MalformedBody as exc:
        assert exc.status == 400


@given(json_values)
def test_json_round_trips_exactly(value: Any) -> None:
    assert decode_json(json.dumps(value).encode()) == value


# Kazoo bracket forms ---------------------------------------------------------------------------

_keys = st.text(
    st.characters(exclude_characters="[]", exclude_categories=("Cs",)), min_size=1, max_size=10
)
_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
kazoo_payloads = st.dictionaries(
    _keys,
    st.recursive(
        _scalars | st.lists(_scalars, min_size=1, max_size=3),
        lambda inner: st.dictionaries(_keys, inner, min_size=1, max_size=3),
        max_leaves=8,
    ),
    max_size=6,
)


def _as_form_text(value: Any) -> Any:
    """What a bracket form keeps of a value: text, lists of text, objects of those."""
    if isinstance(value, dict):
        return {k: _as_form_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_form_text(v) for v in value]
    if value is True or value is False:
        return "true" if value else "false"
    return "" if value is None else str(value)


@given(kazoo_payloads)
def test_bracket_form_round_trips_what_kazoo_encodes(payload: dict[str, Any]) -> None:
    assert decode_bracket_form(bracket_form(payload)) == _as_form_text(payload)


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_bracket_form_decodes_or_refuses_anything(data: str | bytes) -> None:
    try:
        decoded = decode_bracket_form(data)
    except MalformedBody as exc:
        assert exc.status == 400
    else:
        assert isinstance(decoded, dict)


@settings(max_examples=examples(200))
@given(st.data(), kazoo_payloads)
def test_bracket_form_decodes_or_refuses_mutated_forms(
    data: st.DataObject, payload: dict[str, Any]
) -> None:
    text = mutate_form_text(data.draw, bracket_form(payload))
    try:
        decoded = decode_bracket_form(text.encode())
    except MalformedBody as exc:
        assert exc.status == 400
    else:
        assert isinstance(decoded, dict)


@given(st.integers(0, 30), st.sampled_from(["x", "", "0"]))
def test_bracket_form_depth_is_bounded(depth: int, segment: str) -> None:
    key = "a" + f"[{segment}]" * depth
    try:
        decoded = decode_bracket_form(f"{key}=1")
    except MalformedBody:
        assert depth >= MAX_DEPTH or segment == ""
    else:
        assert depth < MAX_DEPTH
        assert isinstance(decoded, dict)


# Multipart -------------------------------------------------------------------------------------

_names = st.text(
    st.characters(exclude_characters='"\r\n\\', exclude_categories=("Cs",)),
    min_size=1,
    max_size=12,
)


def _parse_multipart(body: bytes, boundary: bytes, chunks: list[int]) -> Any:
    sink = MultipartSink(boundary, limit=64 * 1024, max_files=3, max_fields=8)
    start = 0
    for size in chunks:
        sink.feed(body[start : start + size])
        start += size
    sink.feed(body[start:])
    return sink.finish()


@given(
    st.dictionaries(_names, st.text(max_size=40), max_size=4),
    st.lists(st.tuples(_names, _names, st.binary(max_size=200)), max_size=2),
    st.lists(st.integers(1, 64), max_size=8),
)
def test_multipart_round_trips_fields_and_files(
    fields: dict[str, str], files: list[tuple[str, str, bytes]], chunks: list[int]
) -> None:
    body, content_type = multipart_body(
        list(fields.items()), [(n, f, "application/pdf", data) for n, f, data in files]
    )
    parsed = _parse_multipart(body, multipart_boundary(content_type), chunks)
    try:
        assert parsed.fields == fields
        assert [(a.field, a.filename, a.read()) for a in parsed.files] == [
            (n, f, data) for n, f, data in files
        ]
    finally:
        parsed.close()


@settings(max_examples=examples(300))
@given(
    st.data(),
    st.dictionaries(_names, st.text(max_size=40), min_size=1, max_size=3),
    st.lists(st.integers(0, 64), max_size=6),
)
def test_multipart_parses_or_refuses_damaged_bodies(
    data: st.DataObject, fields: dict[str, str], chunks: list[int]
) -> None:
    body, content_type = multipart_body(
        list(fields.items()), [("attachment", "fax.pdf", "application/pdf", b"%PDF-1.4 x")]
    )
    damaged = mutate_bytes(data.draw, body)
    try:
        parsed = _parse_multipart(damaged, multipart_boundary(content_type), chunks)
    except DeliveryRejected as exc:
        assert 400 <= exc.status < 500
    else:
        parsed.close()


@given(st.binary(max_size=400), st.lists(st.integers(0, 64), max_size=6))
def test_multipart_parses_or_refuses_any_bytes(body: bytes, chunks: list[int]) -> None:
    try:
        parsed = _parse_multipart(body, b"boundary", chunks)
    except DeliveryRejected as exc:
        assert 400 <= exc.status < 500
    else:
        parsed.close()


@given(st.text(max_size=120))
def test_multipart_boundary_is_found_or_refused(header: str) -> None:
    try:
        boundary = multipart_boundary(header)
    except MalformedBody:
        return
    assert 0 < len(boundary) <= 200
