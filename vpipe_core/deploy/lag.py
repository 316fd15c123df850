"""Consumer lag per group and partition, from the figures each worker instance exports.

`vpipe_consumer_lag` comes from the consumer's own statistics (high watermark seen on fetch minus
the committed offset), `vpipe_committed_offset` from its commits; nothing asks the broker. The
`worker` label is the consumer group unless VPIPE_CONSUMER_GROUP overrides it.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

LAG = "vpipe_consumer_lag"
COMMITTED = "vpipe_committed_offset"


@attrs.frozen
class PartitionLag:
    group: str
    topic: str
    partition: int
    lag: int | None
    committed: int | None
    instance: str  # the worker id scraped, e.g. acme-download-2


def partition_lags(metrics_text: str, instance: str) -> list[PartitionLag]:
    """One row per (group, topic, partition) the instance reports, sorted."""
    from prometheus_client.parser import text_string_to_metric_families

    figures: dict[tuple[str, str, int], dict[str, int]] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name not in (LAG, COMMITTED):
            continue
        for sample in family.samples:
            labels = sample.labels
            key = (labels["worker"], labels["topic"], int(labels["partition"]))
            figures.setdefault(key, {})[family.name] = int(sample.value)
    return [
        PartitionLag(group, topic, part, values.get(LAG), values.get(COMMITTED), instance)
        for (group, topic, part), values in sorted(figures.items())
    ]


def total_by_group(rows: Iterable[PartitionLag]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in rows:
        totals[row.group] = totals.get(row.group, 0) + (row.lag or 0)
    return dict(sorted(totals.items()))
