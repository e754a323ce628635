"""Body sinks: push-style readers that enforce size limits while the body arrives.

The sync and async drivers pull chunks from the server and :meth:`BodySink.feed` them here, so a
body over its limit is refused at the first chunk past it and the rest is never read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..errors import PayloadTooLarge
from .attachment import Attachment

__all__ = ["Body", "BodySink", "BufferedSink"]


@dataclass(slots=True)
class Body:
    """A body that has been read.

    Attributes:
        raw: the bytes as received (for multipart: empty; the parts are in ``fields``/``files``).
        content_type: the media type, lower-case, no parameters.
        fields: multipart text fields by name (the first value of each).
        files: multipart file parts, streamed to temporary files.
    """

    raw: bytes = b""
    content_type: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    files: list[Attachment] = field(default_factory=list)

    def close(self) -> None:
        """Delete the temporary files of every attachment."""
        for attachment in self.files:
            attachment.close()


class BodySink(Protocol):
    """Receives a body chunk by chunk; raises :class:`~hookreceiver.DeliveryRejected` subclasses."""

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk; raise ``PayloadTooLarge`` as soon as a limit is passed."""

    def finish(self) -> Body:
        """The body is complete: return it (or raise ``MalformedBody``)."""

    def abort(self) -> None:
        """Reading stopped early: release whatever was buffered or spooled."""


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
        raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return Body(raw=raw, content_type=self.content_type)

    def abort(self) -> None:
        """Drop what was buffered."""
        self._chunks.clear()
