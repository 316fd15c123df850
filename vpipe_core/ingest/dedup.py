"""A persistent dedup window (runtime.md §13: "persistent 24 h dedup window; intra-batch marks
rolled back on failure"), stored in SQLite under STATE_DIR.

A key is *held* while its output is in flight and becomes durable only in `on_commit`, once the
loop has proven the output acknowledged and committed the offset. A record handled again (after
an in-place retry or a crash) is not its own duplicate, and a hold never outlives a failed batch.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from vpipe_core.local_db import open_wal

TopicPartitionKey = tuple[str, int]


class DedupWindow:
    def __init__(self, path: Path, window_s: float, max_entries: int) -> None:
        self._db = open_wal(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, at REAL NOT NULL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS seen_at ON seen (at)")
        self._window_s = window_s
        self._max_entries = max_entries
        self._held: dict[str, tuple[TopicPartitionKey, int]] = {}
        self._last_purge = 0.0

    def is_duplicate(self, key: str, partition: TopicPartitionKey, offset: int) -> bool:
        held = self._held.get(key)
        if held is not None:
            return held != (partition, offset)
        row = self._db.execute("SELECT at FROM seen WHERE key = ?", (key,)).fetchone()
        return row is not None and row[0] >= time.time() - self._window_s

    def hold(self, key: str, partition: TopicPartitionKey, offset: int) -> None:
        self._held[key] = (partition, offset)

    def on_commit(self, positions: dict[TopicPartitionKey, int]) -> None:
        """Make the holds of committed records durable."""
        done = [
            key
            for key, (partition, offset) in self._held.items()
            if offset < positions.get(partition, -1)
        ]
        if not done:
            return
        now = time.time()
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO seen (key, at) VALUES (?, ?)", [(k, now) for k in done]
            )
        for key in done:
            del self._held[key]
        if now - self._last_purge > 600:
            self.purge(now)

    def release(self, partitions: set[TopicPartitionKey]) -> None:
        """Drop holds of revoked partitions: their records will be handled again elsewhere."""
        self._held = {k: v for k, v in self._held.items() if v[0] not in partitions}

    def purge(self, now: float | None = None) -> None:
        now = now or time.time()
        self._last_purge = now
        with self._transaction():
            self._db.execute("DELETE FROM seen WHERE at < ?", (now - self._window_s,))
            self._db.execute(
                "DELETE FROM seen WHERE key IN (SELECT key FROM seen ORDER BY at DESC LIMIT -1 "
                "OFFSET ?)",
                (self._max_entries,),
            )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One explicit transaction: in autocommit mode (isolation_level=None) `with db:` does
        not open one, and every row of an executemany became its own commit."""
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
