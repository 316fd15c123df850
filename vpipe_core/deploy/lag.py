"""Consumer lag per group and partition, from the figures each worker instance exports.

`vpipe_consumer_lag` comes from the consumer's own statistics (high watermark seen on fetch minus
the committed offset), `vpipe_committed_offset` from its commits, `vpipe_consumer_lag_seconds` and
`vpipe_partition_commit_timestamp_seconds` from its lag clock; nothing asks the broker. The
`worker` label is the consumer group unless VPIPE_CONSUMER_GROUP overrides it.

A partition is stalled as the alert VpipePartitionNoProgress sees it: records waiting (lag in
seconds above 0) and no commit that moved for STALL_AFTER_S.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import attrs

LAG = "vpipe_consumer_lag"
COMMITTED = "vpipe_committed_offset"
LAG_SECONDS = "vpipe_consumer_lag_seconds"
COMMITTED_AT = "vpipe_partition_commit_timestamp_seconds"
STALL_AFTER_S = 300.0  # deploy/prometheus/vpipe-alerts.yml, VpipePartitionNoProgress


@attrs.frozen
class PartitionLag:
    group: str
    topic: str
    partition: int
    lag: int | None
    committed: int | None
    instance: str  # the worker id scraped, e.g. acme-download-2
    lag_seconds: float | None = None  # age of the oldest unprocessed record, 0 caught up
    stalled: bool = False


def partition_lags(
    metrics_text: str, instance: str, now: float | None = None
) -> list[PartitionLag]:
    """One row per (group, topic, partition) the instance reports, sorted."""
    from prometheus_client.parser import text_string_to_metric_families

    figures: dict[tuple[str, str, int], dict[str, float]] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name not in (LAG, COMMITTED, LAG_SECONDS, COMMITTED_AT):
            continue
        for sample in family.samples:
            labels = sample.labels
            key = (labels["worker"], labels["topic"], int(labels["partition"]))
            figures.setdefault(key, {})[family.name] = sample.value
    now = time.time() if now is None else now
    return [
        PartitionLag(
            group,
            topic,
            part,
            _whole(values.get(LAG)),
            _whole(values.get(COMMITTED)),
            instance,
            values.get(LAG_SECONDS),
            _stalled(values, now),
        )
        for (group, topic, part), values in sorted(figures.items())
    ]


def with_timing(
    rows: Iterable[PartitionLag], reported: Iterable[PartitionLag]
) -> list[PartitionLag]:
    """`rows` (e.g. the broker's) with the lag in seconds and stall flag the instances report."""
    timing = {(row.group, row.topic, row.partition): row for row in reported}
    enriched = []
    for row in rows:
        known = timing.get((row.group, row.topic, row.partition))
        if known is not None:
            row = attrs.evolve(row, lag_seconds=known.lag_seconds, stalled=known.stalled)
        enriched.append(row)
    return enriched


def _whole(value: float | None) -> int | None:
    return None if value is None else int(value)


def _stalled(values: dict[str, float], now: float) -> bool:
    waiting = values.get(LAG_SECONDS, 0.0) > 0
    committed_at = values.get(COMMITTED_AT)
    return waiting and committed_at is not None and now - committed_at > STALL_AFTER_S


def total_by_group(rows: Iterable[PartitionLag]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in rows:
        totals[row.group] = totals.get(row.group, 0) + (row.lag or 0)
    return dict(sorted(totals.items()))
