"""Replaying DLQ records to their origin topic, and purging handled ones."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs
from confluent_kafka import Consumer, TopicPartition

from vpipe_core.lineage.traceparent import with_child
from vpipe_core.retry import envelope as env
from vpipe_core.retry.dlq.reader import DlqEntry, tool_group
from vpipe_core.retry.topics import dlq_topic

audit = logging.getLogger("vpipe.audit.dlq")


@attrs.frozen
class ReplayPlan:
    to_replay: list[DlqEntry]
    refused: list[tuple[DlqEntry, str]]


def plan_replay(entries: Iterable[DlqEntry], max_replays: int, force: bool) -> ReplayPlan:
    """Which entries may go back: not past `max_replays` (unless forced), with an origin topic."""
    to_replay: list[DlqEntry] = []
    refused: list[tuple[DlqEntry, str]] = []
    for entry in entries:
        if not entry.header(env.ORIGIN_TOPIC):
            refused.append((entry, "no vpipe_origin_topic header"))
        elif entry.replay_count >= max_replays and not force:
            refused.append(
                (
                    entry,
                    f"already replayed {entry.replay_count} times (DLQ_MAX_REPLAYS="
                    f"{max_replays}); fix the cause, or use --force",
                )
            )
        else:
            to_replay.append(entry)
    return ReplayPlan(to_replay, refused)


def replay_headers(entry: DlqEntry) -> list[tuple[str, bytes]]:
    """Original headers without the failure envelope, with the replay counter incremented."""
    kept = [
        (k, v)
        for k, v in env.without_envelope(entry.headers)
        if k not in (env.REPLAY_COUNT, env.REPLAY)
    ]
    count = str(entry.replay_count + 1).encode()
    return [*with_child(kept), (env.REPLAY_COUNT, count), (env.REPLAY, b"1")]


def replay(
    producer: Any,
    entries: Sequence[DlqEntry],
    domain: str,
    on_done: Callable[[], None] | None = None,
) -> int:
    """Produce each entry's original key and value to its origin topic; returns how many were
    acknowledged. Raises RuntimeError when any send failed."""
    errors: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(err.str())
        if on_done:
            on_done()

    for entry in entries:
        origin = entry.header(env.ORIGIN_TOPIC) or ""
        producer.produce(
            origin, entry.value, entry.key, headers=replay_headers(entry), on_delivery=delivered
        )
        producer.poll(0)
        audit.info(
            "dlq record replayed",
            extra={
                "domain": domain,
                "dlq_ref": entry.ref,
                "origin_topic": origin,
                "replay_count": entry.replay_count + 1,
                "reason": entry.header(env.DEAD_REASON),
            },
        )
    remaining = producer.flush(30)
    if errors or remaining:
        raise RuntimeError(f"{len(errors) + remaining} replays not acknowledged: {errors[:3]}")
    return len(entries)


def purge_positions(
    all_entries: Sequence[DlqEntry], selected: Iterable[DlqEntry]
) -> dict[int, int]:
    """Per partition, the offset to commit so that the selected records are skipped from now on.

    Only a contiguous run of selected records from the partition's first unpurged record can be
    purged (a commit cannot skip a record in the middle)."""
    chosen = {(e.partition, e.offset) for e in selected}
    positions: dict[int, int] = {}
    blocked: set[int] = set()
    for entry in all_entries:  # sorted by partition, offset
        if entry.partition in blocked:
            continue
        if (entry.partition, entry.offset) in chosen:
            positions[entry.partition] = entry.offset + 1
        else:
            blocked.add(entry.partition)
    return positions


def commit_purge(client_config: dict[str, Any], domain: str, positions: dict[int, int]) -> None:
    if not positions:
        return
    consumer = Consumer(
        {**client_config, "group.id": tool_group(domain), "enable.auto.commit": False}
    )
    try:
        offsets = [TopicPartition(dlq_topic(domain), p, o) for p, o in sorted(positions.items())]
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()
    audit.info("dlq purged", extra={"domain": domain, "positions": positions})
