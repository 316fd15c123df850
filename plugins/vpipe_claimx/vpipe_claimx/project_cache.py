"""The enricher's project cache (claimx.md §8): which projects already have their row.

The cache only lets an event skip the parent pre-flight (E1 + project and contact rows). An entry
is filled only after E1 returned a project id *and* the event's rows were acknowledged: the
enricher `stage`s the row with the record's position and `on_commit` fills it once the loop has
committed past that record. Preloaded entries (ids read from `claimx_projects`) have no row body
and expire at random points over the TTL, so they do not all expire at once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
from prometheus_client import Counter, Gauge

from vpipe_core.ops.metrics import REGISTRY

log = logging.getLogger("vpipe.claimx.project_cache")

TopicPartitionKey = tuple[str, int]
Position = tuple[str, int, int]  # topic, partition, offset

hits = Counter(
    "vpipe_claimx_project_cache_hits_total", "Project cache lookups that hit", registry=REGISTRY
)
misses = Counter(
    "vpipe_claimx_project_cache_misses_total",
    "Project cache lookups that missed (pre-flight E1 needed)",
    registry=REGISTRY,
)
size = Gauge("vpipe_claimx_project_cache_size", "Projects in the cache", registry=REGISTRY)

PURGE_INTERVAL_S = 60.0


@attrs.frozen
class CacheEntry:
    """`row` is the full project row, None for a preloaded entry; `expires_at` is monotonic."""

    row: Mapping[str, Any] | None
    expires_at: float


class ProjectCache:
    """Per-process project cache. `ttl_s = 0` disables it (every lookup misses, nothing is
    kept). Not thread-safe: the enricher calls it from its loop thread only."""

    def __init__(
        self,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        spread: Callable[[], float] = random.random,
    ) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._spread = spread
        self._entries: dict[str, CacheEntry] = {}
        self._staged: dict[Position, tuple[str, Mapping[str, Any]]] = {}
        self._last_purge = clock()

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, project_id: str) -> CacheEntry | None:
        """The live entry for `project_id` (counted as a hit), or None (a miss)."""
        entry = self._entries.get(project_id)
        if entry is not None and entry.expires_at <= self._clock():
            del self._entries[project_id]
            size.set(len(self._entries))
            entry = None
        (hits if entry is not None else misses).inc()
        return entry

    def stage(self, position: Position, project_id: str, row: Mapping[str, Any]) -> None:
        """Remember a fetched project row until the record at `position` is committed."""
        if self.enabled:
            self._staged[position] = (project_id, row)

    def on_commit(self, positions: Mapping[TopicPartitionKey, int]) -> None:
        """Fill the entries of records the loop committed (offset below the new position)."""
        committed = [
            position
            for position in self._staged
            if position[2] < positions.get((position[0], position[1]), -1)
        ]
        expires_at = self._clock() + self.ttl_s
        for position in committed:
            project_id, row = self._staged.pop(position)
            self._entries[project_id] = CacheEntry(row, expires_at)
        self._purge_expired()
        size.set(len(self._entries))

    def release(self, partitions: Iterable[TopicPartitionKey]) -> None:
        """Forget staged rows of revoked partitions: their records were not committed here."""
        revoked = set(partitions)
        self._staged = {p: s for p, s in self._staged.items() if (p[0], p[1]) not in revoked}

    def preload(self, project_ids: Iterable[str]) -> int:
        """Add body-less entries for known projects, expiring at random over the TTL."""
        if not self.enabled:
            return 0
        now = self._clock()
        added = 0
        for project_id in project_ids:
            if project_id not in self._entries:
                self._entries[project_id] = CacheEntry(None, now + self._spread() * self.ttl_s)
                added += 1
        size.set(len(self._entries))
        return added

    def _purge_expired(self) -> None:
        now = self._clock()
        if now - self._last_purge < PURGE_INTERVAL_S:
            return
        self._last_purge = now
        self._entries = {k: e for k, e in self._entries.items() if e.expires_at > now}


def read_project_ids(table_uri: str) -> list[str]:
    """Project ids of the `claimx_projects` Delta table (for `CLAIMX_PROJECT_CACHE_PRELOAD`)."""
    from deltalake import DeltaTable

    table = DeltaTable(table_uri).to_pyarrow_table(columns=["project_id"])
    return [value for value in table.column("project_id").to_pylist() if value]
