"""Small Kafka helpers for tests: create topics, produce, read everything from a topic."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from vpipe_core.kafka.topics import POLLER_CURSORS, TopicDecl, create_topics


def ensure_topics(bootstrap: str, names: Iterable[str], partitions: int = 3) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    results = create_topics(admin, [TopicDecl(name, partitions, 24) for name in names])
    failed = {
        name: result for name, result in results.items() if result not in ("created", "exists")
    }
    if failed:
        raise RuntimeError(f"could not create topics: {failed}")
    wait_listed(admin, list(results))


def produce(
    bootstrap: str,
    topic: str,
    values: Iterable[bytes | None],
    key: bytes | None = None,
    headers: list[tuple[str, bytes]] | None = None,
) -> int:
    return produce_keyed(bootstrap, topic, ((key, value) for value in values), headers)


def produce_keyed(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes | None]],
    headers: list[tuple[str, bytes]] | None = None,
) -> int:
    """Produce (key, value) pairs, each keyed as a poller keys its events (by the dedup key)."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "message.max.bytes": 10 * 1024 * 1024,
        }
    )
    count = 0
    for key, value in records:
        producer.produce(topic, value, key, headers=list(headers or []))
        producer.poll(0)
        count += 1
    remaining = producer.flush(30)
    if remaining:
        raise RuntimeError(f"{remaining} records not acknowledged by {bootstrap}")
    return count


def read_all(
    bootstrap: str,
    topic: str,
    *,
    expect: int | None = None,
    idle_s: float = 2.0,
    timeout_s: float = 60.0,
    until: Callable[[list[Any]], bool] | None = None,
) -> list[Any]:
    """Every record of `topic` from the start: until `expect` records arrived, `until(messages)`
    is true, or (with neither) nothing new came for `idle_s`. Partitions are assigned directly
    (no group join). Returns confluent Messages."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    messages: list[Any] = []
    deadline = time.monotonic() + timeout_s
    last_new = time.monotonic()
    try:
        while time.monotonic() < deadline:
            if expect is not None and len(messages) >= expect:
                break
            if until is not None and until(messages):
                break
            if expect is None and until is None and time.monotonic() - last_new > idle_s:
                break
            fresh = [m for m in consumer.consume(500, 0.2) if m.error() is None]
            if fresh:
                messages.extend(fresh)
                last_new = time.monotonic()
    finally:
        consumer.close()
    return messages


def commit_offsets(bootstrap: str, group: str, offsets: list[TopicPartition]) -> None:
    """Commit `offsets` for `group` as a group member would, retrying while a new broker's
    group coordinator is still loading (Kafka answers NOT_COORDINATOR for a few seconds)."""
    from confluent_kafka import KafkaException

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                consumer.commit(offsets=offsets, asynchronous=False)
                return
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        consumer.close()


def ensure_cursor_topic(bootstrap: str) -> None:
    """The pollers' cursor topic as `vpipe topics create` makes it: one partition, compacted."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    results = create_topics(admin, [TopicDecl(POLLER_CURSORS, 1, 24, cleanup_policy="compact")])
    if results[POLLER_CURSORS] not in ("created", "exists"):
        raise RuntimeError(f"cannot create {POLLER_CURSORS}: {results[POLLER_CURSORS]}")
    wait_listed(admin, [POLLER_CURSORS])


def wait_listed(admin: AdminClient, names: list[str], timeout_s: float = 30.0) -> None:
    """Until the broker's metadata lists every topic of `names`: Apache Kafka answers a create
    before every listener sees the topic, and a worker started at once would call it missing."""
    deadline = time.monotonic() + timeout_s
    while True:
        listed = admin.list_topics(timeout=10).topics
        missing = [name for name in names if name not in listed]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"topics created but not listed after {timeout_s:.0f} s: {missing}")
        time.sleep(0.2)


def stored_cursor(bootstrap: str, key: str) -> dict[str, Any] | None:
    """The position a poller stored under `key` (`<worker><suffix>`), None before its first."""
    from vpipe_core.eventsource.cursor import CursorStore

    store = CursorStore({"bootstrap.servers": bootstrap}, key, "", Path("/nonexistent/cursor"))
    stored = store.load()
    return None if stored is None else stored.state
