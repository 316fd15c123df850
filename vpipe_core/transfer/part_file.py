"""`{cache_dir}/tmp/{media_id}.part`: where a download is written before it is published.

The downloading thread receives a piece, writes it (with early writeback, `writeback`) and
hands it to a hashing thread (`pieces`), then goes back to the socket: sha256 is the costliest
step of a download and `hashlib` releases the GIL for large buffers, so hashing one piece
overlaps receiving the next. The hash catches up before its digest is read or it is reset.
(Writing on a third thread was measured too and gained nothing here.)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from vpipe_core.outcome import Category
from vpipe_core.transfer.errors import DownloadError, local_disk
from vpipe_core.transfer.pieces import PieceThread
from vpipe_core.transfer.writeback import WritebackHint


class PartFile:
    """The part file, locked against a concurrent download of the same media.

    Counts and hashes what is written; removed unless published. Local disk errors are raised
    as infrastructure `DownloadError`s.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.size = 0
        self._file = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self._writeback = WritebackHint(fd)
        self._hashing = PieceThread(self._hash_piece, "part-sha256")
        self._locked = False
        self._published = False

    @classmethod
    @contextlib.contextmanager
    def open(cls, path: Path) -> Iterator[PartFile]:
        with local_disk(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        part = cls(path, fd)
        try:
            part._lock()
            yield part
        finally:
            part._close()

    @property
    def sha256(self) -> str:
        """The digest of everything written (waits for the hashing thread to catch up)."""
        self._hashing.drain()
        return self._hash.hexdigest()

    def write(self, data: bytes) -> None:
        with local_disk(self.path):
            self._file.write(data)
        self._hashing.put(data)
        self.size += len(data)
        self._writeback.written(self.size)

    def restart(self) -> None:
        """Start again from byte 0 (the server ignored a range request)."""
        self._hashing.drain()
        self._file_truncate()
        self._hash = hashlib.sha256()
        self._writeback.restart()
        self.size = 0

    def publish(self, dest: Path, *, fsync: bool) -> None:
        """Flush (and fsync), then rename atomically onto `dest`."""
        with local_disk(dest):
            self._file.flush()
            if fsync:
                os.fsync(self._file.fileno())
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(self.path, dest)
            except FileNotFoundError:  # the cache cleaner removed the empty directory just now
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.path, dest)
        self._published = True

    def _hash_piece(self, piece: bytes) -> None:
        self._hash.update(piece)

    def _lock(self) -> None:
        busy = DownloadError(Category.TRANSIENT, f"{self.path.name} is being downloaded already")
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise busy from exc
        with local_disk(self.path):
            mine, current = os.fstat(self._file.fileno()), os.stat(self.path)
        if (mine.st_dev, mine.st_ino) != (current.st_dev, current.st_ino):
            raise busy  # the file we locked was renamed or removed meanwhile
        self._locked = True
        self._file_truncate()

    def _file_truncate(self) -> None:
        with local_disk(self.path):
            self._file.flush()
            if os.fstat(self._file.fileno()).st_size:
                self._file.seek(0)
                self._file.truncate()

    def _close(self) -> None:
        self._hashing.close()
        if self._locked and not self._published:  # removed while still locked
            with contextlib.suppress(OSError):
                self.path.unlink()
        with contextlib.suppress(OSError):
            self._file.close()
