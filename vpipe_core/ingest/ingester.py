"""The ingester pattern both domains share: read an event, drop it when its key was seen within
the persistent dedup window, otherwise emit its task (runtime.md §13).

A domain supplies `read(record)`: `Dead` for an invalid event, else `(key, task)` where `task`
is the one output to produce, or None for a valid event that needs no task (counted as seen
only once it has one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vpipe_core.context import WorkerContext
from vpipe_core.ingest.dedup import DedupWindow
from vpipe_core.ops import metrics
from vpipe_core.outcome import Dead, Done, Outcome, Output
from vpipe_core.record import Record

Reading = tuple[str, Output | None] | Dead
NOTHING = Done(())


class DedupIngester:
    def __init__(self, dedup: DedupWindow, worker: str, read: Callable[[Record], Reading]):
        self._dedup = dedup
        self._read = read
        self._dedup_hits = metrics.dedup_hits.labels(worker)

    def handle(self, record: Record) -> Outcome:
        reading = self._read(record)
        if isinstance(reading, Dead):
            return reading
        key, task = reading
        where = (record.topic, record.partition)
        if self._dedup.is_duplicate(key, where, record.offset):
            self._dedup_hits.inc()
            return NOTHING
        if task is None:
            return NOTHING
        self._dedup.hold(key, where, record.offset)
        return Done((task,))

    def on_commit(self, positions: dict[tuple[str, int], int]) -> None:
        self._dedup.on_commit(positions)

    def on_revoke(self, partitions: list[Any]) -> None:
        self._dedup.release({(tp.topic, tp.partition) for tp in partitions})

    def close(self) -> None:
        self._dedup.close()


def worker_dedup_window(ctx: WorkerContext, window_hours: int) -> DedupWindow:
    """`{STATE_DIR}/<worker>.dedup.sqlite`, capped at DEDUP_MAX_ENTRIES."""
    store = ctx.settings.state_dir / f"{ctx.spec.name}.dedup.sqlite"
    return DedupWindow(store, window_hours * 3600, ctx.settings.dedup_max_entries)
