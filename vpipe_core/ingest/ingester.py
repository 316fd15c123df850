"""The ingester pattern both domains share: read an event, drop it when its key was seen within
the dedup window, otherwise emit its task and the key's changelog entry (runtime.md §13).

The window is a `KeyStore` of the input partition: the poller keys each event by its dedup key,
so every copy of an event lands in one partition, and the entry is produced with the task, so
it is durable exactly when the task is.

A domain supplies `read(record)`: `Dead` for an invalid event, else `(key, task)` where `task`
is the one output to produce, or None for a valid event that needs no task (counted as seen
only once it has one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vpipe_core.ops import metrics
from vpipe_core.outcome import Dead, Done, Outcome, Output
from vpipe_core.record import Record
from vpipe_core.state.store import KeyStore

Reading = tuple[str, Output | None] | Dead
NOTHING = Done(())


class DedupIngester:
    def __init__(self, seen: KeyStore, worker: str, read: Callable[[Record], Reading]):
        self._seen = seen
        self._read = read
        self._dedup_hits = metrics.dedup_hits.labels(worker)

    def handle(self, record: Record) -> Outcome:
        reading = self._read(record)
        if isinstance(reading, Dead):
            return reading
        key, task = reading
        partition, offset = record.partition, record.offset
        if self._seen.is_duplicate(key, partition, offset):
            self._dedup_hits.inc()
            return NOTHING
        if task is None:
            return NOTHING
        return Done((task, self._seen.mark(key, partition, offset)))

    def on_assign(self, partitions: list[Any]) -> None:
        self._seen.on_assign(partitions)

    def on_revoke(self, partitions: list[Any]) -> None:
        self._seen.on_revoke(partitions)
