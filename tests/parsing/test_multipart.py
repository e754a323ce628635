"""Streaming multipart: fields, files spooled to disk, limits and broken bodies."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hookreceiver import MalformedBody, PayloadTooLarge
from hookreceiver.parsing import MultipartSink, multipart_boundary

BOUNDARY = "----hookreceiverBoundary7MA4YWxk"


def multipart(fields: dict[str, str], files: dict[str, tuple[str, str, bytes]]) -> bytes:
    out = b""
    for name, value in fields.items():
        out += (
            (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n').encode()
            + value.encode()
            + b"\r\n"
        )
    for name, (filename, content_type, data) in files.items():
        out += (
            (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    return out + f"--{BOUNDARY}--\r\n".encode()


def feed(sink: MultipartSink, data: bytes, chunk: int = 7_919) -> None:
    for start in range(0, len(data), chunk):
        sink.feed(data[start : start + chunk])


def test_fields_and_a_large_file_stream_to_disk() -> None:
    pdf = os.urandom(3 * 1024 * 1024)
    body = multipart(
        {"data": '{"messageId":"m1"}'}, {"attachment": ("fax.pdf", "application/pdf", pdf)}
    )
    sink = MultipartSink(
        multipart_boundary(f"multipart/form-data; boundary={BOUNDARY}"), limit=10 << 20
    )
    feed(sink, body)
    parsed = sink.finish()
    assert parsed.fields == {"data": '{"messageId":"m1"}'}
    (attachment,) = parsed.files
    assert (attachment.field, attachment.filename, attachment.content_type) == (
        "attachment",
        "fax.pdf",
        "application/pdf",
    )
    assert attachment.size == len(pdf)
    handle = attachment.open()
    handle.read(1000)  # a handler is part-way through the file when it asks for the hash
    assert attachment.sha256 == hashlib.sha256(pdf).hexdigest()
    assert handle.tell() == 1000
    assert attachment.sha256 == hashlib.sha256(pdf).hexdigest()  # remembered
    assert not attachment.in_memory  # rolled over to a temporary file
    assert attachment.read() == pdf
    parsed.close()
    assert attachment.closed


def test_attachment_save_copies_the_content(tmp_path: os.PathLike[str]) -> None:
    body = multipart({}, {"attachment": ("a.pdf", "application/pdf", b"%PDF-1.4 tiny")})
    sink = MultipartSink(BOUNDARY.encode(), limit=1 << 20)
    feed(sink, body, chunk=5)
    (attachment,) = sink.finish().files
    target = attachment.save(os.path.join(tmp_path, "copy.pdf"))
    assert target.read_bytes() == b"%PDF-1.4 tiny"
    attachment.close()


def test_body_over_limit_is_refused_while_streaming() -> None:
    body = multipart({}, {"attachment": ("a.pdf", "application/pdf", b"x" * 50_000)})
    sink = MultipartSink(BOUNDARY.encode(), limit=20_000)
    with pytest.raises(PayloadTooLarge):
        feed(sink, body, chunk=4096)


def test_text_field_over_its_limit_is_refused() -> None:
    body = multipart({"data": "y" * 5000}, {})
    sink = MultipartSink(BOUNDARY.encode(), limit=1 << 20, max_field_size=1000)
    with pytest.raises(PayloadTooLarge, match="field 'data'"):
        feed(sink, body)


def test_too_many_files_is_refused() -> None:
    files = {f"f{i}": (f"{i}.pdf", "application/pdf", b"x") for i in range(3)}
    sink = MultipartSink(BOUNDARY.encode(), limit=1 << 20, max_files=2)
    with pytest.raises(PayloadTooLarge, match="more than 2 files"):
        feed(sink, multipart({}, files))


@pytest.mark.parametrize(
    "body",
    [
        b"garbage without a boundary",
        multipart({"data": "{}"}, {})[:-10],  # truncated: no closing boundary
        f"--{BOUNDARY}\r\nContent-Disposition: inline\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode(),
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="d"\r\n\r\n\xff\xfe\r\n'
        f"--{BOUNDARY}--\r\n".encode("latin-1"),
    ],
)
def test_broken_bodies_are_malformed(body: bytes) -> None:
    sink = MultipartSink(BOUNDARY.encode(), limit=1 << 20)
    with pytest.raises(MalformedBody):
        feed(sink, body)
        sink.finish()


@pytest.mark.parametrize("header", ["multipart/form-data", "multipart/form-data; boundary="])
def test_missing_boundary_is_malformed(header: str) -> None:
    with pytest.raises(MalformedBody):
        multipart_boundary(header)


def parts(body: bytes, chunk: int) -> tuple[dict[str, str], list[tuple[str, bytes]]]:
    sink = MultipartSink(BOUNDARY.encode(), limit=1 << 20)
    feed(sink, body, chunk)
    parsed = sink.finish()
    try:
        return dict(parsed.fields), [(f.field, f.read()) for f in parsed.files]
    finally:
        parsed.close()


def test_a_preamble_is_ignored_as_rfc_2046_says() -> None:
    # python-multipart skips leading CR/LF only, and refused the rest: a 400 for a valid body.
    body = multipart({"data": '{"a": 1}'}, {"attachment": ("f.pdf", "application/pdf", b"%PDF")})
    with_preamble = b"This is a multi-part message in MIME format.\r\n" + body
    assert parts(with_preamble, 7_919) == parts(body, 7_919)
    assert parts(with_preamble, 1) == parts(body, 1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    preamble=st.binary(max_size=300),
    epilogue=st.binary(max_size=300),
    value=st.text(max_size=50).filter(lambda v: "\r" not in v),
    data=st.binary(max_size=300),
    chunk=st.integers(min_value=1, max_value=64),
)
def test_any_preamble_and_epilogue_parse_to_the_same_parts(
    preamble: bytes, epilogue: bytes, value: str, data: bytes, chunk: int
) -> None:
    delimiter = b"\r\n--" + BOUNDARY.encode()
    assume(delimiter not in b"\r\n" + preamble + b"\r\n" and delimiter[2:] not in data)
    body = multipart({"data": value}, {"attachment": ("f.pdf", "application/pdf", data)})
    expected = parts(body, 7_919)
    assert expected == ({"data": value}, [("attachment", data)])
    assert parts(preamble + b"\r\n" + body + epilogue, chunk) == expected


def test_a_documo_fax_with_a_preamble_is_verified_like_one_without() -> None:
    from hookreceiver import Receiver, providers
    from hookreceiver.testing import documo

    hooks = Receiver(log_events=False)
    hooks.endpoint("/hooks/documo", providers.Documo(basic_auth=[("documo", "s3cret")]))
    sent = documo.fax_inbound(pages=1, basic_auth=("documo", "s3cret"))
    body = b"This is a multi-part message in MIME format.\r\n" + sent.body
    with hooks.verify(sent.method, sent.path, sent.headers, body, client=sent.sender) as got:
        assert got.name == "documo.fax.inbound"
        assert got.attachments[0].read() == sent.attachment
