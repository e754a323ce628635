"""Body sinks: push-style readers that enforce size limits while the body arrives.

The sync and async drivers pull chunks from the server and :meth:`BodySink.feed` them here, so a
body over its limit is refused at the first chunk past it and the rest is never read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol

from ..errors import MalformedBody, PayloadTooLarge
from .attachment import Attachment

__all__ = ["MAX_LENGTH_DIGITS", "Body", "BodySink", "BufferedSink", "check_declared_length"]

#: A declared length with more significant digits than this is over any limit (and is never
#: handed to int(), which refuses strings of more than 4,300 digits).
MAX_LENGTH_DIGITS = 18
#: How much of a spooled body is read at a time.
RAW_CHUNK = 256 * 1024


@dataclass(slots=True)
class Body:
    """A body that has been read.

    Attributes:
        raw: the bytes as received (for multipart: empty; the parts are in ``fields``/``files``).
        content_type: the media type, lower-case, no parameters.
        fields: multipart text fields by name (the first value of each).
        files: multipart file parts, streamed to temporary files.
        raw_file: for multipart, the bytes as received, spooled (to disk past 1 MiB); kept
            only when a guard checks the body (a signature over it), else ``None``.
    """

    raw: bytes = b""
    content_type: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    files: list[Attachment] = field(default_factory=list)
    raw_file: IO[bytes] | None = None

    def raw_chunks(self, size: int = RAW_CHUNK) -> Iterator[bytes]:
        """The bytes as received, ``size`` bytes at a time, from :attr:`raw_file` when the
        body was spooled (read from its start), else :attr:`raw` in one piece."""
        if self.raw_file is None:
            yield self.raw
            return
        self.raw_file.seek(0)
        while chunk := self.raw_file.read(size):
            yield chunk

    def close(self) -> None:
        """Delete the temporary files of every attachment and of the spooled bytes."""
        for attachment in self.files:
            attachment.close()
        if self.raw_file is not None:
            self.raw_file.close()


def check_declared_length(values: Sequence[str], limit: int) -> None:
    """Judge a body by its ``Content-Length`` before a byte of it is read.

    ``values`` are the header's values as received (several when it was repeated). Each must be
    a decimal integer (ASCII digits only: ``"³".isdigit()`` is true), and all must agree (RFC
    9110 allows ``"42, 42"``).

    Raises:
        MalformedBody: a malformed or contradictory length (400, ``bad_content_length``).
        PayloadTooLarge: the declared length is over ``limit`` (413).
    """
    text = values[0] if len(values) == 1 else ""
    if len(text) <= MAX_LENGTH_DIGITS and text.isdigit() and text.isascii():  # the common case
        if int(text) > limit:
            raise PayloadTooLarge(f"body is larger than the limit of {limit} bytes")
        return
    if not (text.isdigit() and text.isascii()):
        found = {part.strip() for value in values for part in value.split(",")}
        text = found.pop() if len(found) == 1 else ""
        if not (text.isdigit() and text.isascii()):
            raise MalformedBody(
                "Content-Length is not one non-negative decimal integer",
                error="bad_content_length",
            )
    digits = text.lstrip("0")
    if len(digits) > MAX_LENGTH_DIGITS or int(digits or "0") > limit:
        raise PayloadTooLarge(f"body is larger than the limit of {limit} bytes")


class BodySink(Protocol):
    """Receives a body chunk by chunk; raises :class:`~hookreceiver.DeliveryRejected` subclasses."""

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk; raise ``PayloadTooLarge`` as soon as a limit is passed."""

    def finish(self) -> Body:
        """The body is complete: return it (or raise ``MalformedBody``)."""

    def abort(self) -> None:
        """Reading stopped early: release whatever was buffered or spooled."""


_blank = object.__new__


class BufferedSink:
    """Keeps the whole body in memory, up to ``limit`` bytes (JSON and form bodies)."""

    __slots__ = ("_chunks", "_size", "limit", "content_type")

    def __init__(self, limit: int, content_type: str) -> None:
        self.limit = limit
        self.content_type = content_type
        self._chunks: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> None:
        """Buffer a chunk, refusing the body once it passes ``limit``."""
        self._size += len(chunk)
        if self._size > self.limit:
            self._chunks.clear()
            raise PayloadTooLarge(f"body is larger than the limit of {self.limit} bytes")
        self._chunks.append(chunk)

    def finish(self) -> Body:
        """Join the chunks."""
        chunks = self._chunks
        # Body(raw=..., content_type=...) built slot by slot: a keyword call and two default
        # factories cost more than the rest of a small body's read (this runs per delivery).
        body: Body = _blank(Body)
        body.raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        body.content_type = self.content_type
        body.fields = {}
        body.files = []
        body.raw_file = None
        return body

    def abort(self) -> None:
        """Drop what was buffered."""
        self._chunks.clear()
