"""Committing: the routed prefix of each partition, once a barrier proves every output
produced before it acknowledged (runtime.md §4)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from vpipe_core.kafka.offsets import OffsetTracker, TopicPartitionKey
from vpipe_core.kafka.outbox import Outbox
from vpipe_core.ops import metrics

log = logging.getLogger("vpipe.loop")

COMMIT_INTERVAL_S = 0.5
BARRIER_TIMEOUT_S = 5.0

OnCommit = Callable[[dict[TopicPartitionKey, int]], None]


class Commits:
    def __init__(
        self, worker: str, consumer: Any, outbox: Outbox, on_commit: OnCommit | None
    ) -> None:
        self._worker = worker
        self._consumer = consumer
        self._outbox = outbox
        self.offsets = OffsetTracker()
        self.due_at = 0.0  # monotonic time of the next periodic commit
        # Optional handler hook: everything before these positions is acknowledged and committed
        # (e.g. make dedup marks or checkpoints durable only now).
        self._on_commit = on_commit

    def commit(
        self,
        keys: set[TopicPartitionKey] | None = None,
        sync: bool = False,
        barrier_timeout_s: float = BARRIER_TIMEOUT_S,
    ) -> None:
        """Commit the routed prefix, after proving that its outputs are all acknowledged."""
        self.due_at = time.monotonic() + COMMIT_INTERVAL_S
        positions = self.offsets.positions(keys)
        if not positions or not self._outbox.barrier(barrier_timeout_s):
            return  # positions stay pending; the next commit tries again
        offsets = [TopicPartition(topic, part, pos) for (topic, part), pos in positions.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=not sync)
        except KafkaException as exc:
            log.warning("commit failed; records will be redelivered", extra={"error": str(exc)})
            return
        self.offsets.committed(positions)
        now = time.time()
        for (topic, part), position in positions.items():
            metrics.committed_offset.labels(self._worker, topic, str(part)).set(position)
            metrics.partition_commit.labels(self._worker, topic, str(part)).set(now)
        metrics.last_commit.labels(self._worker).set(now)
        if self._on_commit is not None:
            self._on_commit(positions)
