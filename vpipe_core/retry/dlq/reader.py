"""Reading `<domain>.dlq` from the tool group's committed position (purged records are skipped)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from vpipe_core.record import Record
from vpipe_core.retry import envelope as env
from vpipe_core.retry.topics import dlq_topic
from vpipe_core.values.timestamps import parse_iso_utc


def tool_group(domain: str) -> str:
    return f"{domain}-dlq-tool"


class DlqEntry(Record):
    """A DLQ record with its envelope fields at hand."""

    @property
    def ref(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def failed_at(self) -> datetime | None:
        text = self.header(env.FIRST_FAILED_AT)
        try:
            return parse_iso_utc(text) if text else None
        except ValueError:
            return None

    @property
    def replay_count(self) -> int:
        text = self.header(env.REPLAY_COUNT) or "0"
        return int(text) if text.isdigit() else 0


@attrs.frozen
class DlqFilter:
    category: str | None = None
    reason: str | None = None
    origin_topic: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, entry: DlqEntry) -> bool:
        checks = (
            (self.category, entry.header(env.CATEGORY)),
            (self.reason, entry.header(env.DEAD_REASON)),
            (self.origin_topic, entry.header(env.ORIGIN_TOPIC)),
        )
        if any(wanted is not None and wanted != actual for wanted, actual in checks):
            return False
        failed_at = entry.failed_at
        if self.since and (failed_at is None or failed_at < self.since):
            return False
        return not (self.until and (failed_at is None or failed_at > self.until))


def read_dlq(
    client_config: dict[str, Any],
    domain: str,
    *,
    idle_s: float = 3.0,
    timeout_s: float = 120.0,
    on_record: Callable[[int], None] | None = None,
) -> list[DlqEntry]:
    """Every DLQ record after the tool group's committed offsets. Stops when nothing arrived for
    `idle_s` (broker watermarks are not relied on)."""
    consumer = Consumer(
        {
            **client_config,
            "group.id": tool_group(domain),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.assign(_start_positions(consumer, dlq_topic(domain)))
        return _drain(consumer, idle_s, timeout_s, on_record)
    finally:
        consumer.close()


def _start_positions(consumer: Consumer, topic: str) -> list[TopicPartition]:
    metadata = consumer.list_topics(topic, timeout=10)
    topic_meta = metadata.topics.get(topic)
    if topic_meta is None or topic_meta.error is not None or not topic_meta.partitions:
        raise LookupError(f"topic {topic} does not exist; run `vpipe topics create`")
    partitions = [TopicPartition(topic, p) for p in sorted(topic_meta.partitions)]
    committed = consumer.committed(partitions, timeout=10)
    return [
        TopicPartition(topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING)
        for tp in committed
    ]


def _drain(
    consumer: Consumer, idle_s: float, timeout_s: float, on_record: Callable[[int], None] | None
) -> list[DlqEntry]:
    entries: list[DlqEntry] = []
    deadline = time.monotonic() + timeout_s
    last_seen = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - last_seen < idle_s:
        for message in consumer.consume(500, 0.2):
            if message.error() is not None:
                continue
            entries.append(DlqEntry.from_message(message))
            last_seen = time.monotonic()
            if on_record:
                on_record(len(entries))
    return sorted(entries, key=lambda e: (e.partition, e.offset))
