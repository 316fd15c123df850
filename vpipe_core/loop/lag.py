"""Lag in time: per partition, the age of the oldest record this group has not committed past.

The fetch steps report the first record of each run of one partition they see (`saw`: once per
run, not per record). Each scrape places the committed position among those run heads
(`due_times`): the head at or before it is the oldest unprocessed record (its timestamp is at
most one run older than the exact one, so the age errs on the high side). Caught up (the
committed position reached the high watermark of the last fetch) is 0; a committed position
whose record this consumer has not fetched yet leaves the series absent rather than guessed.
Retry tiers count from when the record fell due (its timestamp plus the tier's delay).

The scrape runs on the metrics thread, so a loop stuck in a handler still reports a growing
lag. It only reads what the loop thread writes: the heads, and from the client's statistics
(every 15 s) the offset it hands out next and the high watermark; the client is not called.
A head at or past the committed position proves that a record waits, whatever those say.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from vpipe_core.kafka.offsets import OffsetTracker, TopicPartitionKey
from vpipe_core.ops import metrics
from vpipe_core.retry.topics import tier_delay

CAUGHT_UP = 0.0
_UNKNOWN = -1001  # librdkafka's OFFSET_INVALID

Heads = deque[tuple[int, float]]  # (offset, timestamp in seconds) of each run's first record


class LagClock:
    def __init__(
        self,
        worker: str,
        consumer: Any,
        offsets: OffsetTracker,
        assigned: set[TopicPartitionKey],
    ) -> None:
        self._worker = worker
        self._consumer = consumer
        self._offsets = offsets
        self._assigned = assigned
        self.heads: dict[TopicPartitionKey, Heads] = {}
        self._fetched: dict[TopicPartitionKey, int] = {}  # next offset handed to the loop
        self._high: dict[TopicPartitionKey, int] = {}  # high watermark, as last fetched
        metrics.lag_clock.attach(worker, self.due_times)

    def saw(self, key: TopicPartitionKey, offset: int, timestamp_ms: int) -> None:
        """The first record of a run of `key`; a partition seeked back starts over from it."""
        heads = self.heads.get(key)
        if heads is None:
            heads = self.heads[key] = deque()
        while heads and heads[-1][0] >= offset:
            heads.pop()
        heads.append((offset, timestamp_ms / 1000.0))

    def prune(self) -> None:
        """Drop the heads of runs wholly before the committed position (loop thread)."""
        for key, heads in self.heads.items():
            committed = self._committed(key)
            while committed is not None and len(heads) > 1 and heads[1][0] <= committed:
                heads.popleft()

    def statistics(self, key: TopicPartitionKey, handed_out: int, high: int) -> None:
        """From the client's statistics: `app_offset` and `hi_offset` of the partition."""
        self._fetched[key] = handed_out
        self._high[key] = high

    def forget(self, keys: set[TopicPartitionKey]) -> None:
        for key in keys:
            self.heads.pop(key, None)
            self._fetched.pop(key, None)
            self._high.pop(key, None)

    def detach(self) -> None:
        metrics.lag_clock.detach(self._worker)

    def due_times(self) -> dict[tuple[str, str, str], float]:
        """Per assigned partition, the due time of its oldest unprocessed record (CAUGHT_UP
        when there is none); absent when unknown. The scrape turns it into an age."""
        due: dict[tuple[str, str, str], float] = {}
        for key in list(self._assigned):
            oldest = self._oldest(key)
            if oldest is not None:
                topic, partition = key
                delay = tier_delay(topic) or 0
                due[self._worker, topic, str(partition)] = oldest and oldest + delay
        return due

    def _committed(self, key: TopicPartitionKey) -> int | None:
        tracked = self._offsets.partitions.get(key)
        return tracked.committed if tracked is not None else None

    def _oldest(self, key: TopicPartitionKey) -> float | None:
        heads = list(self.heads.get(key, ()))
        committed = self._committed(key)
        if committed is None and heads:
            committed = heads[0][0]  # nothing committed since assignment: the first fetched
        if committed is None:
            return None
        read = any(offset >= committed for offset, _ in heads)
        read = read or self._fetched.get(key, _UNKNOWN) > committed
        high = self._high.get(key, _UNKNOWN)
        if not read and high >= 0 and committed >= high:
            return CAUGHT_UP
        at_or_before = [stamp for offset, stamp in heads if offset <= committed]
        return at_or_before[-1] if read and at_or_before else None
