"""Settings of table maintenance (`vpipe tables`, the `<domain>-table-maintenance` workers).

The defaults and why are in docs/DEPLOYMENT.md, "Table maintenance".
"""

from __future__ import annotations

import attrs

from vpipe_core.config.fields import setting

MIN_VACUUM_RETENTION_HOURS = 168
"""Delta's documented minimum (7 days): a reader's snapshot or a writer's commit may still need a
file that long after it was removed from the table."""


@attrs.frozen
class TableSettings:
    check_interval_s: int = setting(
        "TABLES_CHECK_INTERVAL_SECONDS",
        900,
        min=1,
        max=86400,
        help="how often the maintenance worker reads each table's health and runs what is due",
    )
    target_file_mb: int = setting(
        "TABLES_TARGET_FILE_MB",
        128,
        min=1,
        max=1024,
        help="compaction writes files toward this size",
    )
    small_file_mb: int = setting(
        "TABLES_SMALL_FILE_MB",
        16,
        min=1,
        max=1024,
        help="files under this size count as small",
    )
    compact_min_small_files: int = setting(
        "TABLES_COMPACT_MIN_SMALL_FILES",
        40,
        min=2,
        max=100000,
        help="a partition is compacted once it holds this many small files",
    )
    compact_max_partitions: int = setting(
        "TABLES_COMPACT_MAX_PARTITIONS",
        8,
        min=1,
        max=10000,
        help="partitions compacted per table and pass (the worst first); the rest wait",
    )
    compact_max_tasks: int = setting(
        "TABLES_COMPACT_MAX_TASKS",
        1,
        min=1,
        max=64,
        help="parallel rewrite tasks of one compaction (1 leaves the other cores to writers)",
    )
    checkpoint_interval: int = setting(
        "TABLES_CHECKPOINT_INTERVAL",
        100,
        min=1,
        max=10000,
        help="commits between checkpoints (set on each table as delta.checkpointInterval)",
    )
    log_retention_hours: int = setting(
        "TABLES_LOG_RETENTION_HOURS",
        720,
        min=24,
        max=87600,
        help="log entries older than this (and older than a checkpoint) are removed: "
        "how far back time travel reaches (delta.logRetentionDuration)",
    )
    vacuum_retention_hours: int = setting(
        "TABLES_VACUUM_RETENTION_HOURS",
        MIN_VACUUM_RETENTION_HOURS,
        min=MIN_VACUUM_RETENTION_HOURS,
        max=87600,
        help="files removed from a table longer ago than this are deleted by vacuum "
        "(delta.deletedFileRetentionDuration; `vpipe tables vacuum --force` goes lower by hand)",
    )
    vacuum_interval_hours: int = setting(
        "TABLES_VACUUM_INTERVAL_HOURS",
        24,
        min=1,
        max=8760,
        help="hours between vacuums of a table (read from the table's own history)",
    )
    operation_timeout_s: int = setting(
        "TABLES_OPERATION_TIMEOUT_SECONDS",
        1800,
        min=10,
        max=86400,
        help="one maintenance operation on one table; on timeout its process is killed "
        "(nothing half-committed: the next pass starts again)",
    )

    @property
    def table_properties(self) -> dict[str, str]:
        """What every maintained table declares, so that other engines agree."""
        return {
            "delta.checkpointInterval": str(self.checkpoint_interval),
            "delta.logRetentionDuration": f"interval {self.log_retention_hours} hours",
            "delta.deletedFileRetentionDuration": f"interval {self.vacuum_retention_hours} hours",
            "delta.enableExpiredLogCleanup": "true",
        }
