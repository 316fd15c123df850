"""Start writing a file's dirty pages to disk while the file is still being written.

A download is fsynced before it is published. Left to the kernel, a whole large file is still
in the page cache at that moment and the fsync waits for all of it (≈ 0.2 s for 500 MiB here).
`WritebackHint` asks the kernel every `step` bytes to start writing what was appended since the
last call (Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)`: it starts the I/O and returns), so
the disk works while the body still arrives and the final fsync finds little left to do.

It is only a hint: durability still comes from the fsync. Where the call does not exist (not
Linux, no glibc) or fails (the file is not a regular file), nothing is done.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Final

MIB = 1024 * 1024
DEFAULT_STEP: Final = 8 * MIB
_SYNC_FILE_RANGE_WRITE: Final = 2

_SyncFileRange = Callable[[int, int, int, int], int]


def _load_sync_file_range() -> _SyncFileRange | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    call: _SyncFileRange = function
    return call


_sync_file_range: Final = _load_sync_file_range()


class WritebackHint:
    """Tracks how much of `fd` was handed to the kernel since the last hint."""

    def __init__(self, fd: int, step: int = DEFAULT_STEP) -> None:
        self._fd = fd
        self._step = step
        self._started = 0
        self._enabled = _sync_file_range is not None

    def written(self, size: int) -> None:
        """The file now holds `size` bytes; start writing them back once a step has gathered."""
        if self._enabled and size - self._started >= self._step:
            self._start(size)

    def restart(self) -> None:
        """The file was truncated to zero."""
        self._started = 0

    def _start(self, size: int) -> None:
        assert _sync_file_range is not None
        if _sync_file_range(self._fd, self._started, size - self._started, _SYNC_FILE_RANGE_WRITE):
            self._enabled = False  # e.g. ESPIPE: not a regular file; nothing to hint
        self._started = size


def available() -> bool:
    """Whether this platform has the call (for the benchmark's report)."""
    return _sync_file_range is not None
