"""Fetching records: the subscription's assigned partitions, partitions seeked back and paused
until a record is due again, and flow control (pausing everything while handlers are busy)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from confluent_kafka import KafkaError, TopicPartition

from vpipe_core.context import WorkerContext
from vpipe_core.kafka.offsets import TopicPartitionKey
from vpipe_core.kafka.outbox import FATAL_TOPIC_ERRORS, FatalConfigError
from vpipe_core.loop.lag import LagClock
from vpipe_core.ops import metrics
from vpipe_core.record import Record
from vpipe_core.retry.topics import tier_delay

log = logging.getLogger("vpipe.loop")

FETCH_MAX = 500
POLL_TIMEOUT_S = 0.2


def partition_key(record: Record) -> TopicPartitionKey:
    return (record.topic, record.partition)


class Consume:
    def __init__(
        self,
        ctx: WorkerContext,
        consumer: Any,
        topics: list[str],
        lag: LagClock,
        assigned: set[TopicPartitionKey],
    ) -> None:
        self._ctx = ctx
        self.consumer = consumer
        self.topics = topics
        self.assigned = assigned  # shared with the lag clock: changed in place only
        # Partitions seeked back to a record: fetched records from that offset on are stale.
        self.rewound: dict[TopicPartitionKey, int] = {}
        self.paused_until: dict[TopicPartitionKey, float] = {}
        self._flow_paused = False
        self.consumed: dict[str, int] = {}  # per topic, since the last metrics flush
        self.lag = lag
        self.drained = False  # the last fetch came back short: the client held nothing more

    def fetch(self, timeout_s: float) -> list[Any]:
        self._resume_due()
        messages: list[Any] = self.consumer.consume(FETCH_MAX, timeout_s)
        self.drained = len(messages) < FETCH_MAX
        return messages

    def records(self, messages: list[Any]) -> Iterator[Record]:
        """Fetched messages as records, skipping errors and records of rewound partitions."""
        consumed, saw, run = self.consumed, self.lag.saw, ("", -1)
        for message in messages:
            if message.error() is not None:
                self.on_error(message.error())
                continue
            record = Record.from_message(message)
            if self.rewound and self.is_rewound(record):
                continue
            consumed[record.topic] = consumed.get(record.topic, 0) + 1
            if record.partition != run[1] or record.topic != run[0]:
                run = partition_key(record)
                saw(run, record.offset, message.timestamp()[1])
            yield record

    def on_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._PARTITION_EOF:
            return
        if error.code() in FATAL_TOPIC_ERRORS:
            raise FatalConfigError(f"cannot consume: {error.str()}; run `vpipe topics create`")
        if error.code() == KafkaError.INVALID_SESSION_TIMEOUT:
            raise FatalConfigError(
                f"KAFKA_SESSION_TIMEOUT_MS={self._ctx.settings.kafka_session_timeout_ms} is "
                f"refused by the broker ({error.str()}): Kafka accepts its "
                "group.min.session.timeout.ms to group.max.session.timeout.ms (6000 to 1800000 "
                "by default)"
            )
        log.warning("consumer error", extra={"error": error.str()})

    # -- seeking back, pausing, resuming ----------------------------------------------------

    def rewind(self, record: Record, delay_s: float) -> None:
        """Leave `record` unconsumed: seek its partition back to it and pause until due."""
        key = partition_key(record)
        self.rewound[key] = min(record.offset, self.rewound.get(key, record.offset))
        self.paused_until[key] = time.monotonic() + delay_s
        partition = TopicPartition(record.topic, record.partition, record.offset)
        self.consumer.pause([partition])
        self.consumer.seek(partition)
        self._report_paused()

    def is_rewound(self, record: Record) -> bool:
        offset = self.rewound.get(partition_key(record))
        return offset is not None and record.offset >= offset

    def _resume_due(self) -> None:
        if not self.paused_until:
            return
        now = time.monotonic()
        due = [key for key, until in self.paused_until.items() if until <= now]
        for key in due:
            del self.paused_until[key]
            self.rewound.pop(key, None)
            if not self._flow_paused:
                self.consumer.resume([TopicPartition(*key)])
        if due:
            self._report_paused()

    def _report_paused(self) -> None:
        """The retry scheduler's partitions waiting for their head record, per tier."""
        if not self._ctx.spec.consumes_retry_tiers:
            return
        waiting = dict.fromkeys(self.topics, 0)
        for topic, _ in self.paused_until:
            waiting[topic] = waiting.get(topic, 0) + 1
        for topic, count in waiting.items():
            tier = f"{tier_delay(topic) or '?'}s"
            metrics.retry_paused_partitions.labels(self._ctx.domain, tier).set(count)

    def throttle(self, in_flight: int, limit: int) -> None:
        """Pause fetching while `in_flight` reaches twice `limit`; resume at `limit`."""
        if not self._flow_paused and in_flight >= 2 * limit:
            self._flow_paused = True
            self.pause_all()
        elif self._flow_paused and in_flight <= limit:
            self._flow_paused = False
            active = [key for key in self.assigned if key not in self.paused_until]
            self.consumer.resume([TopicPartition(*key) for key in active])

    def pause_all(self) -> None:
        self.consumer.pause([TopicPartition(*key) for key in self.assigned])

    # -- assignment -------------------------------------------------------------------------

    def assign(self, keys: set[TopicPartitionKey]) -> None:
        self.assigned |= keys
        self._forget(keys)

    def release(self, keys: set[TopicPartitionKey]) -> None:
        self.assigned -= keys
        self._forget(keys)

    def _forget(self, keys: set[TopicPartitionKey]) -> None:
        self.lag.forget(keys)
        for key in keys:
            self.rewound.pop(key, None)
            self.paused_until.pop(key, None)
