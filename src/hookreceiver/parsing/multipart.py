"""Streaming ``multipart/form-data`` with limits, over python-multipart.

Text fields are kept in memory up to ``max_field_size``; file parts are written chunk by chunk to
spooled temporary files (see :class:`~hookreceiver.parsing.attachment.Attachment`), so a 20 MiB
fax never sits whole in memory. A preamble before the first boundary is skipped and an epilogue
after the last one ignored, as RFC 2046 says. When a guard checks the body's bytes (a signature
over them), those are spooled as they arrive as well (``keep_raw``), to a file of their own.
"""

from __future__ import annotations

import tempfile
from typing import IO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..errors import MalformedBody, PayloadTooLarge
from .attachment import SPOOL_IN_MEMORY, Attachment
from .body import Body

__all__ = ["MultipartSink", "multipart_boundary"]


def multipart_boundary(content_type_header: str) -> bytes:
    """The boundary of a ``multipart/form-data`` content type, or raise ``MalformedBody``."""
    try:
        _, options = parse_options_header(content_type_header)
    except UnicodeError:  # a header built in Python (not read from a server) beyond latin-1
        raise MalformedBody("multipart content type is not latin-1 text") from None
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise MalformedBody("multipart body without a valid boundary parameter")
    return boundary


class MultipartSink:
    """Parses a multipart body while it streams in.

    Args:
        boundary: from :func:`multipart_boundary`.
        limit: the whole body's size limit in bytes.
        max_files: how many file parts are accepted.
        max_fields: how many text fields are accepted.
        max_field_size: the size limit of one text field (Documo's ``data`` JSON lives here).
        spool_dir: where large files roll over to (the system temp dir by default).
        keep_raw: also keep the bytes as received, in a spooled temporary file (in memory up to
            1 MiB, on disk past it): :attr:`Body.raw_file`, for a guard that checks a
            signature over the body.
    """

    def __init__(
        self,
        boundary: bytes,
        *,
        limit: int,
        max_files: int = 4,
        max_fields: int = 32,
        max_field_size: int = 1024 * 1024,
        spool_dir: str | None = None,
        keep_raw: bool = False,
    ) -> None:
        self.limit = limit
        self.max_files = max_files
        self.max_fields = max_fields
        self.max_field_size = max_field_size
        self.spool_dir = spool_dir
        self._size = 0
        self._ended = False
        self._fields: dict[str, str] = {}
        self._field_count = 0
        self._files: list[Attachment] = []
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._file: Attachment | None = None
        self._data = bytearray()
        self._raw: IO[bytes] | None = None
        # Until the first delimiter: the preamble, discarded (RFC 2046 5.1.1). Searched as if
        # the body began with CRLF, so a body starting with the boundary needs no preamble;
        # only the delimiter's length is ever held.
        self._delimiter: bytes | None = b"\r\n--" + boundary
        self._pending = b"\r\n"
        if keep_raw:
            self._raw = tempfile.SpooledTemporaryFile(
                max_size=SPOOL_IN_MEMORY, dir=spool_dir, prefix="hookreceiver-raw-"
            )
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_end": self._on_end,
            },
        )

    # The sink protocol ---------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        """Parse the next chunk."""
        self._size += len(chunk)
        if self._size > self.limit:
            self.abort()
            raise PayloadTooLarge(f"body is larger than the limit of {self.limit} bytes")
        if self._raw is not None:
            self._raw.write(chunk)
        if self._delimiter is not None:
            chunk = self._skip_preamble(chunk)
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            self.abort()
            raise MalformedBody(f"malformed multipart body: {exc}") from None
        except PayloadTooLarge:
            self.abort()
            raise

    def _skip_preamble(self, chunk: bytes) -> bytes:
        """What of ``chunk`` follows the preamble (from the first delimiter), or ``b""``.

        python-multipart skips leading CR/LF only and refuses any other preamble, which
        RFC 2046 allows senders to write ("This is a multi-part message in MIME format.").
        """
        assert self._delimiter is not None
        data = self._pending + chunk
        found = data.find(self._delimiter)
        if found < 0:
            self._pending = data[-(len(self._delimiter) - 1) :]
            return b""
        self._delimiter = None
        self._pending = b""
        return data[found:]  # the parser skips the CRLF that begins the delimiter

    def finish(self) -> Body:
        """Check the closing boundary arrived, and return the fields and files."""
        self._parser.finalize()
        if not self._ended:
            self.abort()
            raise MalformedBody("multipart body ended before its closing boundary")
        return Body(
            content_type="multipart/form-data",
            fields=self._fields,
            files=self._files,
            raw_file=self._raw,
        )

    def abort(self) -> None:
        """Remove every temporary file written so far."""
        for attachment in self._files:
            attachment.close()
        if self._file is not None:
            self._file.close()
        if self._raw is not None:
            self._raw.close()

    # python-multipart callbacks ------------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._headers = {}
        self._file = None
        self._data = bytearray()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field = bytearray()
        self._header_value = bytearray()

    def _on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in options:
            raise MultipartParseError("part without a form-data Content-Disposition and a name")
        self._name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            if len(self._files) >= self.max_files:
                raise PayloadTooLarge(f"more than {self.max_files} files in the body")
            content_type = self._headers.get(b"content-type", b"application/octet-stream")
            self._file = Attachment(
                self._name,
                options[b"filename"].decode("utf-8", "replace") or None,
                content_type.decode("latin-1").split(";", 1)[0].strip().lower(),
                spool_dir=self.spool_dir,
            )
            self._files.append(self._file)
        else:
            self._field_count += 1
            if self._field_count > self.max_fields:
                raise PayloadTooLarge(f"more than {self.max_fields} fields in the body")

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._file.write(data[start:end])
            return
        self._data += data[start:end]
        if len(self._data) > self.max_field_size:
            raise PayloadTooLarge(
                f"field {self._name!r} is larger than the limit of {self.max_field_size} bytes"
            )

    def _on_part_end(self) -> None:
        if self._file is not None:
            self._file.finish()
            self._file = None
            return
        try:
            value = self._data.decode("utf-8")
        except UnicodeDecodeError:
            raise MultipartParseError(f"field {self._name!r} is not UTF-8") from None
        self._fields.setdefault(self._name, value)

    def _on_end(self) -> None:
        self._ended = True
