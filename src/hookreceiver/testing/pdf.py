"""A tiny, valid PDF built in code: the fax document simulated deliveries attach.

Real fax attachments are PDFs (Documo) or TIFFs. Tests need one that a PDF reader opens, with a
chosen number of pages, a few hundred bytes long, and no binary fixture in the repository.
"""

from __future__ import annotations

__all__ = ["PDF_MAGIC", "make_pdf", "pdf_page_count"]

#: The first bytes of every PDF.
PDF_MAGIC = b"%PDF-"


def _text_stream(text: str) -> bytes:
    safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"BT /F1 24 Tf 72 720 Td ({safe}) Tj ET".encode("latin-1", "replace")


def make_pdf(pages: int = 1, *, title: str = "hookreceiver test fax") -> bytes:
    """A valid PDF 1.4 document of ``pages`` US-letter pages, each saying which page it is.

    The cross-reference table carries exact byte offsets, so strict readers accept it.

    Raises:
        ValueError: ``pages`` is below 1.
    """
    if pages < 1:
        raise ValueError("a PDF needs at least one page")
    # Objects: 1 catalog, 2 page tree, 3 font, then a (page, content) pair per page.
    page_ids = [4 + 2 * index for index in range(pages)]
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(f"{pid} 0 R".encode() for pid in page_ids)
        + f"] /Count {pages} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for index, page_id in enumerate(page_ids):
        stream = _text_stream(f"{title}: page {index + 1} of {pages}")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {page_id + 1} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n"
    ).encode()
    return bytes(out)


def pdf_page_count(data: bytes) -> int:
    """The page count declared by a PDF's page tree (for PDFs made by :func:`make_pdf`)."""
    marker = b"/Type /Pages"
    start = data.find(marker)
    if start < 0:
        raise ValueError("not a PDF made by make_pdf: no page tree")
    count_at = data.find(b"/Count ", start)
    end = data.find(b" ", count_at + 7)
    return int(data[count_at + 7 : end])
