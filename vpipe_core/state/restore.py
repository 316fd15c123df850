"""Reading changelog partitions from their beginning to their high watermark, with a consumer of
its own that is assigned the partitions (it never joins a group nor commits; confluent-kafka
only insists on a `group.id`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from vpipe_core.state.changelog import Entry, decode

RESTORE_TIMEOUT_S = 300.0
BATCH = 5000


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
    """The high watermark of each partition that holds anything."""
    ends = {}
    for partition in partitions:
        try:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout_s
            )
        except Exception as exc:
            raise RestoreError(
                f"cannot read the offsets of '{topic}' [{partition}]: {exc}"
            ) from exc
        if high > low:
            ends[partition] = high
    return ends


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
            if message.offset() + 1 >= ends.get(partition, 0):
                ends.pop(partition, None)
