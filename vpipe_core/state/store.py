"""`KeyStore`: the keys seen within a window, per input partition, kept in memory and made
durable by changelog records that the handler produces with the record's other outputs (so a
mark is exactly as durable as the record's task: the loop commits an offset only after every
output of the record is acknowledged).

On assignment the partitions' entries are read back from the changelog before the first record
of them is handled; on revocation they are dropped. A key is a duplicate when its entry is
younger than the window and came from another input record: the same record handled again (an
in-place retry, a replay after a crash) is not its own duplicate.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from vpipe_core.context import WorkerContext
from vpipe_core.kafka.clientconf import common_config
from vpipe_core.ops import metrics
from vpipe_core.outcome import Output
from vpipe_core.state.changelog import Entry, changelog_topic, encode, window_hours
from vpipe_core.state.restore import read_partitions

log = logging.getLogger("vpipe.state")

PURGE_INTERVAL_S = 60.0
Reader = Callable[[str, Iterable[int], Callable[[int, bytes, Entry | None], None]], None]


class KeyStore:
    """`reader(topic, partitions, apply)` reads changelog partitions (`restore.read_partitions`
    with the worker's client settings). `max_entries` caps all partitions together; the oldest
    entry of the partition being written goes first."""

    def __init__(
        self,
        worker: str,
        source: str,
        changelog: str,
        window_s: float,
        max_entries: int,
        reader: Reader,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source  # the input topic whose partitions the entries follow
        self.changelog = changelog
        self._worker = worker
        self._window_s = window_s
        self._max_entries = max_entries
        self._reader = reader
        self._clock = clock
        self._lock = threading.Lock()  # the download worker marks from several threads
        self._partitions: dict[int, dict[str, Entry]] = {}
        self._size = 0
        self._purged_at = 0.0

    def is_duplicate(self, key: str, partition: int, offset: int) -> bool:
        entries = self._partitions.get(partition)
        entry = entries.get(key) if entries is not None else None
        return (
            entry is not None
            and entry.offset != offset
            and entry.seen_at >= self._clock() - self._window_s
        )

    def mark(self, key: str, partition: int, offset: int) -> Output:
        """Remember `key` as seen by this record; returns the changelog record to produce with
        the record's other outputs."""
        entry = Entry(self._clock(), offset)
        with self._lock:
            entries = self._partitions.get(partition)
            if entries is None:
                entries = self._partitions[partition] = {}
            self._put(entries, key, entry)
        # positional, partition last: attrs parses a keyword argument too, once per event
        return Output(self.changelog, encode(partition, entry), key.encode(), None, partition)

    def restore(self, partitions: Iterable[int]) -> None:
        """Read the entries of `partitions` from the changelog (the records of those partitions
        are handled only after this returns)."""
        wanted = sorted(set(partitions))
        if not wanted:
            return
        started = time.monotonic()
        since = self._clock() - self._window_s
        counts = dict.fromkeys(wanted, 0)
        restored: dict[int, dict[str, Entry]] = {p: {} for p in wanted}

        def apply(partition: int, key: bytes, entry: Entry | None) -> None:
            entries = restored[partition]
            name = key.decode()
            entries.pop(name, None)
            if entry is not None and entry.seen_at >= since:
                entries[name] = entry

        self._reader(self.changelog, wanted, apply)
        seconds = time.monotonic() - started
        with self._lock:
            for partition, entries in restored.items():
                self._drop(partition)
                target = self._partitions[partition] = {}
                for key, entry in sorted(entries.items(), key=lambda item: item[1].seen_at):
                    self._put(target, key, entry)
                counts[partition] = len(target)
        metrics.state_restore_seconds.labels(self._worker).observe(seconds)
        metrics.state_restored_entries.labels(self._worker).inc(sum(counts.values()))
        log.info(
            "state restored from the changelog",
            extra={
                "changelog": self.changelog,
                "entries": {str(p): n for p, n in counts.items()},
                "seconds": round(seconds, 3),
            },
        )

    def on_assign(self, partitions: list[Any]) -> None:
        """The handler's `on_assign`: restore the assigned partitions of the input topic."""
        self.restore(tp.partition for tp in partitions if tp.topic == self.source)

    def on_revoke(self, partitions: list[Any]) -> None:
        self.drop(tp.partition for tp in partitions if tp.topic == self.source)

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget revoked or lost partitions: their next owner restores them."""
        with self._lock:
            for partition in partitions:
                self._drop(partition)

    def _drop(self, partition: int) -> None:
        self._size -= len(self._partitions.pop(partition, {}))

    def _put(self, entries: dict[str, Entry], key: str, entry: Entry) -> None:
        """Insertion order is age order: a key marked again moves to the end."""
        if entries.pop(key, None) is None:
            self._size += 1
        entries[key] = entry
        while self._size > self._max_entries and len(entries) > 1:
            del entries[next(iter(entries))]
            self._size -= 1
        if entry.seen_at - self._purged_at > PURGE_INTERVAL_S:
            self._purge(entry.seen_at - self._window_s)

    def _purge(self, before: float) -> None:
        self._purged_at = before + self._window_s
        for entries in self._partitions.values():
            while entries:
                oldest = next(iter(entries))
                if entries[oldest].seen_at >= before:
                    break
                del entries[oldest]
                self._size -= 1


def worker_key_store(ctx: WorkerContext) -> KeyStore:
    """The store of the worker's spec (`changelog_hours`), capped at DEDUP_MAX_ENTRIES."""
    spec = ctx.spec
    return KeyStore(
        spec.name,
        spec.input_topics[0],
        changelog_topic(spec),
        window_hours(spec, ctx.env) * 3600,
        ctx.settings.dedup_max_entries,
        changelog_reader(ctx),
    )


def changelog_reader(ctx: WorkerContext) -> Reader:
    """Reads changelog partitions with a consumer of the worker's client settings."""
    config = {
        **common_config(ctx.settings),
        "client.id": f"{ctx.worker_id}-restore",
        "group.id": f"{ctx.spec.name}.changelog-restore",  # never joined: partitions assigned
    }

    def read(topic: str, partitions: Iterable[int], apply: Any) -> None:
        read_partitions(config, topic, partitions, apply)

    return read
