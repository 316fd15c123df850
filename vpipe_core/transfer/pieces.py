"""A thread that consumes a stream's pieces in order, so the receiving thread need not wait.

A download receives a piece, writes it to disk and hashes it. Done one after the other on one
thread, the next receive waits for the hash; yet `hashlib` releases the GIL for large buffers.
The downloader hands every piece to a hashing `PieceThread` and goes back to the socket. The
queue is bounded (`depth` pieces), so memory stays bounded and a receiver faster than the
hash waits for it.

A failure of `consume` (e.g. ENOSPC) is kept and raised in the caller's thread by the next
`put` or `drain`; pieces after it are dropped.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Final

DEFAULT_DEPTH: Final = 4

Consumer = Callable[[bytes], None]


class PieceThread:
    """`put(piece)` from one thread; `consume(piece)` runs on this thread, in the same order.

    The thread starts with the first piece, so a stream that never gets one costs no thread.
    """

    def __init__(self, consume: Consumer, name: str, depth: int = DEFAULT_DEPTH) -> None:
        self._consume = consume
        self._name = name
        self._pieces: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._thread: threading.Thread | None = None
        self._failure: Exception | None = None

    def put(self, piece: bytes) -> None:
        self._raise_failure()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        self._pieces.put(piece)

    def drain(self) -> None:
        """Wait until every piece handed over is consumed; raise the consumer's failure."""
        if self._thread is not None:
            self._pieces.join()
        self._raise_failure()

    def close(self) -> None:
        """Stop the thread once the pieces already handed over are consumed; idempotent."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._pieces.put(None)
            thread.join()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        while (piece := self._pieces.get()) is not None:
            try:
                if self._failure is None:
                    self._consume(piece)
            except Exception as exc:  # raised again in the caller's thread
                self._failure = exc
            finally:
                self._pieces.task_done()
        self._pieces.task_done()
