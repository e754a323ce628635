"""The fallback journal: deliveries kept in a local file while the inbox cannot take them.

A sender that never retries (Kazoo) is answered 200 whatever happens, so a delivery the inbox
cannot store would be lost. With ``Receiver(journal_dir=...)`` it is appended to a local file
instead, as the inbox would have stored it (the same :func:`~hookreceiver.inbox.keeping.capture`
record, credentials removed, encoded by the inbox's own codec), and fsynced before the answer.
The inbox worker (in the app's process, or ``hookreceiver worker``) drains the journal into the
inbox once the inbox is back; the deliveries are then handled as if they had been stored at once.

The files, in the journal's directory:

- ``journal.lock``: locked (``flock``) around every append and every rotation, by every
  process and thread;
- ``current.journal``: where deliveries are appended;
- ``draining-<time>-<pid>.journal``: ``current.journal`` renamed by a drain. The process
  draining one locks it; it is deleted once every record in it is in the inbox.

Draining is idempotent: a record goes into the inbox under its delivery id, unless a delivery
with that id is there already (:meth:`~hookreceiver.inbox.Inbox.put_new`), so a drain that died
after writing to the inbox and before deleting its file only finds its records there the next
time; and a record whose inbox row was purged meanwhile finds its event done in the dedup
store. A record torn by a crash in the middle of an append was never answered (Kazoo retries a
connection error): it is skipped, and the file it was in is kept aside as ``damaged-...``
(never drained again) rather than deleted, in case the damage was anything else.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ._sql import ALL_COLUMNS, insert_params, record_from_row
from .keeping import Keeper
from .records import InboxRecord

if TYPE_CHECKING:
    from .base import Inbox

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: one process per journal directory
    fcntl = None  # type: ignore[assignment]

__all__ = ["Journal", "decode_records", "encode_record"]

logger = logging.getLogger("hookreceiver")

CURRENT = "current.journal"
LOCK = "journal.lock"
_DRAINING = "draining-"
_SUFFIX = ".journal"
_MAGIC = b"HRJ1 "
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def encode_record(record: InboxRecord) -> bytes:
    """One journal frame: a header line (sizes and CRC-32), the inbox row's columns as JSON,
    the payload bytes, a newline. The columns are the inbox's own encoding of the record."""
    row = dict(zip(ALL_COLUMNS, insert_params(record), strict=True))
    payload: bytes = row.pop("payload")
    head = json.dumps(row, separators=(",", ":")).encode()
    crc = zlib.crc32(payload, zlib.crc32(head))
    return b"%s%d %d %08x\n%s%s\n" % (_MAGIC, len(head), len(payload), crc, head, payload)


def decode_records(data: bytes, source: str = "journal") -> list[InboxRecord]:
    """The records of a journal file's bytes; a torn or damaged frame is skipped (and logged)."""
    return _decode(data, source)[0]


def _decode(data: bytes, source: str) -> tuple[list[InboxRecord], int]:
    """The records, and how many bytes were skipped as damaged."""
    records: list[InboxRecord] = []
    skipped = 0
    position = 0
    while position < len(data):
        frame = _frame_at(data, position)
        if frame is None:
            following = data.find(_MAGIC, position + 1)
            damaged = (len(data) if following < 0 else following) - position
            skipped += damaged
            logger.warning(
                "journal %s: skipped %d damaged bytes at offset %d (a torn append?)",
                source,
                damaged,
                position,
            )
            if following < 0:
                break
            position = following
            continue
        record, position = frame
        records.append(record)
    return records, skipped


def _frame_at(data: bytes, position: int) -> tuple[InboxRecord, int] | None:
    if not data.startswith(_MAGIC, position):
        return None
    line_end = data.find(b"\n", position, position + 64)
    if line_end < 0:
        return None
    try:
        head_size, payload_size, crc = data[position + len(_MAGIC) : line_end].split(b" ")
        start = line_end + 1
        middle = start + int(head_size)
        end = middle + int(payload_size)
        if end >= len(data) or data[end : end + 1] != b"\n":
            return None
        head, payload = data[start:middle], data[middle:end]
        if zlib.crc32(payload, zlib.crc32(head)) != int(crc, 16):
            return None
        record = record_from_row({**json.loads(head), "payload": payload})
    except (ValueError, KeyError, TypeError):
        return None
    return record, end + 1


def _remove(path: str) -> None:
    """Delete a drained file (a seam for the tests' simulated crash)."""
    os.remove(path)


class Journal(Keeper):
    """An append-only local file of deliveries the inbox could not take, fsynced per delivery.

    The receiver builds one from ``Receiver(journal_dir=...)``; several processes may share a
    directory on a local disk (not a network file system, whose locks are unreliable).

    Args:
        directory: the journal's directory, created when first needed.
        clock: wall-clock seconds for the records' times (the inbox's clock, when it has one).
        recheck: seconds after an inbox failure during which deliveries come straight here,
            without waiting for the inbox again (a database that hangs would otherwise cost
            its connect timeout per delivery); a successful drain ends it at once.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        recheck: float = 5.0,
    ) -> None:
        self.directory = os.fspath(directory)
        self.clock = clock
        self.recheck = recheck
        self._inbox_down_until = 0.0
        self._current = os.path.join(self.directory, CURRENT)
        self._lock_path = os.path.join(self.directory, LOCK)
        self._thread_lock = threading.Lock()  # flock alone when fcntl is missing

    # Writing -----------------------------------------------------------------------------------

    def put(self, record: InboxRecord) -> None:
        """Append ``record`` to the journal and fsync it (and the directory, for a new file).

        Raises:
            OSError: it could not be written durably; nothing of it is left in the file.
        """
        frame = encode_record(record)
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        with self._locked():
            fd = os.open(self._current, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _CLOEXEC, 0o600)
            try:
                start = os.fstat(fd).st_size
                try:
                    view = memoryview(frame)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                except BaseException:
                    with contextlib.suppress(OSError):  # leave no torn frame behind
                        os.ftruncate(fd, start)
                    raise
            finally:
                os.close(fd)
            if start == 0:
                self._sync_directory()

    # The inbox's health, as the request path saw it ---------------------------------------------

    def inbox_failed(self) -> None:
        """Note that the inbox just failed: :meth:`bypass_inbox` is true for ``recheck`` s."""
        self._inbox_down_until = time.monotonic() + self.recheck

    def bypass_inbox(self) -> bool:
        """Whether deliveries should come straight here (the inbox failed moments ago)."""
        return self._inbox_down_until > time.monotonic()

    # Reading and draining ----------------------------------------------------------------------

    def pending(self) -> bool:
        """Whether anything waits to be drained (a cheap look at the directory)."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return False
        for name in names:
            if name.startswith(_DRAINING) and name.endswith(_SUFFIX):
                return True
            if name == CURRENT:
                with contextlib.suppress(OSError):
                    if os.path.getsize(self._current) > 0:
                        return True
        return False

    def records(self) -> list[InboxRecord]:
        """Every record waiting in the journal, oldest first (for inspection)."""
        found: list[InboxRecord] = []
        if not os.path.isdir(self.directory):
            return found
        # Under the journal's lock: a drain's rotation between the listing of the draining
        # files and the read of the current one would hide the current file's records.
        with self._locked():
            for path in [*self._draining_files(), self._current]:
                try:
                    with open(path, "rb") as file:
                        found.extend(decode_records(file.read(), path))
                except FileNotFoundError:
                    continue
        return found

    def drain(self, inbox: Inbox) -> int:
        """Move every journaled delivery into ``inbox``; how many were new there.

        Files are deleted once all their records are in the inbox. Safe to run in several
        processes at once; a file another process is draining is left to it.

        Raises:
            StoreUnavailable: the inbox is still unreachable (what was moved stays moved; the
                rest waits for the next drain).
        """
        if not self.pending():
            return 0
        self._rotate()
        moved = 0
        for path in self._draining_files():
            moved += self._drain_file(path, inbox)
        self._inbox_down_until = 0.0  # the inbox took them: it is back
        return moved

    def _rotate(self) -> None:
        with self._locked():
            try:
                if os.path.getsize(self._current) == 0:
                    return
            except FileNotFoundError:
                return
            name = f"{_DRAINING}{time.time_ns():020d}-{os.getpid()}{_SUFFIX}"
            os.rename(self._current, os.path.join(self.directory, name))
            self._sync_directory()

    def _draining_files(self) -> list[str]:
        try:
            names = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return []
        return [
            os.path.join(self.directory, name)
            for name in names
            if name.startswith(_DRAINING) and name.endswith(_SUFFIX)
        ]

    def _drain_file(self, path: str, inbox: Inbox) -> int:
        try:
            fd = os.open(path, os.O_RDONLY | _CLOEXEC)
        except FileNotFoundError:
            return 0  # another process drained it since the listing
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return 0  # another process is draining it
            if os.fstat(fd).st_nlink == 0:
                return 0  # drained and deleted between the listing and the lock
            with os.fdopen(os.dup(fd), "rb") as file:
                data = file.read()
            records, skipped = _decode(data, path)
            moved = sum(1 for record in records if inbox.put_new(record))
            if skipped:
                # Kept aside, never drained again: bytes we could not read are not thrown away.
                aside = os.path.join(self.directory, "damaged-" + os.path.basename(path))
                os.rename(path, aside)
                logger.error("journal %s: damaged bytes kept in %s for inspection", path, aside)
            else:
                _remove(path)
            self._sync_directory()
        finally:
            os.close(fd)
        logger.info(
            "journal %s: %d deliveries moved into the inbox (%d there already)",
            path,
            moved,
            len(records) - moved,
        )
        return moved

    # Locks and durability ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            if fcntl is None:
                yield
                return
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | _CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the lock

    def _sync_directory(self) -> None:
        # A new or renamed file's name is durable only once its directory is synced.
        try:
            fd = os.open(self.directory, os.O_RDONLY | _CLOEXEC)
        except OSError:
            return
        try:
            with contextlib.suppress(OSError):
                os.fsync(fd)
        finally:
            os.close(fd)

    def __repr__(self) -> str:
        return f"Journal({self.directory!r})"
