"""Helpers for tests of table writers: read Delta tables, wait for rows, and leave a consumer
group in the state a crash between the Delta commit and the Kafka commit leaves behind."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Rows = list[dict[str, Any]]


def table_rows(path: Path | str) -> Rows:
    """Every row of the table; [] while it does not exist yet."""
    from deltalake import DeltaTable

    try:
        return DeltaTable(str(path)).to_pyarrow_table().to_pylist()
    except Exception:
        return []


def wait_rows(path: Path | str, count: int, timeout_s: float = 60) -> Rows:
    """The table's rows once there are at least `count` (or whatever is there at the deadline)."""
    return wait_until(path, lambda rows: len(rows) >= count, timeout_s)


def wait_until(path: Path | str, check: Callable[[Rows], bool], timeout_s: float = 60) -> Rows:
    """The table's rows once `check(rows)` holds (or whatever is there at the deadline)."""
    deadline = time.monotonic() + timeout_s
    rows = table_rows(path)
    while not check(rows) and time.monotonic() < deadline:
        time.sleep(0.5)
        rows = table_rows(path)
    return rows


def merged_source_rows(path: Path | str) -> int:
    """Rows every MERGE commit of the table received: grows when a record is written again."""
    from deltalake import DeltaTable

    history = DeltaTable(str(path)).history()
    return sum(
        int(commit["operationMetrics"]["num_source_rows"])
        for commit in history
        if commit["operation"] == "MERGE"
    )


def rewind_group(bootstrap: str, group: str, topic: str, partitions: int = 3) -> None:
    """The state a crash between the Delta commit and the Kafka commit leaves behind: the
    group's committed offsets back at 0 (committed as a member of the group)."""
    from confluent_kafka import Consumer, TopicPartition

    from vpipe_testing.brokers import session_timeout_ms

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "session.timeout.ms": session_timeout_ms(),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",  # as the workers
        }
    )
    assigned: list[Any] = []
    consumer.subscribe([topic], on_assign=lambda _c, parts: assigned.extend(parts))
    deadline = time.monotonic() + 60
    try:
        while len(assigned) < partitions and time.monotonic() < deadline:
            consumer.poll(0.2)
        offsets = [TopicPartition(topic, p, 0) for p in range(partitions)]
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def wait_committed(bootstrap: str, group: str, topic: str, timeout_s: float = 60) -> bool:
    """True once `group` has committed every partition of `topic` up to its end (all records
    consumed and their outcomes routed); False at the deadline. Does not join the group."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        wanted = [TopicPartition(topic, p) for p in partitions]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            marks = [consumer.get_watermark_offsets(tp, timeout=10) for tp in wanted]
            committed = [tp.offset for tp in consumer.committed(wanted, timeout=10)]
            # nothing committed (a negative offset) is only done for a partition with no records
            if all(
                (c if c >= 0 else low) >= high
                for c, (low, high) in zip(committed, marks, strict=True)
            ):
                return True
            time.sleep(0.3)
        return False
    finally:
        consumer.close()
