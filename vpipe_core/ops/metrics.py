"""The core `vpipe_` metric catalogue, registered in one registry that `/metrics` serves.

Domains register their own metrics in `REGISTRY` too (runtime.md §10). Labels never carry ids.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

messages_consumed = Counter(
    "vpipe_messages_consumed_total", "Records consumed", ["worker", "topic"], registry=REGISTRY
)
messages_produced = Counter(
    "vpipe_messages_produced_total",
    "Records produced, by delivery result",
    ["worker", "topic", "result"],
    registry=REGISTRY,
)
message_outcomes = Counter(
    "vpipe_message_outcomes_total",
    "Handler outcomes",
    ["worker", "outcome", "category"],
    registry=REGISTRY,
)
processing_seconds = Histogram(
    "vpipe_processing_seconds", "Handler time per record or batch", ["worker"], registry=REGISTRY
)
consumer_lag = Gauge(
    "vpipe_consumer_lag",
    "Consumer lag from consumer statistics",
    ["worker", "topic", "partition"],
    registry=REGISTRY,
)
partition_commit = Gauge(
    "vpipe_partition_commit_timestamp_seconds",
    "When this instance last moved the partition's committed offset (or was assigned it)",
    ["worker", "topic", "partition"],
    registry=REGISTRY,
)
last_commit = Gauge(
    "vpipe_last_commit_timestamp_seconds",
    "When the worker last committed an offset that moved",
    ["worker"],
    registry=REGISTRY,
)
last_handled = Gauge(
    "vpipe_last_handled_timestamp_seconds",
    "When the worker last routed a handled record (done, retried or dead-lettered)",
    ["worker"],
    registry=REGISTRY,
)


DueTimes = Callable[[], dict[tuple[str, str, str], float]]


class LagClockCollector(Collector):
    """`vpipe_consumer_lag_seconds`, aged at scrape time: a loop stuck in a handler keeps its
    last measurement, and the lag of its unprocessed records keeps growing."""

    def __init__(self) -> None:
        self._sources: dict[str, DueTimes] = {}

    def attach(self, worker: str, due_times: DueTimes) -> None:
        """`due_times()`: per partition, the due time of its oldest unprocessed record (0:
        caught up), read at each scrape."""
        self._sources[worker] = due_times

    def detach(self, worker: str) -> None:
        self._sources.pop(worker, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "vpipe_consumer_lag_seconds",
            "Age of the partition's oldest unprocessed record (from its due time on retry tiers);"
            " 0 when caught up, absent when its record is not fetched yet",
            labels=["worker", "topic", "partition"],
        )
        now = time.time()
        for due_times in list(self._sources.values()):
            try:
                due = due_times()
            except RuntimeError as exc:  # the consumer closed under the scrape
                logging.getLogger("vpipe.metrics").debug("no lag", extra={"error": str(exc)})
                continue
            for labels, due_at in due.items():
                family.add_metric(list(labels), max(0.0, now - due_at) if due_at else 0.0)
        yield family


lag_clock = LagClockCollector()
REGISTRY.register(lag_clock)

fatal_delivery_errors = Counter(
    "vpipe_fatal_delivery_errors_total",
    "Outputs the broker refused for good (unknown topic, not authorised, too large): the worker"
    " stops without committing past them",
    ["worker", "topic"],
    registry=REGISTRY,
)
records_expired_unread = Counter(
    "vpipe_records_expired_unread_total",
    "Records deleted by the topic's retention before this group read them (found at assignment:"
    " the committed offset was below the partition's log start)",
    ["worker", "topic", "partition"],
    registry=REGISTRY,
)
committed_offset = Gauge(
    "vpipe_committed_offset",
    "Last committed offset",
    ["worker", "topic", "partition"],
    registry=REGISTRY,
)
assigned_partitions = Gauge(
    "vpipe_assigned_partitions", "Partitions assigned", ["worker"], registry=REGISTRY
)
broker_up = Gauge(
    "vpipe_broker_up", "1 when the broker answered recently", ["worker"], registry=REGISTRY
)
loop_last_progress = Gauge(
    "vpipe_loop_last_progress_timestamp_seconds",
    "Last processing-loop iteration",
    ["worker"],
    registry=REGISTRY,
)
poller_active = Gauge(
    "vpipe_poller_active",
    "1 while this poller holds its lease and publishes, 0 while it stands by",
    ["worker"],
    registry=REGISTRY,
)
poller_last_row = Gauge(
    "vpipe_poller_last_row_timestamp_seconds",
    "When the poller's source last returned a row",
    ["worker"],
    registry=REGISTRY,
)
poller_source_delay = Gauge(
    "vpipe_poller_source_delay_seconds",
    "At the last page with rows: now minus the ingestion (Event Hub: enqueued) time of its"
    " newest row",
    ["worker"],
    registry=REGISTRY,
)
inplace_retry_seconds = Gauge(
    "vpipe_inplace_retry_seconds",
    "How long an in-place retry has lasted",
    ["worker"],
    registry=REGISTRY,
)
in_flight = Gauge(
    "vpipe_in_flight", "Records consumed and not yet complete", ["worker"], registry=REGISTRY
)
retry_routed = Counter(
    "vpipe_retry_routed_total",
    "Records sent to a retry tier",
    ["domain", "tier", "category"],
    registry=REGISTRY,
)
retry_forwarded = Counter(
    "vpipe_retry_forwarded_total",
    "Records the scheduler redelivered",
    ["domain", "tier"],
    registry=REGISTRY,
)
retry_paused_partitions = Gauge(
    "vpipe_retry_paused_partitions",
    "Tier partitions waiting for their head",
    ["domain", "tier"],
    registry=REGISTRY,
)
retry_head_overdue = Gauge(
    "vpipe_retry_head_overdue_seconds",
    "How late the oldest due tier record is",
    ["domain", "tier"],
    registry=REGISTRY,
)
dlq_messages = Counter(
    "vpipe_dlq_messages_total",
    "Records sent to the DLQ",
    ["domain", "worker", "reason"],
    registry=REGISTRY,
)
dedup_hits = Counter(
    "vpipe_dedup_hits_total", "Duplicates dropped by a dedup window", ["worker"], registry=REGISTRY
)
state_restore_seconds = Histogram(
    "vpipe_state_restore_seconds",
    "Time to read the assigned partitions' entries back from a key store's changelog",
    ["worker"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
state_restored_entries = Counter(
    "vpipe_state_restored_entries_total",
    "Entries (younger than the window) read back from a key store's changelog on assignment",
    ["worker"],
    registry=REGISTRY,
)
plugin_runs = Counter(
    "vpipe_plugin_runs_total", "Plugin calls", ["plugin", "result"], registry=REGISTRY
)
plugin_errors = Counter(
    "vpipe_plugin_errors_total",
    "Plugin calls that raised or timed out",
    ["plugin"],
    registry=REGISTRY,
)
circuit_state = Gauge(
    "vpipe_circuit_state",
    "Circuit breaker state (0 closed, 1 open, 2 half-open)",
    ["name"],
    registry=REGISTRY,
)


def _table_gauge(name: str, documentation: str) -> Gauge:
    return Gauge(name, documentation, ["table"], registry=REGISTRY)


# table health, exported by the <domain>-table-maintenance workers (vpipe_core.tables)
table_files = _table_gauge("vpipe_table_files", "Data files of the table's current version")
table_small_files = _table_gauge("vpipe_table_small_files", "Data files under TABLES_SMALL_FILE_MB")
table_bytes = _table_gauge("vpipe_table_bytes", "Size of the table's current data files")
table_version = _table_gauge("vpipe_table_version", "The table's current version")
table_commits_since_checkpoint = _table_gauge(
    "vpipe_table_commits_since_checkpoint", "Commits after the last checkpoint"
)
table_checkpoint_interval = _table_gauge(
    "vpipe_table_checkpoint_interval_commits", "TABLES_CHECKPOINT_INTERVAL"
)
table_compaction_due_partitions = _table_gauge(
    "vpipe_table_compaction_due_partitions",
    "Partitions holding TABLES_COMPACT_MIN_SMALL_FILES small files or more",
)
table_vacuum_pending_files = _table_gauge(
    "vpipe_table_vacuum_pending_files",
    "Removed files older than the vacuum retention, still stored",
)
table_vacuum_interval = _table_gauge(
    "vpipe_table_vacuum_interval_seconds", "TABLES_VACUUM_INTERVAL_HOURS in seconds"
)
table_last_optimize = _table_gauge(
    "vpipe_table_last_optimize_timestamp_seconds", "Latest compaction known"
)
table_last_vacuum = _table_gauge("vpipe_table_last_vacuum_timestamp_seconds", "Latest vacuum known")
table_health_timestamp = _table_gauge(
    "vpipe_table_health_timestamp_seconds", "When the table's health was last read"
)
table_maintenance = Counter(
    "vpipe_table_maintenance_total",
    "Maintenance operations run, by outcome (ok, error); health: the table could not be read",
    ["table", "operation", "outcome"],
    registry=REGISTRY,
)

build_info = Gauge("vpipe_build_info", "Always 1", ["version", "environment"], registry=REGISTRY)


def forget_partition(worker: str, topic: str, partition: int) -> None:
    """Drop a revoked partition's gauges: its lag and offset now belong to another instance."""
    for gauge in (consumer_lag, committed_offset, partition_commit):
        with contextlib.suppress(KeyError):
            gauge.remove(worker, topic, str(partition))
