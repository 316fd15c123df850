"""`vpipe status`'s lag in seconds and STALLED flag, read from an instance's /metrics text."""

from __future__ import annotations

from vpipe_core.deploy.lag import PartitionLag, partition_lags, with_timing

NOW = 10_000.0
METRICS = """\
# TYPE vpipe_consumer_lag_seconds gauge
vpipe_consumer_lag_seconds{partition="0",topic="t",worker="g"} 420.0
vpipe_consumer_lag_seconds{partition="1",topic="t",worker="g"} 0.0
vpipe_consumer_lag_seconds{partition="2",topic="t",worker="g"} 3.0
# TYPE vpipe_partition_commit_timestamp_seconds gauge
vpipe_partition_commit_timestamp_seconds{partition="0",topic="t",worker="g"} 9000.0
vpipe_partition_commit_timestamp_seconds{partition="1",topic="t",worker="g"} 1000.0
vpipe_partition_commit_timestamp_seconds{partition="2",topic="t",worker="g"} 9999.0
"""


def test_waiting_records_without_a_moving_commit_are_stalled_and_idle_ones_are_not():
    rows = partition_lags(METRICS, "g-1", now=NOW)
    assert [(row.partition, row.lag_seconds, row.stalled) for row in rows] == [
        (0, 420.0, True),  # records waiting, no commit for 1000 s
        (1, 0.0, False),  # caught up: an old commit is just idleness
        (2, 3.0, False),  # committing
    ]


def test_broker_rows_get_the_timing_the_instances_report():
    broker = [PartitionLag("g", "t", 0, 5, 100, "g-1@h"), PartitionLag("g", "t", 7, 0, 1, "-")]
    merged = with_timing(broker, partition_lags(METRICS, "g-1", now=NOW))
    assert [(row.partition, row.lag_seconds, row.stalled) for row in merged] == [
        (0, 420.0, True),
        (7, None, False),
    ]
