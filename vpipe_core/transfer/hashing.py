"""SHA-256 of a stream, computed on a thread of its own while the stream is still arriving.

Hashing is the most expensive step of a download (≈ 0.6 ms per MiB with SHA-NI, more than
receiving and writing the same MiB together). `hashlib` releases the GIL for large buffers, so a
second thread hashes one piece while the downloading thread receives and writes the next. The
queue is bounded: the pieces waiting to be hashed never hold more than `depth` pieces of memory,
and a producer faster than the hash waits for it.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from typing import Final

DEFAULT_DEPTH: Final = 4


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


_RESET: Final = _Marker("reset")
_FINISH: Final = _Marker("finish")
_Item = bytes | _Marker


class StreamHasher:
    """`update(piece)` in stream order from one thread; `hexdigest()` once the stream ended.

    The thread starts with the first piece, so an empty stream costs no thread. `close()`
    stops it without waiting for a digest (the download failed); it is idempotent.
    """

    def __init__(self, depth: int = DEFAULT_DEPTH) -> None:
        self._pieces: queue.Queue[_Item] = queue.Queue(maxsize=depth)
        self._hash = hashlib.sha256()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._digest: str | None = None

    def update(self, piece: bytes) -> None:
        if self._digest is not None:
            raise RuntimeError("the stream was hashed already")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
            self._thread.start()
        self._pieces.put(piece)

    def reset(self) -> None:
        """Forget what was hashed so far (the stream starts again from its first byte)."""
        if self._thread is None:
            self._hash = hashlib.sha256()
        else:
            self._pieces.put(_RESET)

    def hexdigest(self) -> str:
        """Wait for the pieces handed over so far and return their digest."""
        if self._digest is None:
            self._stop()
            if self._failure is not None:
                raise RuntimeError("hashing failed") from self._failure
            self._digest = self._hash.hexdigest()
        return self._digest

    def close(self) -> None:
        self._stop()

    def _stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._pieces.put(_FINISH)
            thread.join()

    def _run(self) -> None:
        while (piece := self._pieces.get()) is not _FINISH:
            if piece is _RESET:
                self._hash = hashlib.sha256()
            elif isinstance(piece, bytes) and self._failure is None:
                try:
                    self._hash.update(piece)
                except Exception as exc:  # re-raised by hexdigest()
                    self._failure = exc
