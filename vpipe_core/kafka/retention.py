"""Records that retention deleted before the group read them, found when a partition is assigned.

A group's committed offset below the partition's log start means Kafka deleted records this
group never processed (the worker was down, or behind, for longer than the topic's retention).
The consumer then resumes at the log start (`KAFKA_AUTO_OFFSET_RESET`), so nothing else would
show the loss: it is logged as an error naming the offsets and counted in
`vpipe_records_expired_unread_total`.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
from confluent_kafka import TopicPartition

log = logging.getLogger("vpipe.loop")

BROKER_TIMEOUT_S = 5.0


@attrs.frozen
class ExpiredUnread:
    topic: str
    partition: int
    committed: int
    log_start: int

    @property
    def count(self) -> int:
        return self.log_start - self.committed


def expired_unread(consumer: Any, partitions: list[TopicPartition]) -> list[ExpiredUnread]:
    """The assigned partitions whose committed offset lies below their log start."""
    if not partitions:
        return []
    try:
        committed = consumer.committed(
            [TopicPartition(tp.topic, tp.partition) for tp in partitions], timeout=BROKER_TIMEOUT_S
        )
    except Exception as exc:  # the check must never stop an assignment
        log.warning("could not read committed offsets at assignment", extra={"error": str(exc)})
        return []
    found = []
    for tp in committed:
        if tp.offset < 0:
            continue  # nothing committed yet: a new group starts where KAFKA_AUTO_OFFSET_RESET says
        log_start = _log_start(consumer, tp)
        if log_start is not None and tp.offset < log_start:
            found.append(ExpiredUnread(tp.topic, tp.partition, tp.offset, log_start))
    return found


def _log_start(consumer: Any, tp: TopicPartition) -> int | None:
    try:
        low, _high = consumer.get_watermark_offsets(
            TopicPartition(tp.topic, tp.partition), timeout=BROKER_TIMEOUT_S, cached=False
        )
    except Exception as exc:
        log.warning(
            "could not read the log start at assignment",
            extra={"topic": tp.topic, "partition": tp.partition, "error": str(exc)},
        )
        return None
    return int(low)


def report(worker: str, found: list[ExpiredUnread]) -> None:
    from vpipe_core.ops import metrics

    for gap in found:
        metrics.records_expired_unread.labels(worker, gap.topic, str(gap.partition)).inc(gap.count)
        log.error(
            f"{gap.count} record(s) of {gap.topic}[{gap.partition}] were deleted by retention "
            "before this group read them",
            extra={
                "topic": gap.topic,
                "partition": gap.partition,
                "committed_offset": gap.committed,
                "log_start_offset": gap.log_start,
                "fix": "raise the topic's retention or the worker's capacity; replay the lost "
                "range from the source (backfill) if it matters",
            },
        )
