"""The poller's durable cursor: one JSON file under STATE_DIR, written atomically, and a lock.

The file is replaced by rename after an fsync, so a crash leaves either the old or the new
cursor, never half of one. A lock file (an exclusive `flock`, released by the kernel if the
process dies) keeps a second poller off the same cursor. A file that cannot be read is an error
for a human to look at: it is never replaced by a default start position.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

from vpipe_core.context import WorkerContext
from vpipe_core.runner import StartupError
from vpipe_core.values.timestamps import iso_utc

T = TypeVar("T")


class CursorError(Exception):
    """The cursor cannot be used (corrupt, locked by another poller, not writable)."""


class CursorFile:
    def __init__(self, path: Path, fresh_start: str) -> None:
        self.path = path
        self.fresh_start = fresh_start  # where a poller without this file starts, for messages
        self.lock_path = path.with_name(path.name + ".lock")
        self._lock_file: IO[str] | None = None

    def lock(self) -> None:
        """Hold the lock file until `close()`; CursorError if another process holds it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.lock_path, "a+")  # noqa: SIM115 - held until close()
        except OSError as exc:
            raise CursorError(f"cannot open the lock file {self.lock_path}: {exc}") from exc
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise CursorError(
                f"another poller holds {self.lock_path} (pid {holder}); only one may run per cursor"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle

    def read(self) -> dict[str, Any] | None:
        """The stored JSON object, None when there is no file yet; CursorError if unreadable."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CursorError(f"cannot read the cursor file {self.path}: {exc}") from exc
        try:
            state = json.loads(text)
        except ValueError as exc:
            raise self.corrupt(f"not JSON: {exc}") from exc
        if not isinstance(state, dict):
            raise self.corrupt(f"expected a JSON object, got {type(state).__name__}")
        return state

    def write(self, state: Mapping[str, Any]) -> None:
        """Replace the cursor atomically: temp file, fsync, rename, fsync of the directory."""
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        data = json.dumps({**state, "updated_at": _now()}, ensure_ascii=False) + "\n"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def corrupt(self, reason: str) -> CursorError:
        return CursorError(
            f"the cursor file {self.path} is corrupt ({reason}); the poller will not guess a "
            f"start position: repair the file, or move it away deliberately to start from "
            f"{self.fresh_start}"
        )

    def close(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None


def _now() -> str:
    return iso_utc(datetime.now(UTC))


def open_cursor(ctx: WorkerContext, fresh_start: str, suffix: str = "") -> CursorFile:
    """`{STATE_DIR}/<worker><suffix>.cursor.json`, locked; StartupError (exit 2) if it is not
    available. `fresh_start` says, for messages, where a poller without the file starts."""
    path = ctx.settings.state_dir / f"{ctx.spec.name}{suffix}.cursor.json"
    cursor = CursorFile(path, fresh_start)
    try:
        cursor.lock()
    except CursorError as exc:
        raise StartupError(str(exc)) from exc
    return cursor


def stored_position(cursor: CursorFile, parse: Callable[[dict[str, Any]], T]) -> T | None:
    """`parse(state)` of the stored cursor, None without a file; StartupError (exit 2) if the
    file is unreadable or `parse` rejects it (KeyError, TypeError, ValueError)."""
    try:
        state = cursor.read()
        if state is None:
            return None
        try:
            return parse(state)
        except (KeyError, TypeError, ValueError) as exc:
            raise cursor.corrupt(f"{type(exc).__name__}: {exc}") from exc
    except CursorError as exc:
        raise StartupError(str(exc)) from exc
