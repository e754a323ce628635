"""The generated fax PDF is well formed: objects where the cross-reference table says."""

from __future__ import annotations

import re

import pytest

from hookreceiver.testing.pdf import PDF_MAGIC, make_pdf, pdf_page_count


@pytest.mark.parametrize("pages", [1, 3, 12])
def test_xref_offsets_point_at_their_objects(pages: int) -> None:
    pdf = make_pdf(pages)
    assert pdf.startswith(PDF_MAGIC) and pdf.endswith(b"%%EOF\n")
    startxref = int(re.search(rb"startxref\n(\d+)\n", pdf).group(1))  # type: ignore[union-attr]
    assert pdf[startxref:].startswith(b"xref\n0 ")
    entries = re.findall(rb"(\d{10}) 00000 n \n", pdf[startxref:])
    assert len(entries) == 3 + 2 * pages
    for number, offset in enumerate(entries, start=1):
        assert pdf[int(offset) :].startswith(f"{number} 0 obj\n".encode())
    assert pdf_page_count(pdf) == pages
    assert pdf.count(b"/Type /Page ") == pages


def test_stream_lengths_are_exact_and_text_is_escaped() -> None:
    pdf = make_pdf(1, title="a (tricky) \\ title")
    match = re.search(rb"/Length (\d+) >>\nstream\n", pdf)
    assert match is not None
    start = match.end()
    assert pdf[start + int(match.group(1)) :].startswith(b"\nendstream")
    assert b"a \\(tricky\\) \\\\ title" in pdf


def test_small_and_refuses_no_pages() -> None:
    assert len(make_pdf(1)) < 1024
    with pytest.raises(ValueError):
        make_pdf(0)
