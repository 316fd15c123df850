"""Lag in time: per partition, the age of the oldest record this group has not committed past.

The fetch steps report the first record of each run of one partition they see (`saw`: once per
run, not per record). At each metrics flush, `measure` places the committed position among
those run heads: the head at or before it is the oldest unprocessed record (its timestamp is at
most one run older than the exact one, so the age errs on the high side). Caught up (the
committed position reached the high watermark of the last fetch) is 0; a committed position
whose record this consumer has not fetched yet leaves the series absent rather than guessed.
Retry tiers count from when the record fell due (its timestamp plus the tier's delay).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from confluent_kafka import TopicPartition

from vpipe_core.kafka.offsets import OffsetTracker, TopicPartitionKey
from vpipe_core.ops import metrics
from vpipe_core.retry.topics import tier_delay

CAUGHT_UP = 0.0
_UNKNOWN = -1001  # librdkafka's OFFSET_INVALID


class LagClock:
    def __init__(self, worker: str, consumer: Any, offsets: OffsetTracker) -> None:
        self._worker = worker
        self._consumer = consumer
        self._offsets = offsets
        self.heads: dict[TopicPartitionKey, deque[tuple[int, float]]] = {}

    def saw(self, key: TopicPartitionKey, offset: int, timestamp_ms: int) -> None:
        """The first record of a run of `key`; a partition seeked back starts over from it."""
        heads = self.heads.get(key)
        if heads is None:
            heads = self.heads[key] = deque()
        while heads and heads[-1][0] >= offset:
            heads.pop()
        heads.append((offset, timestamp_ms / 1000.0))

    def forget(self, keys: set[TopicPartitionKey]) -> None:
        for key in keys:
            self.heads.pop(key, None)

    def measure(self, assigned: set[TopicPartitionKey]) -> None:
        """Publish, per assigned partition, the due time of its oldest unprocessed record
        (CAUGHT_UP when there is none); the scrape turns it into an age."""
        due: dict[tuple[str, str, str], float] = {}
        for key in assigned:
            oldest = self._oldest(key)
            if oldest is not None:
                topic, partition = key
                delay = tier_delay(topic) or 0
                due[self._worker, topic, str(partition)] = oldest and oldest + delay
        metrics.lag_clock.publish(self._worker, due)

    def _oldest(self, key: TopicPartitionKey) -> float | None:
        heads = self.heads.get(key)
        tracked = self._offsets.partitions.get(key)
        committed = tracked.committed if tracked is not None else None
        if committed is None and heads:
            committed = heads[0][0]  # nothing committed since assignment: the first fetched
        if committed is None:
            return None
        partition = TopicPartition(*key)
        _low, high = self._consumer.get_watermark_offsets(partition, cached=True)
        if high >= 0 and committed >= high:
            return CAUGHT_UP
        if not heads:
            return None
        while len(heads) > 1 and heads[1][0] <= committed:
            heads.popleft()
        fetched = self._consumer.position([partition])[0].offset
        if heads[0][0] <= committed and (fetched == _UNKNOWN or committed < fetched):
            return heads[0][1]
        return None
