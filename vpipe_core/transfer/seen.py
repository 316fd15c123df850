"""Download dedup: a media cached or uploaded within the window is not fetched
again, unless the task is a DLQ replay or a re-download after a cache miss.

One SQLite file per domain under `STATE_DIR`, shared by that domain's download and upload
workers on the host (separate processes; WAL lets them read while one writes). The workers
record a media only after the output that proves it (cached message, completed result) is
acknowledged and its offset committed (`AfterCommit`), so a failed attempt never marks it.
A `cached` mark counts only while its cache file exists: a file the cleaner removed before it
was uploaded must be fetched again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs

from vpipe_core.local_db import open_wal

CACHED = "cached"
UPLOADED = "uploaded"
PURGE_INTERVAL_S = 600.0


@attrs.frozen
class Mark:
    media_id: str
    state: str  # CACHED or UPLOADED
    path: str | None = None  # the cache file, for CACHED marks


class TransferLog:
    def __init__(self, path: Path, window_s: float, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._db = open_wal(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS transfers (media_id TEXT NOT NULL, state TEXT NOT NULL, "
            "path TEXT, at REAL NOT NULL, PRIMARY KEY (media_id, state))"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS transfers_at ON transfers (at)")
        self._last_purge = 0.0

    def recent(self, media_id: str) -> str | None:
        """`uploaded` or `cached` when the media went that far within the window, else None."""
        since = self._clock() - self._window_s
        with self._lock:
            rows = self._db.execute(
                "SELECT state, path FROM transfers WHERE media_id = ? AND at >= ?",
                (media_id, since),
            ).fetchall()
        states = dict(rows)
        if UPLOADED in states:
            return UPLOADED
        cached = states.get(CACHED)
        if cached and Path(cached).exists():
            return CACHED
        return None

    def record(self, marks: Iterable[Mark]) -> None:
        now = self._clock()
        rows = [(mark.media_id, mark.state, mark.path, now) for mark in marks]
        if not rows:
            return
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO transfers VALUES (?, ?, ?, ?)", rows)
        if now - self._last_purge > PURGE_INTERVAL_S:
            self.purge(now)

    def purge(self, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        self._last_purge = now
        with self._lock:
            self._db.execute("DELETE FROM transfers WHERE at < ?", (now - self._window_s,))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def log_path(state_dir: Path, domain: str) -> Path:
    return state_dir / f"{domain}-transfers.sqlite"
