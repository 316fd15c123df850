"""Reading changelog partitions from their beginning to their end, with a consumer of its own
that is assigned the partitions (it never joins a group nor commits; confluent-kafka only insists
on a `group.id`).

The end is the end-of-partition event, not the high watermark: the memory-only test broker
answers a high watermark of the last record batch's first offset + 1, which stops short of a
batch of several entries. The watermarks only tell which partitions hold anything."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from vpipe_core.state.changelog import Entry, decode

RESTORE_TIMEOUT_S = 300.0
BATCH = 5000
_RETRY_S = 0.2
# Answers that a moment later turn into offsets (a new topic, a leader change); confluent-kafka
# does not flag them retriable here.
_NO_LEADER_YET = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
    }
)


class RestoreError(Exception):
    """A changelog partition could not be read to its end."""


Apply = Callable[[int, bytes, Entry | None], None]  # partition, key, entry (None: tombstone)


def read_partitions(
    config: dict[str, Any],
    topic: str,
    partitions: Iterable[int],
    apply: Apply,
    timeout_s: float = RESTORE_TIMEOUT_S,
) -> None:
    """Hand each entry of `topic`'s `partitions`, oldest first, to `apply`."""
    consumer = Consumer(
        {
            **config,
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        ends = _ends(consumer, topic, partitions, timeout_s)
        if ends:
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
            _read(consumer, topic, ends, apply, time.monotonic() + timeout_s)
    finally:
        consumer.close()


def _ends(consumer: Any, topic: str, partitions: Iterable[int], timeout_s: float) -> dict[int, int]:
    """The partitions that hold anything (with their high watermark, a lower bound of the end)."""
    deadline = time.monotonic() + timeout_s
    ends = {}
    for partition in partitions:
        low, high = _watermarks(consumer, TopicPartition(topic, partition), deadline)
        if high > low:
            ends[partition] = high
    return ends


def _watermarks(consumer: Any, partition: TopicPartition, deadline: float) -> tuple[int, int]:
    """Asked again while the broker answers with a retriable error (no leader yet, a leader
    change), until the deadline."""
    while True:
        try:
            low, high = consumer.get_watermark_offsets(partition, timeout=10.0)
            return int(low), int(high)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            retriable = isinstance(error, KafkaError) and (
                error.retriable() or error.code() in _NO_LEADER_YET
            )
            if not retriable or time.monotonic() > deadline:
                raise RestoreError(
                    f"cannot read the offsets of '{partition.topic}' [{partition.partition}]: {exc}"
                ) from exc
            time.sleep(_RETRY_S)


def _read(consumer: Any, topic: str, ends: dict[int, int], apply: Apply, deadline: float) -> None:
    while ends:
        if time.monotonic() > deadline:
            raise RestoreError(
                f"changelog '{topic}' partitions {sorted(ends)} not read to their end in time; "
                "check the broker"
            )
        for message in consumer.consume(BATCH, 1.0):
            partition = message.partition()
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    ends.pop(partition, None)
                    continue
                raise RestoreError(f"reading changelog '{topic}' [{partition}]: {error.str()}")
            value = message.value()
            apply(partition, message.key(), None if value is None else decode(value))
