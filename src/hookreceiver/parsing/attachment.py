"""A file that arrived with a delivery (a fax document), kept in a spooled temporary file."""

from __future__ import annotations

from pathlib import Path
from typing import IO

__all__ = ["Attachment"]

#: Files up to this size stay in memory; larger ones roll over to a temporary file on disk.
SPOOL_IN_MEMORY = 1024 * 1024
_HASH_CHUNK = 1024 * 1024


class Attachment:
    """A file from a multipart delivery, streamed to a temporary file while it arrived.

    The temporary file is removed when the delivery's handlers have finished; call :meth:`save`
    or copy from :meth:`open` inside a handler to keep it.

    Attributes:
        field: the multipart field name (``attachment`` for Documo).
        filename: the file name the sender gave, or ``None``.
        content_type: the part's content type (``application/pdf`` when the sender gave none).
        size: the number of bytes received.
        sha256: the hex SHA-256 of the content, computed on first use (most handlers never ask,
            and hashing while streaming would cost every fax delivery ~1/6 of its parse time).
    """

    __slots__ = ("field", "filename", "content_type", "size", "_file", "_sha256")

    def __init__(
        self,
        field: str,
        filename: str | None,
        content_type: str,
        *,
        spool_dir: str | None = None,
    ) -> None:
        self.field = field
        self.filename = filename
        self.content_type = content_type
        self.size = 0
        self._sha256: str | None = None
        import tempfile  # with the first attachment, not with every provider's import

        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(
            max_size=SPOOL_IN_MEMORY, dir=spool_dir, prefix="hookreceiver-"
        )

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        *,
        field: str = "attachment",
        filename: str | None = None,
        content_type: str = "application/octet-stream",
    ) -> Attachment:
        """Build an attachment from bytes already in memory (tests, the inbox replay)."""
        attachment = cls(field, filename, content_type)
        attachment.write(data)
        attachment.finish()
        return attachment

    def write(self, data: bytes) -> None:
        """Append a chunk while the body streams in."""
        self._file.write(data)
        self.size += len(data)

    def finish(self) -> None:
        """Mark the file complete and rewind it."""
        self._file.seek(0)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the whole file, read once on first use (the file's position is kept).

        Raises:
            ValueError: the temporary file is already gone (after the handlers finished).
        """
        if self._sha256 is None:
            file = self._file
            if file.closed:
                raise ValueError(
                    "the attachment's temporary file was removed when the handlers finished: "
                    "read sha256 inside a handler"
                )
            import hashlib  # here, not with the module: read once per attachment at most

            position = file.tell()
            file.seek(0)
            digest = hashlib.sha256()
            while chunk := file.read(_HASH_CHUNK):
                digest.update(chunk)
            file.seek(position)
            self._sha256 = digest.hexdigest()
        return self._sha256

    def open(self) -> IO[bytes]:
        """The file, rewound to its start. Read it; do not close it (the receiver does)."""
        self._file.seek(0)
        return self._file

    def read(self) -> bytes:
        """The whole content in memory. Prefer :meth:`open` or :meth:`save` for large files."""
        return self.open().read()

    def save(self, path: str | Path) -> Path:
        """Copy the content to ``path`` (streamed) and return the path."""
        target = Path(path)
        with target.open("wb") as out:
            import shutil

            shutil.copyfileobj(self.open(), out, 1024 * 1024)
        return target

    @property
    def in_memory(self) -> bool:
        """Whether the content is still held in memory (small files) rather than on disk."""
        return not getattr(self._file, "_rolled", True)

    def close(self) -> None:
        """Delete the temporary file. Called by the receiver after the handlers ran."""
        self._file.close()

    @property
    def closed(self) -> bool:
        """Whether the temporary file has been removed."""
        return self._file.closed

    def __repr__(self) -> str:
        return (
            f"Attachment(field={self.field!r}, filename={self.filename!r}, "
            f"content_type={self.content_type!r}, size={self.size})"
        )
