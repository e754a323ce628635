"""A file kept with a stored delivery (a fax document), read and written a chunk at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..parsing.attachment import Attachment

__all__ = ["FILE_CHUNK", "StoredFile", "spooled_chunks"]

#: Bytes of a stored file read or written at a time (and the size of an inbox's file chunk).
FILE_CHUNK = 1024 * 1024


class StoredFile:
    """A multipart file part kept in the inbox (a fax document).

    Its content is given as bytes (``data``), or as ``chunks``: a function that yields it a
    piece at a time each time it is called (the request's spooled file while a delivery is
    captured, the inbox's rows when it is read back), so a large fax is never held whole in
    memory on its way in or out of the inbox.

    Attributes:
        field: the multipart field name.
        filename: the file name the sender gave, or ``None``.
        content_type: the part's content type.
        size: the number of bytes.
    """

    __slots__ = ("field", "filename", "content_type", "size", "_data", "_chunks")

    def __init__(
        self,
        field: str,
        filename: str | None,
        content_type: str,
        data: bytes = b"",
        *,
        size: int | None = None,
        chunks: Callable[[], Iterator[bytes]] | None = None,
    ) -> None:
        self.field = field
        self.filename = filename
        self.content_type = content_type
        self.size = len(data) if size is None else size
        self._data = data
        self._chunks = chunks

    def chunks(self) -> Iterator[bytes]:
        """The content, a piece (of at most about 1 MiB) at a time."""
        if self._chunks is None:
            for start in range(0, len(self._data), FILE_CHUNK):
                yield self._data[start : start + FILE_CHUNK]
            return
        received = 0
        for chunk in self._chunks():
            received += len(chunk)
            yield chunk
        if received != self.size:
            raise ValueError(
                f"stored file {self.field!r} has {received} of its {self.size} bytes: "
                "the delivery was deleted (purged) while it was read"
            )

    @property
    def data(self) -> bytes:
        """The whole content in memory. Prefer :meth:`chunks` or :meth:`attachment`."""
        return self._data if self._chunks is None else b"".join(self.chunks())

    def attachment(self) -> Attachment:
        """A fresh :class:`~hookreceiver.Attachment` over the stored content, written to it a
        chunk at a time (on disk past 1 MiB)."""
        attachment = Attachment(self.field, self.filename, self.content_type)
        try:
            for chunk in self.chunks():
                attachment.write(chunk)
        except BaseException:
            attachment.close()
            raise
        attachment.finish()
        return attachment

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StoredFile):
            return NotImplemented
        mine = (self.field, self.filename, self.content_type, self.size)
        theirs = (other.field, other.filename, other.content_type, other.size)
        return mine == theirs and self.data == other.data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"StoredFile(field={self.field!r}, filename={self.filename!r}, "
            f"content_type={self.content_type!r}, size={self.size})"
        )


def spooled_chunks(attachment: Attachment) -> Iterator[bytes]:
    """The content of a request's spooled attachment, a chunk at a time."""
    file = attachment.open()
    while chunk := file.read(FILE_CHUNK):
        yield chunk
